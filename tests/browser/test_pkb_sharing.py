"""A clinician shares a patient with PKB from the patient page; the record reaches the sandbox."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from devtools.sandbox import SandboxServer, SandboxState
from pkb_bridge.models import OutboundMessage
from tests.browser.conftest import log_in, open_patient
from tests.factories import ObservationFactory, PatientFactory, ResultFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def sandbox(settings) -> Iterator[SandboxServer]:  # type: ignore[no-untyped-def]
    server = SandboxServer(username="rms", password="pw", state=SandboxState())
    server.start()
    settings.PKB_URL = server.url
    settings.PKB_USERNAME = "rms"
    settings.PKB_PASSWORD = "pw"
    yield server
    server.stop()


def test_a_clinician_shares_a_patient_and_the_record_reaches_pkb(
    page: Page, live_server, sandbox, team, clinician
) -> None:
    patient = PatientFactory(teams=[team], family_name="Dent", given_name="Arthur")
    for n in range(3):
        result = ResultFactory(
            patient=patient, observed_at=timezone.now() - dt.timedelta(days=90 * (n + 1))
        )
        ObservationFactory(result=result, value_text="0.03", value_numeric=Decimal("0.03"))

    log_in(page, live_server, clinician.username)
    page.get_by_role("link", name="DENT, Arthur").click()
    panel = page.locator(".pkb-panel")
    expect(panel).to_contain_text("Not shared")
    panel.get_by_role("link", name="Share with Patients Know Best").click()
    # The preview: what is sent and held, then the consent, before anything is shared.
    expect(panel).to_contain_text("What will be sent")
    expect(panel).to_contain_text("3 items of the record")
    panel.get_by_label("How and when did the patient consent").fill(
        "Consented verbally in clinic today; paper form filed"
    )
    panel.get_by_role("button", name="Share with Patients Know Best").click()
    expect(panel).to_contain_text("registration first")
    expect(panel).to_contain_text("Consented verbally in clinic today")

    # The doorbell rang at commit and the dispatcher sent the registration and the history.
    deadline = time.monotonic() + 20
    while (
        time.monotonic() < deadline and OutboundMessage.objects.exclude(status="delivered").exists()
    ):
        time.sleep(0.2)
    assert not OutboundMessage.objects.exclude(status="delivered").exists()
    seen = sandbox.state.patient(patient.nhs_number)
    assert seen is not None and len(seen["lab_results"]) == 3
    assert sandbox.state.messages()[0]["message_type"] == "ADT^A28"


def test_another_teams_clinician_gets_a_404_on_the_patient_page(
    page: Page, live_server, other_patient, clinician
) -> None:
    log_in(page, live_server, clinician.username)
    response = page.goto(f"{live_server.url}/patients/{other_patient.public_id}/")
    assert response is not None and response.status == 404


def test_a_clinician_releases_a_held_radiology_report_and_it_reaches_pkb(
    page: Page, live_server, sandbox, team, clinician
) -> None:
    from pkb_bridge import services
    from pkb_bridge.models import Publication, ReleasePolicy

    ReleasePolicy.objects.create(team=team, category="radiology", mode="hold")
    patient = PatientFactory(teams=[team], family_name="Marvin", given_name="Paranoid")
    ResultFactory(
        patient=patient,
        category="radiology",
        source_system="CRIS",
        service_code="MRPR",
        service_name="MRI prostate",
        report_text="Findings: no local recurrence.\nConclusion: stable.",
        observed_at=timezone.now() - dt.timedelta(days=5),
    )
    services.enrolment_opt_in(
        attestation="Consented in clinic, paper form filed", patient=patient, actor=clinician
    )
    publication = Publication.objects.get(patient=patient, category="radiology")
    assert publication.state == "held"

    log_in(page, live_server, clinician.username)
    open_patient(page, live_server, patient)
    panel = page.locator(".pkb-panel")
    row = panel.locator("table.pkb-items tr", has_text="MRI prostate")
    expect(row).to_contain_text("Held")
    row.get_by_role("button", name="Release").click()
    expect(panel.locator("table.pkb-items tr", has_text="MRI prostate")).not_to_contain_text("Held")

    publication.refresh_from_db()
    assert publication.state == "released"
    assert publication.decisions.last().decided_by == clinician
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not (sandbox.state.patient(patient.nhs_number) or {}).get(
        "radiology"
    ):
        time.sleep(0.2)
    assert len(sandbox.state.patient(patient.nhs_number)["radiology"]) == 1
