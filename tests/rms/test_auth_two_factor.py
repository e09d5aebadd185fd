"""Two-factor login (RMS_REQUIRE_2FA): enrolment, the code step, and what an unverified
session may reach."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.core import mail
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


def emailed_setup_code(user: User) -> str:
    """The set-up code in the last email to ``user`` (Django's locmem outbox)."""
    message = [m for m in mail.outbox if m.to == [user.email]][-1]
    match = re.search(r"\b(\d{8})\b", message.body)
    assert match, message.body
    return match.group(1)


def set_up_with_emailed_code(client: Client, user: User) -> None:
    log_in_with_password(client, user.username)
    response = client.post(reverse("account_two_factor"), {"code": emailed_setup_code(user)})
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_two_factor_enrol"))


def test_a_user_without_an_authenticator_is_sent_to_set_one_up(
    client: Client, clinician: User
) -> None:
    response = log_in_with_password(client, "clinician")
    # The same code step as everyone (the password must not show), and a set-up code by email.
    assertRedirects(response, step_url("account_two_factor"), fetch_redirect_response=False)
    response = client.get(reverse("rms:patient_list"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_two_factor"))
    assert client.get(reverse("account_two_factor_enrol")).status_code == 302

    response = client.post(reverse("account_two_factor"), {"code": emailed_setup_code(clinician)})

    assert response["Location"].startswith(reverse("account_two_factor_enrol"))
    assert client.get(reverse("account_two_factor_enrol")).status_code == 200


def test_a_wrong_set_up_code_is_refused_and_counts_as_a_failure(
    client: Client, clinician: User
) -> None:
    from axes.models import AccessAttempt

    log_in_with_password(client, "clinician")
    right = emailed_setup_code(clinician)
    wrong = f"{(int(right) + 1) % 100_000_000:08d}"

    response = client.post(reverse("account_two_factor"), {"code": wrong})

    assert "That code is not right" in response.content.decode()
    assert client.get(reverse("account_two_factor_enrol")).status_code == 302
    assert AccessAttempt.objects.get(username="clinician").failures_since_start == 1


def test_enrolment_shows_a_qr_code_and_the_key_then_confirms_with_the_first_code(
    client: Client,
    clinician: User,
    time_machine,  # type: ignore[no-untyped-def]
) -> None:
    time_machine.move_to("2026-03-02 09:00:00+00:00", tick=False)
    set_up_with_emailed_code(client, clinician)
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
    set_up_with_emailed_code(client, clinician)
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
        assert response["Location"].startswith(reverse("account_two_factor"))


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


# --- the password is not confirmed before the second factor (issue 19, defect 3) -------------


def _answers(client: Client, username: str, password: str) -> list[object]:
    """Everything a client sees from a password attempt up to the code step: the answer to
    the password, the code page, a patient page, the API and a wrong code, with the CSRF
    token (random in every page) taken out."""
    csrf = re.compile(r"\b[A-Za-z0-9]{64}\b")  # Django's masked CSRF tokens
    first = client.post(reverse("login"), {"username": username, "password": password})
    code_page = client.get(reverse("account_two_factor"))
    patients = client.get(reverse("rms:patient_list"))
    set_up = client.get(reverse("account_two_factor_enrol"))
    login_page = client.get(f"{reverse('login')}?next=/patients/")
    admin_index = client.get(reverse("admin:index"))
    api = client.get("/api/v1/patients/")
    wrong_code = client.post(reverse("account_two_factor"), {"code": "00000000"})
    return [
        (first.status_code, first.get("Location"), sorted(first.cookies.keys())),
        (code_page.status_code, csrf.sub("", code_page.content.decode())),
        (patients.status_code, patients.get("Location")),
        (set_up.status_code, set_up.get("Location")),
        (login_page.status_code, csrf.sub("", login_page.content.decode())),
        (admin_index.status_code, admin_index.get("Location")),
        (api.status_code, api.content),
        (wrong_code.status_code, csrf.sub("", wrong_code.content.decode())),
    ]


def test_a_right_password_and_a_wrong_one_get_the_same_answers_until_the_code(
    clinician: User, viewer: User
) -> None:
    """OWASP ASVS 4.0.3 V2.2 and the security test (issue 19): a right password was confirmed
    by the redirect to two-factor set-up, a wrong one by the form again. Now a right password
    of a user with no authenticator, a right password of a user with one, a wrong password
    and an unknown username get the same redirect, the same cookies, the same code page, the
    same answers elsewhere and the same refusal of a wrong code."""
    authenticator_for(viewer)

    no_device = _answers(Client(), "clinician", PASSWORD)
    with_device = _answers(Client(), "viewer", PASSWORD)
    wrong_password = _answers(Client(), "clinician", "not-the-password-at-all")
    unknown_user = _answers(Client(), "nobody-here", "not-the-password-at-all")

    assert no_device == wrong_password == unknown_user == with_device
    first = no_device[0]
    assert first[0] == 302
    assert str(first[1]).startswith(reverse("account_two_factor"))


def test_a_wrong_password_never_passes_the_code_step(clinician: User) -> None:
    """A session whose password was wrong is refused every code, the set-up code of the
    account included, and never reaches a patient page."""
    client = Client()
    client.post(reverse("login"), {"username": "clinician", "password": "wrong-password-123"})
    assert not mail.outbox  # no set-up code for a wrong password

    response = client.post(reverse("account_two_factor"), {"code": "12345678"})

    assert response.status_code == 200
    assert "That code is not right" in response.content.decode()
    assert client.get(reverse("rms:patient_list")).status_code == 302
    assert client.get(reverse("account_two_factor_enrol")).status_code == 302
