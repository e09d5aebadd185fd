"""In the demo, a clinician shares a patient and reads what was queued and delivered; the team
admin then reads the patient's PKB invitation on the demo's emails page."""

from __future__ import annotations

import pytest
from django.conf import settings as django_settings
from playwright.sync_api import Page, expect

from devtools.management.commands.demo import apply_demo_settings
from devtools.sandbox import SandboxServer
from tests.browser.conftest import log_in
from tests.factories import PatientFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def demo(settings, tmp_path, sandbox) -> SandboxServer:  # type: ignore[no-untyped-def]
    """The demo's settings (its mailbox under a temporary folder) and the PKB sandbox."""
    settings.MAILERS = django_settings.MAILERS
    settings.DEMO_MAILBOX_DIR = ""
    settings.DEBUG = django_settings.DEBUG
    settings.VAR_DIR = tmp_path
    apply_demo_settings({})
    return sandbox


def test_a_share_says_what_was_delivered_and_the_invitation_is_on_the_emails_page(
    page: Page, live_server, demo, team, clinician, team_admin
) -> None:
    PatientFactory(teams=[team], family_name="Prefect", given_name="Ford", email="ford@example.org")
    log_in(page, live_server, clinician.username)
    page.get_by_role("link", name="PREFECT, Ford").click()
    panel = page.locator(".pkb-panel")
    panel.get_by_role("link", name="Share with Patients Know Best").click()
    panel.get_by_label("How and when did the patient consent").fill(
        "Consented verbally in clinic today; paper form filed"
    )
    panel.get_by_role("button", name="Share with Patients Know Best").click()
    # In-process tasks delivered the registration at commit: the message says so.
    expect(panel).to_contain_text(
        "Shared with Patients Know Best: queued 1 registration and 0 messages of the record; "
        "delivered to PKB."
    )
    expect(panel).not_to_contain_text("0 messages queued")

    # A clinician has no emails page; the team admin has.
    response = page.goto(f"{live_server.url}/demo/emails/")
    assert response is not None and response.status == 403
    page.context.clear_cookies()
    log_in(page, live_server, team_admin.username)
    page.goto(f"{live_server.url}/demo/emails/")
    invitation = page.get_by_role("article").filter(has_text="ford@example.org")
    expect(invitation).to_contain_text("your results and letters online with Patients Know Best")
    expect(invitation).to_contain_text("You will receive a separate email from Patients Know Best")
