"""Session limits: 30 minutes idle, 12 hours at most, and "log out everywhere"."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from pytest_django.asserts import assertRedirects

from rms.accounts import services

PATIENTS = "/patients/"


@pytest.fixture(autouse=True)
def start_of_day(time_machine) -> None:  # type: ignore[no-untyped-def]
    time_machine.move_to("2026-03-02 09:00:00+00:00", tick=False)


def signed_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    assert client.get(PATIENTS).status_code == 200
    return client


def test_a_session_idle_for_30_minutes_is_logged_out(
    clinician: User,
    time_machine,  # type: ignore[no-untyped-def]
) -> None:
    client = signed_in(clinician)
    time_machine.shift(timedelta(minutes=29))
    assert client.get(PATIENTS).status_code == 200  # activity restarts the clock
    time_machine.shift(timedelta(minutes=29))
    assert client.get(PATIENTS).status_code == 200

    time_machine.shift(timedelta(minutes=30))
    response = client.get(PATIENTS)

    assertRedirects(response, f"{reverse('login')}?next={PATIENTS}", fetch_redirect_response=False)
    page = client.get(response["Location"]).content.decode()
    assert "30 minutes without activity" in page
    assert client.get(PATIENTS).status_code == 302


def test_a_session_ends_12_hours_after_login_however_active(
    clinician: User,
    time_machine,  # type: ignore[no-untyped-def]
) -> None:
    client = signed_in(clinician)
    for _ in range(35):  # every 20 minutes until 11 h 40 min
        time_machine.shift(timedelta(minutes=20))
        assert client.get(PATIENTS).status_code == 200

    time_machine.shift(timedelta(minutes=20))
    response = client.get(PATIENTS)

    assert response.status_code == 302
    assert "at most 12 hours" in client.get(response["Location"]).content.decode()


def test_an_expired_htmx_request_gets_hx_redirect(
    clinician: User,
    time_machine,  # type: ignore[no-untyped-def]
) -> None:
    client = signed_in(clinician)
    time_machine.shift(timedelta(minutes=31))

    response = client.get(PATIENTS, headers={"HX-Request": "true"})

    assert response["HX-Redirect"] == reverse("login")


def test_logout_everywhere_ends_the_users_other_sessions(clinician: User, viewer: User) -> None:
    laptop = signed_in(clinician)
    ward_pc = signed_in(clinician)
    someone_else = signed_in(viewer)

    response = laptop.post(reverse("account_logout_everywhere"))

    assertRedirects(response, reverse("login"), fetch_redirect_response=False)
    assert laptop.get(PATIENTS).status_code == 302
    response = ward_pc.get(PATIENTS)
    assert response.status_code == 302
    assert "logged out on this device" in ward_pc.get(response["Location"]).content.decode()
    assert someone_else.get(PATIENTS).status_code == 200
    assert signed_in(clinician).get(PATIENTS).status_code == 200  # a new login works


def test_the_logout_everywhere_page_needs_a_login(client: Client) -> None:
    response = client.get(reverse("account_logout_everywhere"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_an_administrator_can_log_a_user_out_everywhere(
    admin_client: Client, admin_user: User, clinician: User
) -> None:
    ward_pc = signed_in(clinician)

    admin_client.post(
        reverse("admin:auth_user_changelist"),
        {"action": "end_sessions_everywhere", "_selected_action": [clinician.pk]},
    )

    assert ward_pc.get(PATIENTS).status_code == 302
    assert clinician.account_security.sessions_ended_by == admin_user


def test_an_administrator_can_reset_a_users_two_factor(
    admin_client: Client, clinician: User
) -> None:
    from django_otp.plugins.otp_totp.models import TOTPDevice

    TOTPDevice.objects.create(user=clinician, confirmed=True)
    services.backup_codes_issue(user=clinician)

    admin_client.post(
        reverse("admin:auth_user_changelist"),
        {"action": "reset_two_factor", "_selected_action": [clinician.pk]},
    )

    assert not TOTPDevice.objects.filter(user=clinician).exists()


def test_a_session_key_is_dead_after_logout(clinician: User) -> None:
    client = signed_in(clinician)
    old_key = client.cookies["sessionid"].value

    client.post(reverse("logout"))
    replay = Client()
    replay.cookies["sessionid"] = old_key

    assert replay.get(PATIENTS).status_code == 302
