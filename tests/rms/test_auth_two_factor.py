"""Two-factor login (RMS_REQUIRE_2FA): enrolment, the code step, and what an unverified
session may reach."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice
from pytest_django.asserts import assertRedirects

from rms.accounts import services
from rms.models import Patient
from tests.factories import UserFactory
from tests.rms.auth_helpers import PASSWORD, authenticator_for, code_now, sign_in_security_on


@pytest.fixture(autouse=True)
def two_factor_on(settings) -> None:  # type: ignore[no-untyped-def]
    sign_in_security_on(settings)


def log_in_with_password(client: Client, username: str) -> object:
    return client.post(reverse("login"), {"username": username, "password": PASSWORD})


def step_url(name: str, next_url: str | None = None) -> str:
    url = reverse(name)
    return f"{url}?next={next_url or reverse('rms:patient_list')}"


def test_a_user_without_an_authenticator_is_sent_to_set_one_up(
    client: Client, clinician: User
) -> None:
    response = log_in_with_password(client, "clinician")
    assertRedirects(response, step_url("account_two_factor_enrol"), fetch_redirect_response=False)
    response = client.get(reverse("rms:patient_list"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_two_factor_enrol"))


def test_enrolment_shows_a_qr_code_and_the_key_then_confirms_with_the_first_code(
    client: Client,
    clinician: User,
    time_machine,  # type: ignore[no-untyped-def]
) -> None:
    time_machine.move_to("2026-03-02 09:00:00+00:00", tick=False)
    log_in_with_password(client, "clinician")
    page = client.get(reverse("account_two_factor_enrol")).content.decode()
    device = TOTPDevice.objects.get(user=clinician)
    assert not device.confirmed
    assert "<svg" in page and "<script" not in page.split("<body", 1)[1].split("<script src")[0]
    assert "Cannot scan it?" in page
    # Reloading shows the same key, not a new one.
    client.get(reverse("account_two_factor_enrol"))
    assert TOTPDevice.objects.filter(user=clinician).count() == 1

    response = client.post(reverse("account_two_factor_enrol"), {"code": code_now(device)})

    assert response.status_code == 200
    assert "Backup codes" in response.content.decode()
    device.refresh_from_db()
    assert device.confirmed
    assert StaticToken.objects.filter(device__user=clinician).count() == 10
    assert client.get(reverse("rms:patient_list")).status_code == 200


def test_enrolment_refuses_a_wrong_code(client: Client, clinician: User) -> None:
    log_in_with_password(client, "clinician")
    client.get(reverse("account_two_factor_enrol"))
    device = TOTPDevice.objects.get(user=clinician)
    wrong = f"{(int(code_now(device)) + 1) % 1_000_000:06d}"

    response = client.post(reverse("account_two_factor_enrol"), {"code": wrong})

    assert "That code is not right" in response.content.decode()
    device.refresh_from_db()
    assert not device.confirmed
    assert client.get(reverse("rms:patient_list")).status_code == 302


def test_a_user_with_an_authenticator_is_asked_for_the_code(
    client: Client, clinician: User
) -> None:
    authenticator_for(clinician)
    response = log_in_with_password(client, "clinician")
    assertRedirects(response, step_url("account_two_factor"), fetch_redirect_response=False)


def test_a_wrong_code_is_refused_and_the_right_one_lets_them_in(
    client: Client,
    clinician: User,
    patient: Patient,
    time_machine,  # type: ignore[no-untyped-def]
) -> None:
    time_machine.move_to("2026-03-02 09:00:00+00:00", tick=False)
    device = authenticator_for(clinician)
    detail = reverse("rms:patient_detail", args=[patient.public_id])
    log_in_with_password(client, "clinician")
    wrong = f"{(int(code_now(device)) + 1) % 1_000_000:06d}"

    response = client.post(reverse("account_two_factor"), {"code": wrong, "next": detail})
    assert "That code is not right" in response.content.decode()
    assert client.get(detail).status_code == 302

    # django-otp slows down guessing after a failure; the next code comes a step later.
    time_machine.shift(timedelta(seconds=device.step))
    response = client.post(
        reverse("account_two_factor"), {"code": code_now(device), "next": detail}
    )
    assertRedirects(response, detail, fetch_redirect_response=False)
    page = client.get(detail)
    assert page.status_code == 200
    assert patient.family_name.lower() in page.content.decode().lower()


def test_a_backup_code_lets_them_in_once(
    client: Client,
    clinician: User,
    time_machine,  # type: ignore[no-untyped-def]
) -> None:
    time_machine.move_to("2026-03-02 09:00:00+00:00", tick=False)
    authenticator_for(clinician)
    code = services.backup_codes_issue(user=clinician)[0]
    log_in_with_password(client, "clinician")
    response = client.post(reverse("account_two_factor"), {"code": code.upper()})
    assertRedirects(response, reverse("rms:patient_list"), fetch_redirect_response=False)

    other = Client()
    log_in_with_password(other, "clinician")
    time_machine.shift(timedelta(seconds=5))
    response = other.post(reverse("account_two_factor"), {"code": code})
    assert "That code is not right" in response.content.decode()


def test_an_unverified_session_gets_no_patient_page(
    client: Client, clinician: User, patient: Patient
) -> None:
    authenticator_for(clinician)
    log_in_with_password(client, "clinician")
    detail = reverse("rms:patient_detail", args=[patient.public_id])

    response = client.get(detail)

    assertRedirects(response, step_url("account_two_factor", detail), fetch_redirect_response=False)
    assert patient.family_name.lower() not in response.content.decode().lower()


def test_an_unverified_session_gets_no_admin(client: Client, team) -> None:  # type: ignore[no-untyped-def]
    UserFactory(username="boss", is_staff=True, is_superuser=True)
    log_in_with_password(client, "boss")

    for path in (reverse("admin:index"), reverse("admin:rms_patient_changelist")):
        response = client.get(path)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("account_two_factor_enrol"))


def test_an_unverified_session_gets_no_api(client: Client, clinician: User) -> None:
    log_in_with_password(client, "clinician")
    response = client.get("/api/v1/patients/")
    assert response.status_code == 403


def test_an_api_token_is_not_held_at_the_two_factor_step(api_clinician) -> None:  # type: ignore[no-untyped-def]
    assert api_clinician.get("/api/v1/patients/").status_code == 200


def test_htmx_requests_are_sent_to_the_code_with_hx_redirect(
    client: Client, clinician: User, patient: Patient
) -> None:
    authenticator_for(clinician)
    log_in_with_password(client, "clinician")
    response = client.get(
        reverse("rms:patient_detail", args=[patient.public_id]), headers={"HX-Request": "true"}
    )
    assert response["HX-Redirect"] == reverse("account_two_factor")


def test_the_set_up_page_cannot_replace_an_authenticator_with_the_password_alone(
    client: Client, clinician: User
) -> None:
    authenticator_for(clinician)
    log_in_with_password(client, "clinician")
    response = client.get(reverse("account_two_factor_enrol"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_two_factor"))
    assert TOTPDevice.objects.filter(user=clinician).count() == 1


def test_a_new_password_login_asks_for_the_code_again(
    client: Client,
    clinician: User,
    time_machine,  # type: ignore[no-untyped-def]
) -> None:
    time_machine.move_to("2026-03-02 09:00:00+00:00", tick=False)
    device = authenticator_for(clinician)
    log_in_with_password(client, "clinician")
    client.post(reverse("account_two_factor"), {"code": code_now(device)})
    assert client.get(reverse("rms:patient_list")).status_code == 200

    log_in_with_password(client, "clinician")

    assert client.get(reverse("rms:patient_list")).status_code == 302


def test_with_two_factor_off_the_password_is_enough(
    client: Client,
    clinician: User,
    settings,  # type: ignore[no-untyped-def]
) -> None:
    settings.RMS_REQUIRE_2FA = False
    authenticator_for(clinician)
    response = log_in_with_password(client, "clinician")
    assertRedirects(response, reverse("rms:patient_list"))
