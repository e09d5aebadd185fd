"""The settings refuse to start half-configured, and production passes `check --deploy`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STRONG_KEY = "k" * 20 + "-this-is-a-long-random-test-secret-key-0123456789"
# A production configuration that starts: what an operator fills in from .env.example.
PRODUCTION_ENV = {
    "DJANGO_ENV": "production",
    "SECRET_KEY": STRONG_KEY,
    "ALLOWED_HOSTS": "rms.example.nhs.uk",
    "PKB_URL": "https://sandbox.patientsknowbest.com:7443/services/hl7",
    "PKB_USERNAME": "rms-trust",
    "PKB_PASSWORD": "issued-by-pkb",
}


def run_manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(
            (
                "DJANGO_",
                "DEBUG",
                "SECRET_KEY",
                "ALLOWED_HOSTS",
                "EMAIL_URL",
                "PKB_",
                "RMS_DEVTOOLS",
            )
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
        EMAIL_URL="smtp+tls://rms:secret@smtp.example.nhs.uk:587",
        **PRODUCTION_ENV,
    )
    assert result.returncode == 0, result.stderr + result.stdout
    assert "no issues" in result.stdout


DEVTOOLS_COMMANDS = ("load_demo", "load_scale", "pkb_sandbox", "demo", "demo_care", "demo_plans")


def commands(**env: str) -> set[str]:
    result = run_manage("help", "--commands", **env)
    assert result.returncode == 0, result.stderr
    return set(result.stdout.split())


def installed_apps(**env: str) -> list[str]:
    result = run_manage(
        "shell", "-c", "from django.conf import settings; print(*settings.INSTALLED_APPS)", **env
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def test_production_settings_do_not_install_the_development_tools() -> None:
    assert "devtools" not in installed_apps(**PRODUCTION_ENV)
    assert not commands(**PRODUCTION_ENV) & set(DEVTOOLS_COMMANDS)
    # The production commands are all still there.
    assert {"mllp_listener", "rms_user", "pkb_opt_in"} <= commands(**PRODUCTION_ENV)


def test_development_settings_install_the_development_tools() -> None:
    assert "devtools" in installed_apps()
    assert set(DEVTOOLS_COMMANDS) <= commands()


def test_the_sandbox_image_turns_the_development_tools_on_in_production() -> None:
    """docker/Dockerfile's sandbox target sets RMS_DEVTOOLS=true with production settings."""
    assert "pkb_sandbox" in commands(**PRODUCTION_ENV, RMS_DEVTOOLS="true")
    assert "devtools" not in installed_apps(RMS_DEVTOOLS="false")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DEBUG", "maybe"),
        ("DJANGO_ENV", "staging"),
        ("DATABASE_CONN_MAX_AGE", "sixty"),
        ("DATABASE_URL", "mysql-nonsense://"),
        ("LOG_LEVEL", "LOUD"),
        ("EMAIL_URL", "pigeon://loft"),
        # docs/security.md, "Trust boundaries": MSH3^MSH4@CIDR, @cn:NAME or @user:NAME.
        ("MLLP_SENDERS", "WINPATH@10.12.0.0/16"),
        ("MLLP_SENDERS", "WINPATH^RXX01"),
        ("MLLP_SENDERS", "WINPATH^RXX01@10.12.0.1/16"),
        ("MLLP_SENDERS", "WINPATH^RXX01@10.12.0.0/16,CRIS^RXX01@cn:"),
        ("MLLP_PAS_SENDERS", "PAS^RXX01@10.12.0.0/16"),
        ("MLLP_ALLOW_ANY_SENDER", "perhaps"),
        ("MLLP_MAX_CONNECTIONS_PER_ADDRESS", "0"),
        ("MLLP_FRAME_TIMEOUT_S", "0"),
        ("PKB_EMAIL_COMPONENT", "XTN-2"),
        ("PKB_SOAP_ACTION", 'urn:"acceptMessage"'),
        ("RMS_DEVTOOLS", "sometimes"),
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


def test_mllp_senders_entries_name_a_sender_and_where_it_may_send_from() -> None:
    """The syntax docs/security.md ("Trust boundaries") documents: MSH3^MSH4@CIDR, @cn:NAME
    for a TLS client certificate, @user:NAME for an API account; MLLP_PAS_SENDERS: MSH3^MSH4."""
    import ipaddress

    from rms.env import Sender, parse_sender

    assert parse_sender("WINPATH^RXX01@10.12.0.0/16") == Sender(
        "WINPATH", "RXX01", network=ipaddress.ip_network("10.12.0.0/16")
    )
    assert parse_sender("CRIS^RXX01@cn:tie.rxx.nhs.uk") == Sender(
        "CRIS", "RXX01", common_name="tie.rxx.nhs.uk"
    )
    assert parse_sender("WINPATH^RXX01@user:winpath-feed") == Sender(
        "WINPATH", "RXX01", username="winpath-feed"
    )
    assert parse_sender("PAS^RXX01", with_origin=False) == Sender("PAS", "RXX01")


def test_a_pkb_lease_no_longer_than_the_send_deadline_stops_start_up() -> None:
    """Reliability reference §5.1 O16/O17: never two sends of one message at once. A lease
    that ends before the send deadline would give a message still being sent to another
    worker, so such a configuration is refused, naming the variable."""
    result = run_manage("check", PKB_TIMEOUT_S="30", PKB_IN_FLIGHT_LEASE_S="30")
    assert result.returncode != 0
    assert "PKB_IN_FLIGHT_LEASE_S must be longer than PKB_TIMEOUT_S" in result.stderr
    assert run_manage("check", PKB_TIMEOUT_S="30", PKB_IN_FLIGHT_LEASE_S="31").returncode == 0
