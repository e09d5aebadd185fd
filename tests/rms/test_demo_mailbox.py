"""The demo keeps the emails it sends in a mailbox, and team admins read them on a page of the
demo: the PKB invitation above all. Outside the demo the page does not exist."""

from __future__ import annotations

import pytest
from django.conf import settings as django_settings
from django.test import Client
from django.urls import reverse

from devtools.management.commands.demo import apply_demo_settings
from rms.ops.mailbox import BACKEND, mailbox_read
from tests.pkb_bridge.test_registration import drain

pytestmark = pytest.mark.django_db

URL = "/demo/emails/"
CONSENTED = {"attestation": "Consented in clinic, paper form filed"}


@pytest.fixture
def mailbox(settings, tmp_path):  # type: ignore[no-untyped-def]
    """The demo's mail settings, as `manage.py demo` makes them, undone after the test."""
    settings.MAILERS = django_settings.MAILERS
    settings.DEMO_MAILBOX_DIR = ""
    settings.VAR_DIR = tmp_path
    settings.DEBUG = django_settings.DEBUG
    apply_demo_settings({})
    return tmp_path / "demo-mail"


def test_the_demo_keeps_its_emails_unless_the_environment_names_a_mail_server(
    settings, mailbox
) -> None:
    assert settings.MAILERS["default"]["BACKEND"] == BACKEND
    assert str(mailbox) == settings.DEMO_MAILBOX_DIR

    settings.MAILERS = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}
    settings.DEMO_MAILBOX_DIR = ""
    apply_demo_settings({"EMAIL_URL": "smtp://mail.example.nhs.uk:25"})
    assert settings.MAILERS["default"]["BACKEND"].endswith("locmem.EmailBackend")
    assert settings.DEMO_MAILBOX_DIR == ""


def test_a_team_admin_reads_the_invitation_after_a_patient_is_shared(
    client: Client,
    mailbox,
    clinician,
    team_admin,
    patient,
    transport,
    django_capture_on_commit_callbacks,
) -> None:
    patient.email = "arthur.dent@example.org"
    patient.save()
    client.force_login(clinician)
    client.post(reverse("pkb:opt_in", args=[patient.public_id]), CONSENTED)
    # PKB accepts the registration; the invitation follows it.
    drain(transport, django_capture_on_commit_callbacks)

    kept = mailbox_read(directory=str(mailbox))
    assert [email.to for email in kept] == ["arthur.dent@example.org"]
    client.force_login(team_admin)
    response = client.get(URL)
    assert response.status_code == 200
    html = response.content.decode()
    assert "your results and letters online with Patients Know Best" in html
    assert "arthur.dent@example.org" in html
    # The text of the invitation itself, readable, not only its headers.
    assert "You will receive a separate email from Patients Know Best" in html


def test_the_page_says_so_when_nothing_was_sent_yet(client: Client, mailbox, team_admin) -> None:
    client.force_login(team_admin)
    response = client.get(URL)
    assert response.status_code == 200
    assert "No email has been sent yet" in response.content.decode()


def test_a_viewer_and_a_clinician_are_refused(client: Client, mailbox, viewer, clinician) -> None:
    for user in (viewer, clinician):
        client.force_login(user)
        assert client.get(URL).status_code == 403


def test_the_page_is_absent_outside_the_demo(settings, client: Client, team_admin) -> None:
    settings.DEMO_MAILBOX_DIR = ""
    client.force_login(team_admin)
    assert client.get(URL).status_code == 404


def test_an_anonymous_visitor_is_sent_to_log_in(client: Client, mailbox) -> None:
    response = client.get(URL)
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]
