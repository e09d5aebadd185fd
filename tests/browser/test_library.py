"""A team admin approves a library resource; a clinician shares it with an enrolled patient
from the patient page, sees it listed, and the letter reaches the PKB sandbox."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from careplans.models import Resource
from pkb_bridge import services as pkb_services
from pkb_bridge.models import OutboundMessage
from tests.browser.conftest import log_in, open_patient
from tests.factories import PatientFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_approved_resource_is_shared_from_the_patient_page_and_reaches_pkb(
    page: Page, live_server, sandbox, team, team_admin, clinician
) -> None:
    Resource.objects.create(
        team=team,
        title="Life after prostate surgery",
        kind=Resource.Kind.LINK,
        url="https://www.nhs.uk/conditions/prostate-cancer/",
        description="What to expect in the first months.",
        created_by=clinician,
    )
    patient = PatientFactory(teams=[team], family_name="Prefect", given_name="Ford")
    pkb_services.enrolment_opt_in(
        attestation="Consented in clinic, paper form filed", patient=patient, actor=clinician
    )

    log_in(page, live_server, team_admin.username)
    page.goto(f"{live_server.url}/library/")
    page.get_by_role("link", name="Approve Life after prostate surgery").click()
    review = timezone.localdate() + dt.timedelta(days=365)
    page.get_by_label("Review date").fill(review.isoformat())
    page.get_by_role("button", name="Approve").click()
    expect(page.locator(".resource-status").first).to_have_text("Approved")

    page.context.clear_cookies()
    log_in(page, live_server, clinician.username)
    open_patient(page, live_server, patient)
    panel = page.locator(".library-panel")
    panel.get_by_label("Resource").select_option(label="Life after prostate surgery (Web link)")
    panel.get_by_role("button", name="Share", exact=True).click()
    expect(panel.locator(".resource-shares")).to_contain_text("Life after prostate surgery")

    deadline = time.monotonic() + 20
    while (
        time.monotonic() < deadline and OutboundMessage.objects.exclude(status="delivered").exists()
    ):
        time.sleep(0.2)
    mdm = [m for m in sandbox.state.messages() if m["message_type"] == "MDM^T02"]
    assert len(mdm) == 1 and mdm[0]["ack_code"] == "AA"
