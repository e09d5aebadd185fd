"""``manage.py rms_user``."""

from __future__ import annotations

import re
from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.management.base import CommandError
from knox.crypto import hash_token
from knox.models import AuthToken
from rest_framework.test import APIClient

from rms.models import Membership, Role, Team

STRONG = "a-long-enough-passphrase"


def run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("rms_user", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_it_creates_a_user_with_a_role_in_the_team_and_a_random_password(team: Team) -> None:
    out, _ = run("--username", "j.reid", "--team", "URO", "--role", "clinician")

    user = User.objects.get(username="j.reid")
    assert Membership.objects.get(user=user).team == team
    assert Membership.objects.get(user=user).role == Role.CLINICIAN
    password = re.search(r"Password \(shown once\): (\S+)", out)
    assert password is not None
    assert len(password.group(1)) >= 20
    assert user.check_password(password.group(1))


def test_it_sets_the_given_password_names_and_staff_flag(team: Team) -> None:
    out, _ = run(
        "--username", "j.reid", "--team", "uro", "--role", "viewer", "--password", STRONG,
        "--email", "j.reid@example.nhs.uk", "--first-name", "Joanna", "--last-name", "Reid",
        "--staff",
    )  # fmt: skip

    user = User.objects.get(username="j.reid")
    assert user.check_password(STRONG)
    assert (user.email, user.first_name, user.last_name) == (
        "j.reid@example.nhs.uk",
        "Joanna",
        "Reid",
    )
    assert user.is_staff
    assert "shown once" not in out


def test_it_changes_the_role_of_an_existing_user_and_keeps_their_password(team: Team) -> None:
    run("--username", "j.reid", "--team", "URO", "--role", "viewer", "--password", STRONG)

    out, _ = run("--username", "j.reid", "--team", "URO", "--role", "team_admin")

    user = User.objects.get(username="j.reid")
    assert Membership.objects.filter(user=user).count() == 1
    assert Membership.objects.get(user=user).role == Role.TEAM_ADMIN
    assert user.check_password(STRONG)
    assert "Updated user j.reid" in out
    assert "shown once" not in out


def test_it_is_safe_to_run_twice(team: Team) -> None:
    args = ("--username", "j.reid", "--team", "URO", "--role", "clinician", "--password", STRONG)
    run(*args)
    first_hash = User.objects.get(username="j.reid").password

    run(*args)

    assert User.objects.filter(username="j.reid").count() == 1
    assert Membership.objects.filter(user__username="j.reid").count() == 1
    # The same password is not re-hashed (a new salt would be a change on every run).
    assert User.objects.get(username="j.reid").password == first_hash


def test_it_adds_a_second_team_without_removing_the_first(team: Team, other_team: Team) -> None:
    run("--username", "j.reid", "--team", "URO", "--role", "clinician", "--password", STRONG)

    run("--username", "j.reid", "--team", "CRC", "--role", "viewer")

    roles = dict(
        Membership.objects.filter(user__username="j.reid").values_list("team__code", "role")
    )
    assert roles == {"URO": Role.CLINICIAN, "CRC": Role.VIEWER}


def test_it_prints_the_token_key_alone_on_standard_output(team: Team) -> None:
    out, err = run("--username", "api.bot", "--team", "URO", "--role", "viewer", "--token")

    token = AuthToken.objects.get(user__username="api.bot")
    key = out.removesuffix("\n")
    assert "\n" not in key
    # Stored hashed: the printed key is not in the database, its digest is.
    assert token.digest == hash_token(key)
    assert key not in (token.digest, token.token_key)
    assert f"API token {token.token_key}… expires" in err
    # The rest of the report, including the one-off password, goes to standard error.
    assert "Created user api.bot" in err
    assert "shown once" in err


def test_each_run_with_token_makes_another_token_and_both_work(team: Team) -> None:
    first, _ = run("--username", "api.bot", "--team", "URO", "--role", "viewer", "--token")
    second, _ = run("--username", "api.bot", "--team", "URO", "--role", "viewer", "--token")

    assert first != second
    assert AuthToken.objects.filter(user__username="api.bot").count() == 2
    for key in (first.strip(), second.strip()):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
        assert client.get("/api/v1/patients/").status_code == 200


def test_it_refuses_an_unknown_team_naming_the_code(team: Team) -> None:
    with pytest.raises(CommandError, match="NOPE"):
        run("--username", "j.reid", "--team", "NOPE", "--role", "clinician")

    assert not User.objects.filter(username="j.reid").exists()


def test_it_refuses_an_unknown_role(team: Team) -> None:
    with pytest.raises(CommandError, match="invalid choice: 'superuser'"):
        run("--username", "j.reid", "--team", "URO", "--role", "superuser")

    assert not User.objects.filter(username="j.reid").exists()


def test_it_refuses_a_weak_password_and_creates_nothing(team: Team) -> None:
    with pytest.raises(CommandError, match="too short"):
        run("--username", "j.reid", "--team", "URO", "--role", "clinician", "--password", "x1")

    assert not User.objects.filter(username="j.reid").exists()
    assert not Membership.objects.exists()


def test_it_refuses_an_invalid_email_and_changes_nothing(team: Team) -> None:
    run("--username", "j.reid", "--team", "URO", "--role", "viewer", "--password", STRONG)

    with pytest.raises(CommandError, match="valid email"):
        run("--username", "j.reid", "--team", "URO", "--role", "clinician", "--email", "nope")

    assert Membership.objects.get(user__username="j.reid").role == Role.VIEWER


def test_no_staff_takes_away_django_admin(team: Team) -> None:
    run("--username", "j.reid", "--team", "URO", "--role", "viewer", "--staff")

    run("--username", "j.reid", "--team", "URO", "--role", "viewer", "--no-staff")

    assert not User.objects.get(username="j.reid").is_staff


def test_it_refuses_to_turn_the_system_actor_into_a_login(team: Team) -> None:
    with pytest.raises(CommandError, match="system actor"):
        run("--username", "rms-system", "--team", "URO", "--role", "viewer")

    assert not Membership.objects.exists()
