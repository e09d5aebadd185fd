"""Lockout after repeated failures (django-axes): 5 failures per username and address, a
30-minute cool-off; wrong two-factor codes count too."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from tests.factories import UserFactory
from tests.rms.auth_helpers import PASSWORD, authenticator_for, code_now, sign_in_security_on


@pytest.fixture(autouse=True)
def start_of_day(time_machine, settings) -> None:  # type: ignore[no-untyped-def]
    time_machine.move_to("2026-03-02 09:00:00+00:00", tick=False)
    sign_in_security_on(settings)
    settings.RMS_REQUIRE_2FA = False


def fail_passwords(client: Client, username: str, times: int = 5) -> None:
    for _ in range(times):
        client.post(reverse("login"), {"username": username, "password": "not-the-password"})


def log_in(client: Client, username: str = "clinician"):  # type: ignore[no-untyped-def]
    return client.post(reverse("login"), {"username": username, "password": PASSWORD})


def test_five_wrong_passwords_lock_the_account_at_that_address(
    client: Client, clinician: User
) -> None:
    fail_passwords(client, "clinician", times=4)
    assert log_in(Client()).status_code == 302  # four failures: not yet

    fail_passwords(client, "clinician", times=1)
    response = log_in(client)

    assert response.status_code == 429
    assert "Login locked for now" in response.content.decode()
    assert "30 minutes" in response.content.decode()
    assert client.get(reverse("rms:patient_list")).status_code == 302


def test_the_lock_lifts_after_the_cool_off(
    client: Client,
    clinician: User,
    time_machine,  # type: ignore[no-untyped-def]
) -> None:
    fail_passwords(client, "clinician")
    time_machine.shift(timedelta(minutes=29))
    assert log_in(client).status_code == 429

    time_machine.shift(timedelta(minutes=31))
    response = log_in(client)

    assert response.status_code == 302
    assert client.get(reverse("rms:patient_list")).status_code == 200


def test_the_lock_holds_only_that_username_at_that_address(
    client: Client, clinician: User, viewer: User
) -> None:
    fail_passwords(client, "clinician")

    assert log_in(client, "viewer").status_code == 302
    elsewhere = Client(REMOTE_ADDR="10.1.2.3")
    assert log_in(elsewhere).status_code == 302


def test_wrong_two_factor_codes_count_towards_the_lock(
    client: Client,
    clinician: User,
    settings,
    time_machine,  # type: ignore[no-untyped-def]
) -> None:
    settings.RMS_REQUIRE_2FA = True
    device = authenticator_for(clinician)
    log_in(client)
    wrong = f"{(int(code_now(device)) + 1) % 1_000_000:06d}"
    for _ in range(4):
        response = client.post(reverse("account_two_factor"), {"code": wrong})
        assert response.status_code == 200

    response = client.post(reverse("account_two_factor"), {"code": wrong})

    assert response.status_code == 429
    # The half-finished login is gone, and the password alone is refused until the cool-off.
    assert client.get(reverse("rms:patient_list")).status_code == 302
    time_machine.shift(timedelta(seconds=device.step))
    assert log_in(client).status_code == 429


def test_the_lockout_is_logged_without_the_password(
    client: Client, clinician: User, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO")
    fail_passwords(client, "clinician")
    log_in(client)

    lockouts = [r for r in caplog.records if r.name == "rms.security" and "locked out" in r.message]
    assert lockouts
    assert f"user {clinician.pk}" in lockouts[-1].getMessage()
    assert "not-the-password" not in caplog.text
    assert PASSWORD not in caplog.text


# --- password spraying from one address (issue 19, defect 3) ----------------------------------


def test_a_password_spray_from_one_address_is_stopped(db, client: Client, settings) -> None:  # type: ignore[no-untyped-def]
    """OWASP ASVS 4.0.3 V2.2.1: anti-automation against credential stuffing and password
    spraying, not only against brute force of one account. The security test sent 24 wrong
    passwords over 6 accounts and 30 unknown usernames from one address and met no limit: no
    pair ever reached 5. With LOGIN_FAILURE_LIMIT_PER_ADDRESS failures from one address in
    the cool-off, over any usernames, that address is refused, even for a right password."""
    settings.LOGIN_FAILURE_LIMIT_PER_ADDRESS = 50
    accounts = [UserFactory(username=f"user{n}") for n in range(6)]
    for user in accounts:
        user.set_password(PASSWORD)
        user.save()
    spray = Client(REMOTE_ADDR="203.0.113.9")
    for guess in range(4):  # four guesses an account: never 5 for one pair
        for user in accounts:
            response = spray.post(
                reverse("login"), {"username": user.username, "password": f"Winter202{guess}!"}
            )
            assert response.status_code == 200
    for n in range(25):  # 24 + 25 = 49 failures, all under the pair limit
        assert (
            spray.post(
                reverse("login"), {"username": f"nobody{n}", "password": "Winter2026!"}
            ).status_code
            == 200
        )

    fiftieth = spray.post(reverse("login"), {"username": "nobody99", "password": "Winter2026!"})
    assert fiftieth.status_code == 429
    # From that address, even the right password of an account never guessed is refused...
    assert log_in(spray, "user0").status_code == 429
    # ...while the same account signs in from elsewhere (the Trust's other addresses).
    assert log_in(Client(REMOTE_ADDR="10.1.2.3"), "user0").status_code == 302


def test_the_address_limit_is_far_above_a_busy_wards_typing(
    client: Client, clinician: User, viewer: User, settings
) -> None:
    """One ward behind one NAT address: a few mistyped passwords of several people do not
    lock the address; only the per-address threshold does."""
    settings.LOGIN_FAILURE_LIMIT_PER_ADDRESS = 50
    ward = Client(REMOTE_ADDR="10.20.30.40")
    fail_passwords(ward, "clinician", times=4)
    fail_passwords(ward, "viewer", times=4)
    assert log_in(ward, "clinician").status_code == 302
    assert settings.LOGIN_FAILURE_LIMIT_PER_ADDRESS >= 10 * settings.AXES_FAILURE_LIMIT


def test_a_second_sign_in_with_the_same_code_is_refused_but_not_counted(
    clinician: User,
    settings,
    time_machine,  # type: ignore[no-untyped-def]
) -> None:
    """RFC 6238 section 5.2: a verifier must not accept the second attempt of the same OTP
    after a successful validation. The security test signed in twice inside one 30-second
    window: the second was refused (right) and counted towards the lockout (wrong: it is no
    guess, and five such sign-ins locked a clinician out). Now it is refused with a message
    that says why, and not counted."""
    from axes.models import AccessAttempt

    settings.RMS_REQUIRE_2FA = True
    device = authenticator_for(clinician)
    first = Client()
    log_in(first)
    code = code_now(device)
    assert first.post(reverse("account_two_factor"), {"code": code}).status_code == 302

    for _ in range(settings.AXES_FAILURE_LIMIT):
        second = Client()
        log_in(second)
        time_machine.shift(timedelta(seconds=2))  # past django-otp's one-second throttle
        response = second.post(reverse("account_two_factor"), {"code": code})
        assert response.status_code == 200
        assert "has just been used" in response.content.decode()

    assert not AccessAttempt.objects.filter(username="clinician").exists()
    time_machine.shift(timedelta(seconds=device.step))
    again = Client()
    log_in(again)
    assert again.post(reverse("account_two_factor"), {"code": code_now(device)}).status_code == 302
