"""The settings refuse to start half-configured, and production passes `check --deploy`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STRONG_KEY = "k" * 20 + "-this-is-a-long-random-test-secret-key-0123456789"


def run_manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(
            ("DJANGO_", "DEBUG", "SECRET_KEY", "ALLOWED_HOSTS", "EMAIL_URL", "PKB_")
        )
    }
    environment.update(env)
    return subprocess.run(  # noqa: S603
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"DEBUG": "true", "SECRET_KEY": STRONG_KEY, "ALLOWED_HOSTS": "rms.example.nhs.uk"},
            "DEBUG must be off",
        ),
        ({"ALLOWED_HOSTS": "rms.example.nhs.uk"}, "SECRET_KEY must be set"),
        ({"SECRET_KEY": "short", "ALLOWED_HOSTS": "rms.example.nhs.uk"}, "SECRET_KEY must be set"),
        ({"SECRET_KEY": STRONG_KEY}, "ALLOWED_HOSTS must name"),
        (
            {"SECRET_KEY": STRONG_KEY, "ALLOWED_HOSTS": "rms.example.nhs.uk"},
            "PKB_URL must be PKB's https:// endpoint",
        ),
        # Issue 19: blank PKB credentials were the sandbox's ("sandbox"/"sandbox") in
        # production too, sent to PKB; like a missing SECRET_KEY, they stop start-up.
        (
            {
                "SECRET_KEY": STRONG_KEY,
                "ALLOWED_HOSTS": "rms.example.nhs.uk",
                "PKB_URL": "https://pkb.example.invalid/services/hl7",
                "PKB_USERNAME": "",
                "PKB_PASSWORD": "",
            },
            "PKB_USERNAME and PKB_PASSWORD must be the credentials PKB issued",
        ),
        (
            {
                "SECRET_KEY": STRONG_KEY,
                "ALLOWED_HOSTS": "rms.example.nhs.uk",
                "PKB_URL": "https://pkb.example.invalid/services/hl7",
                "PKB_USERNAME": "rms-trust",
            },
            "PKB_USERNAME and PKB_PASSWORD must be the credentials PKB issued",
        ),
    ],
)
def test_production_refuses_to_start_unsafe(env: dict[str, str], message: str) -> None:
    result = run_manage("check", DJANGO_ENV="production", **env)
    assert result.returncode != 0
    assert message in result.stderr


def test_production_passes_check_deploy_with_no_warnings() -> None:
    result = run_manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DJANGO_ENV="production",
        SECRET_KEY=STRONG_KEY,
        ALLOWED_HOSTS="rms.example.nhs.uk",
        EMAIL_URL="smtp+tls://rms:secret@smtp.example.nhs.uk:587",
        PKB_URL="https://sandbox.patientsknowbest.com:7443/services/hl7",
        PKB_USERNAME="rms-trust",
        PKB_PASSWORD="issued-by-pkb",
    )
    assert result.returncode == 0, result.stderr + result.stdout
    assert "no issues" in result.stdout


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DEBUG", "maybe"),
        ("DJANGO_ENV", "staging"),
        ("DATABASE_CONN_MAX_AGE", "sixty"),
        ("DATABASE_URL", "mysql-nonsense://"),
        ("LOG_LEVEL", "LOUD"),
        ("EMAIL_URL", "pigeon://loft"),
    ],
)
def test_a_bad_value_stops_start_up_naming_the_variable(name: str, value: str) -> None:
    env = {name: value}
    if name == "DATABASE_CONN_MAX_AGE":
        env["DATABASE_URL"] = "postgres://nobody@127.0.0.1:1/none"
    result = run_manage("check", **env)
    assert result.returncode != 0
    assert f"{name}=" in result.stderr


def test_the_defaults_start_with_nothing_configured() -> None:
    result = run_manage("check")
    assert result.returncode == 0, result.stderr
