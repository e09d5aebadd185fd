"""A clinician sees a CT report's conclusion on the record's timeline, opens the virtual review
(imaging with its conclusion, the questionnaire scores, the appointment already booked),
brings the patient to clinic, and the letter names that appointment instead of promising one."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from careplans.followup import services
from careplans.models import Questionnaire
from careplans.questionnaires import services as qs
from rms.models import Document
from tests.browser.conftest import log_in, open_patient
from tests.browser.test_patient_layout import PHQ, PHQ9_ANSWERS
from tests.browser.test_patient_page import _pathway
from tests.factories import AppointmentFactory, PatientFactory, ResultFactory

pytestmark = pytest.mark.django_db(transaction=True)

REPORT = (
    "Clinical details: PSA rising after prostatectomy.\n"
    "Findings: a 9 mm node at the left obturator chain.\n"
    "Conclusion: Solitary left obturator node, suspicious for recurrence."
)


def test_the_review_shows_imaging_scores_and_the_booked_appointment_and_the_letter_names_it(
    page: Page, live_server, team, clinician
) -> None:
    patient = PatientFactory(teams=[team], family_name="Beeblebrox", given_name="Zaphod")
    services.plan_start(
        patient=patient,
        pathway=_pathway(),
        anchor_date=timezone.localdate() - dt.timedelta(days=400),
        actor=clinician,
    )
    ResultFactory(
        patient=patient,
        category="radiology",
        service_code="MRPEL",
        service_name="MRI pelvis",
        observed_at=timezone.now() - dt.timedelta(days=3),
        report_text=REPORT,
    )
    phq9 = Questionnaire.objects.get(code="phq-9")
    qs.record_response(
        patient=patient,
        questionnaire=phq9,
        response_json=qs.response_json_from_answers(
            questionnaire=phq9,
            answers={str(n): PHQ[v] for n, v in enumerate(PHQ9_ANSWERS[1], start=1)},
        ),
        source="clinician",
        actor=clinician,
    )
    when = timezone.localtime(timezone.now() + dt.timedelta(days=10)).replace(
        hour=14, minute=30, second=0, microsecond=0
    )
    AppointmentFactory(
        patient=patient, starts_at=when, appointment_type="Urology clinic", location="Clinic 4"
    )
    booked = f"Urology clinic on {when:%d-%b-%Y} 14:30 at Clinic 4"

    log_in(page, live_server, clinician.username)
    open_patient(page, live_server, patient)
    expect(page.locator(".timeline")).to_contain_text(
        "Conclusion: Solitary left obturator node, suspicious for recurrence."
    )

    page.get_by_role("link", name="Virtual review").first.click()
    page.wait_for_load_state("networkidle")
    expect(page.locator(".review-radiology")).to_contain_text(
        "Conclusion: Solitary left obturator node, suspicious for recurrence."
    )
    expect(page.locator("#questionnaires-latest")).to_contain_text("PHQ-9 total 11")
    expect(page.locator(".review-next-appointment")).to_contain_text(f"Already booked: {booked}")

    page.get_by_label("Bring to clinic").check()
    page.get_by_role("button", name="Record the review and file the letter").click()
    page.wait_for_url(f"{live_server.url}/patients/{patient.public_id}/")

    letter = Document.objects.get(patient=patient, title="Virtual review letter")
    assert f"You already have an appointment booked: {booked}" in letter.content_html
    assert "will send you an appointment" not in letter.content_html
