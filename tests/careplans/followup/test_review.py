"""Virtual review: the one-screen review, recording its outcome (a letter filed and shared, the
plan's history, the work item completed, a discharge ending the plan), and the letter as a
PDF for the GP."""

from __future__ import annotations

import base64
import datetime as dt
import re
import zlib
from decimal import Decimal

import pytest
import time_machine
from django.contrib.messages import get_messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from pytest_django.asserts import assertContains, assertNotContains, assertRedirects

from careplans.followup import services
from careplans.followup.review import ReviewOutcome, review_record
from careplans.models import FollowUpPlan, Pathway, PlanChange
from pkb_bridge import services as pkb_services
from pkb_bridge.models import OutboundMessage, Publication
from rms.models import AccessEvent, Document, Patient
from tests.factories import (
    AppointmentFactory,
    ObservationFactory,
    PatientFactory,
    ResultFactory,
)
from tests.worklists.helpers import raise_item
from worklists.models import WorkItem

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}


@pytest.fixture(autouse=True)
def today():
    with time_machine.travel(dt.datetime(2025, 3, 15, 12, 0, tzinfo=dt.UTC), tick=False):
        yield


def _psa(patient, day: dt.date, value: str, comparator: str = "") -> None:
    result = ResultFactory(
        patient=patient, observed_at=dt.datetime.combine(day, dt.time(9), tzinfo=dt.UTC)
    )
    ObservationFactory(
        result=result,
        value_text=f"{comparator}{value}",
        value_numeric=Decimal(value),
        comparator=comparator,
    )


@pytest.fixture
def plan(patient, clinician) -> FollowUpPlan:
    plan = services.plan_start(
        patient=patient,
        pathway=Pathway.objects.get(code="prostate-post-prostatectomy"),
        anchor_date=dt.date(2024, 9, 1),
        actor=clinician,
    )
    _psa(patient, dt.date(2024, 12, 2), "0.01", comparator="<")
    _psa(patient, dt.date(2025, 3, 3), "0.05")
    return plan


def review_url(patient: Patient) -> str:
    return reverse("review:patient_review", args=[patient.public_id])


def pdf_url(document: Document) -> str:
    return reverse("review:letter_pdf", args=[document.public_id])


def pdf_text(data: bytes) -> str:
    """The text drawn in a PDF's content streams (ReportLab writes them ASCII85 and Flate
    encoded)."""
    chunks = []
    for stream in re.findall(rb"stream\r?\n(.*?)endstream", data, re.S):
        body = stream.strip()
        if body.endswith(b"~>"):
            body = base64.a85decode(body[:-2])
        try:
            chunks.append(zlib.decompress(body))
        except zlib.error:
            chunks.append(body)
    return b" ".join(chunks).decode("latin-1")


# --- the service ---------------------------------------------------------------------------


def test_a_review_files_a_clinic_letter_with_the_results_and_records_it_on_the_plan(
    patient, clinician, plan
):
    document = review_record(
        patient=patient,
        actor=clinician,
        outcome=ReviewOutcome.CONTINUE,
        note="PSA remains undetectable <b>well</b>.",
    )

    assert document.document_type == Document.DocumentType.CLINIC_LETTER
    assert document.content_type == Document.ContentType.HTML
    assert document.document_number.startswith("REVIEW-")
    assert document.title == "Virtual review letter"
    html = document.content_html
    assert "<td>0.05 ug/L</td>" in html
    assert "<td>&lt;0.01 ug/L</td>" in html
    assert "03-Mar-2025" in html
    assert patient.nhs_number_display in html
    assert "Continue the plan" in html
    # The clinician's note is text, not markup.
    assert "&lt;b&gt;well&lt;/b&gt;" in html
    change = PlanChange.objects.get(plan=plan, action="reviewed")
    assert change.actor == clinician
    assert change.details["outcome"] == "continue"
    assert change.details["document"] == str(document.public_id)
    assert change.details["results"][0] == {
        "test": "PSA",
        "date": "03-Mar-2025",
        "value": "0.05 ug/L",
    }
    plan.refresh_from_db()
    assert plan.status == FollowUpPlan.Status.ACTIVE


def test_a_discharge_ends_the_plan(patient, clinician, plan):
    review_record(
        patient=patient, actor=clinician, outcome=ReviewOutcome.DISCHARGE, note="Five years clear."
    )
    plan.refresh_from_db()
    assert plan.status == FollowUpPlan.Status.ENDED
    ended = PlanChange.objects.get(plan=plan, action="ended")
    assert ended.reason == "Discharged at virtual review. Five years clear."


def test_the_work_item_it_came_from_is_completed_with_a_configured_outcome(
    patient, clinician, plan
):
    item = raise_item(patient)
    review_record(
        patient=patient, actor=clinician, outcome=ReviewOutcome.CONTINUE, note="", work_item=item
    )
    item.refresh_from_db()
    assert item.status == WorkItem.Status.DONE
    assert item.outcome == "advice_given"
    assert item.closed_by == clinician
    assert item.outcome_note == "Virtual review: Continue the plan."


def test_bringing_to_clinic_completes_the_item_as_referred_back_to_clinic(patient, clinician, plan):
    item = raise_item(patient)
    review_record(
        patient=patient,
        actor=clinician,
        outcome=ReviewOutcome.BRING_TO_CLINIC,
        note="",
        work_item=item,
    )
    item.refresh_from_db()
    assert item.outcome == "referred_back_to_clinic"


def test_bringing_to_clinic_promises_an_appointment_when_none_is_booked(patient, clinician, plan):
    # A past appointment and a cancelled future one are not "booked".
    AppointmentFactory(patient=patient, starts_at=dt.datetime(2025, 1, 10, 10, tzinfo=dt.UTC))
    AppointmentFactory(
        patient=patient,
        starts_at=dt.datetime(2025, 4, 1, 10, tzinfo=dt.UTC),
        status="cancelled",
    )

    document = review_record(
        patient=patient, actor=clinician, outcome=ReviewOutcome.BRING_TO_CLINIC, note=""
    )

    assert "The hospital will send you an appointment." in document.content_html
    assert "already have an appointment" not in document.content_html


def test_bringing_to_clinic_names_the_appointment_already_booked_instead_of_promising_one(
    client, patient, clinician, plan
):
    AppointmentFactory(
        patient=patient,
        starts_at=dt.datetime(2025, 4, 2, 14, 30, tzinfo=dt.UTC),
        appointment_type="Urology clinic",
        location="Outpatients B",
    )
    AppointmentFactory(patient=patient, starts_at=dt.datetime(2025, 6, 1, 9, tzinfo=dt.UTC))

    document = review_record(
        patient=patient, actor=clinician, outcome=ReviewOutcome.BRING_TO_CLINIC, note=""
    )

    html = document.content_html
    assert "will send you an appointment" not in html
    # The first booked one, in the patient's time (BST from 30 March).
    assert "You already have an appointment booked: Urology clinic on 02-Apr-2025 15:30" in html
    assert "at Outpatients B" in html
    client.force_login(clinician)
    text = pdf_text(client.get(pdf_url(document)).content)
    assert "will send you an appointment" not in text
    assert "Urology clinic on 02-Apr-2025 15:30" in text


def test_continuing_names_the_next_appointment_booked(patient, clinician, plan):
    AppointmentFactory(
        patient=patient,
        starts_at=dt.datetime(2025, 5, 6, 9, tzinfo=dt.UTC),
        appointment_type="Telephone review",
        location="",
    )

    document = review_record(
        patient=patient, actor=clinician, outcome=ReviewOutcome.CONTINUE, note=""
    )

    assert "Your next appointment is already booked: Telephone review on 06-May-2025 10:00." in (
        document.content_html
    )


def test_the_review_screen_says_which_appointment_is_booked(client, clinician, patient, plan):
    AppointmentFactory(
        patient=patient,
        starts_at=dt.datetime(2025, 4, 2, 14, 30, tzinfo=dt.UTC),
        appointment_type="Urology clinic",
        location="Outpatients B",
    )
    client.force_login(clinician)

    response = client.get(review_url(patient))

    assertContains(response, "Already booked: Urology clinic on 02-Apr-2025 15:30 at Outpatients B")


def test_the_letter_reaches_the_pkb_outbox_when_the_patient_is_enrolled(patient, clinician, plan):
    pkb_services.enrolment_opt_in(
        attestation="Consented in clinic, paper form filed", patient=patient, actor=clinician
    )

    document = review_record(
        patient=patient, actor=clinician, outcome=ReviewOutcome.CONTINUE, note=""
    )

    publication = Publication.objects.get(document=document)
    assert publication.message is not None
    assert publication.message.kind == OutboundMessage.Kind.DOCUMENT


def test_the_letter_is_not_sent_anywhere_when_the_patient_is_not_enrolled(patient, clinician, plan):
    document = review_record(
        patient=patient, actor=clinician, outcome=ReviewOutcome.CONTINUE, note=""
    )
    assert not Publication.objects.filter(document=document).exists()


def test_a_viewer_cannot_record_a_review(patient, viewer, plan):
    with pytest.raises(PermissionDenied):
        review_record(patient=patient, actor=viewer, outcome=ReviewOutcome.CONTINUE, note="")
    assert not Document.objects.exists()


def test_a_patient_with_no_open_plan_cannot_be_reviewed(patient, clinician):
    with pytest.raises(ValidationError) as caught:
        review_record(patient=patient, actor=clinician, outcome=ReviewOutcome.CONTINUE, note="")
    assert "outcome" in caught.value.message_dict
    assert not Document.objects.exists()


def test_an_unknown_outcome_or_another_patients_item_is_refused_and_nothing_is_kept(
    patient, clinician, plan, team
):
    with pytest.raises(ValidationError) as caught:
        review_record(patient=patient, actor=clinician, outcome="cured", note="")
    assert "outcome" in caught.value.message_dict
    someone_else = PatientFactory(teams=[team])
    with pytest.raises(ValidationError) as caught:
        review_record(
            patient=patient,
            actor=clinician,
            outcome=ReviewOutcome.CONTINUE,
            note="",
            work_item=raise_item(someone_else),
        )
    assert "work_item" in caught.value.message_dict
    assert not Document.objects.exists()
    assert not PlanChange.objects.filter(action="reviewed").exists()


# --- the review page -----------------------------------------------------------------------


def test_the_review_screen_shows_results_trend_plan_items_questionnaires_and_the_form(
    client, clinician, patient, plan
):
    item = raise_item(patient, title="PSA rising")
    client.force_login(clinician)

    response = client.get(f"{review_url(patient)}?work_item={item.public_id}")

    assertContains(response, "Virtual review")
    assertContains(response, "0.05 ug/L")
    assertContains(response, "&lt;0.01 ug/L")
    assertContains(response, '<canvas data-trend-chart="trend-data-psa"')
    assertContains(response, "Threshold 0.2 ug/L")
    assertContains(response, "PSA at or above 0.2 ug/L on 2 separate samples in a row")
    assertContains(response, "Reviewing: PSA rising")
    assertContains(response, reverse("worklist_panels:patient_items", args=[patient.public_id]))
    assertContains(response, reverse("questionnaires:latest", args=[patient.public_id]))
    assertContains(response, "Record the review and file the letter")
    assertContains(response, f'value="{item.public_id}"')
    assertContains(response, patient.nhs_number_display)
    assert AccessEvent.objects.filter(user=clinician, patient=patient, action="review").exists()


def test_the_review_screen_shows_radiology_reports_with_their_conclusions(
    client, clinician, patient, plan
):
    """Clinical vocabulary: a radiology report's conclusion is shown in the virtual review.
    Reports since the plan's anchor (1 Sep 2024) only; a deleted report is not shown."""
    text = "Findings: 6 mm nodule at the anastomosis.\nConclusion: Suspicious for local recurrence."
    ResultFactory(
        patient=patient,
        category="radiology",
        service_name="MRI pelvis",
        observed_at=dt.datetime(2025, 2, 1, 9, tzinfo=dt.UTC),
        report_text=text,
    )
    ResultFactory(
        patient=patient,
        category="radiology",
        service_name="MRI prostate (staging)",
        observed_at=dt.datetime(2024, 6, 1, 9, tzinfo=dt.UTC),
        report_text="Conclusion: PI-RADS 5 lesion.",
    )
    ResultFactory(
        patient=patient,
        category="radiology",
        service_name="Bone scan",
        status="deleted",
        observed_at=dt.datetime(2025, 2, 2, 9, tzinfo=dt.UTC),
        report_text="Conclusion: sent in error.",
    )
    client.force_login(clinician)

    response = client.get(review_url(patient))

    assertContains(response, "Radiology reports")
    assertContains(response, "MRI pelvis")
    assertContains(response, "01-Feb-2025")
    assertContains(response, "Conclusion: Suspicious for local recurrence.")
    assertNotContains(response, "PI-RADS 5 lesion")  # before the anchor: staging, not follow-up
    assertNotContains(response, "sent in error")


def test_the_review_screen_shows_a_repeat_awaited(client, clinician, patient, plan):
    """Clinical vocabulary, "Awaiting confirmation": the repeat-by date is seen in review."""
    services.plan_test_confirm_by(plan=plan, test_code="PSA", repeat_by=dt.date(2025, 4, 14))
    client.force_login(clinician)
    assertContains(client.get(review_url(patient)), "repeat PSA by 14 Apr 2025")


def test_recording_the_review_returns_to_the_record_with_a_message(
    client, clinician, patient, plan
):
    item = raise_item(patient)
    client.force_login(clinician)

    response = client.post(
        review_url(patient),
        {"outcome": "bring_to_clinic", "note": "Rising PSA.", "work_item": str(item.public_id)},
    )

    assertRedirects(
        response,
        reverse("rms:patient_detail", args=[patient.public_id]),
        fetch_redirect_response=False,
    )
    assert [str(m) for m in get_messages(response.wsgi_request)] == [
        "Review recorded (bring to clinic); the review letter is filed."
    ]
    item.refresh_from_db()
    assert item.status == WorkItem.Status.DONE
    assert Document.objects.filter(patient=patient, document_number__startswith="REVIEW-").exists()


def test_a_review_without_an_outcome_is_shown_again_with_the_error(
    client, clinician, patient, plan
):
    client.force_login(clinician)
    response = client.post(review_url(patient), {"note": "Hmm"})
    assert response.status_code == 400
    assertContains(response, "This field is required", status_code=400)
    assert not Document.objects.exists()


def test_a_viewer_sees_the_review_screen_without_the_form_and_cannot_post(
    client, viewer, patient, plan
):
    client.force_login(viewer)
    response = client.get(review_url(patient))
    assertContains(response, "Only clinicians and team admins")
    assertNotContains(response, "Record the review and file the letter")

    response = client.post(review_url(patient), {"outcome": "continue"})
    assert response.status_code == 403
    assert not Document.objects.exists()


def test_another_teams_clinician_gets_a_404_on_the_review(
    client, other_team_clinician, patient, plan
):
    client.force_login(other_team_clinician)
    assert client.get(review_url(patient)).status_code == 404
    assert client.post(review_url(patient), {"outcome": "continue"}).status_code == 404
    assert not Document.objects.exists()


def test_a_work_item_of_another_patient_is_a_404(client, clinician, patient, plan, team):
    item = raise_item(PatientFactory(teams=[team]))
    client.force_login(clinician)
    response = client.get(f"{review_url(patient)}?work_item={item.public_id}")
    assert response.status_code == 404


# --- the PDF -------------------------------------------------------------------------------


def test_the_letter_is_served_as_a_pdf_with_the_patient_results_and_outcome(
    client, clinician, patient, plan
):
    document = review_record(
        patient=patient, actor=clinician, outcome=ReviewOutcome.CONTINUE, note="Stable."
    )
    client.force_login(clinician)

    response = client.get(pdf_url(document))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == 'inline; filename="review-letter.pdf"'
    assert response.content.startswith(b"%PDF")
    text = pdf_text(response.content)
    assert patient.nhs_number_display in text
    assert "12-Apr-1955" in text
    assert "0.05 ug/L" in text
    assert "Continue the plan" in text
    assert "Stable." in text
    assert "Demo NHS Foundation Trust" in text


def test_the_pdf_says_what_the_filed_letter_says(client, clinician, patient, plan):
    document = review_record(
        patient=patient, actor=clinician, outcome=ReviewOutcome.BRING_TO_CLINIC, note="Rising."
    )
    client.force_login(clinician)

    text = pdf_text(client.get(pdf_url(document)).content)

    said = [
        patient.full_name,
        patient.nhs_number_display,
        "12-Apr-1955",
        plan.pathway.name,
        "0.05 ug/L",
        ReviewOutcome.BRING_TO_CLINIC.label,
        "Rising.",
        clinician.get_full_name() or clinician.get_username(),
        plan.team.name,
    ]
    for words in said:
        assert words in document.content_html
        assert words in text


def test_a_viewer_may_read_the_pdf(client, clinician, viewer, patient, plan):
    document = review_record(
        patient=patient, actor=clinician, outcome=ReviewOutcome.CONTINUE, note=""
    )
    client.force_login(viewer)
    assert client.get(pdf_url(document)).status_code == 200


def test_another_teams_clinician_gets_a_404_for_the_pdf_and_it_is_logged(
    client, clinician, other_team_clinician, patient, plan
):
    document = review_record(
        patient=patient, actor=clinician, outcome=ReviewOutcome.CONTINUE, note=""
    )
    client.force_login(other_team_clinician)
    assert client.get(pdf_url(document)).status_code == 404
    assert AccessEvent.objects.filter(
        user=other_team_clinician, patient=patient, outcome="denied"
    ).exists()


def test_a_document_that_is_not_a_review_letter_has_no_pdf(client, clinician, patient):
    from tests.factories import DocumentFactory

    document = DocumentFactory(patient=patient)
    client.force_login(clinician)
    assert client.get(pdf_url(document)).status_code == 404


# --- the fragments the record loads --------------------------------------------------------


def test_the_header_fragment_names_the_open_plan(client, viewer, patient, plan):
    client.force_login(viewer)
    response = client.get(reverse("review:plan_summary", args=[patient.public_id]), headers=HTMX)
    assertContains(response, "Prostate cancer after radical prostatectomy")
    assertContains(response, "Active")


def test_the_decisions_fragment_lists_the_review_with_its_pdf(client, clinician, patient, plan):
    document = review_record(
        patient=patient, actor=clinician, outcome=ReviewOutcome.CHANGE_PLAN, note=""
    )
    client.force_login(clinician)
    response = client.get(reverse("review:plan_decisions", args=[patient.public_id]), headers=HTMX)
    assertContains(response, "Reviewed")
    assertContains(response, "Change the plan")
    assertContains(response, pdf_url(document))
    assertContains(response, "Started")


@pytest.mark.parametrize("name", ["plan_summary", "plan_decisions"])
def test_the_fragments_are_a_404_for_another_team(client, other_team_clinician, patient, name):
    client.force_login(other_team_clinician)
    response = client.get(reverse(f"review:{name}", args=[patient.public_id]), headers=HTMX)
    assert response.status_code == 404


def test_the_review_closes_the_items_it_addresses_and_leaves_those_unticked(
    client, clinician, patient, plan, other_patient
):
    breach = raise_item(patient)
    overdue = raise_item(patient, kind=WorkItem.Kind.OVERDUE_TEST, title="PSA overdue")
    other = raise_item(other_patient)
    client.force_login(clinician)

    shown = client.get(review_url(patient))
    # Every open monitoring item of the patient is offered, ticked; none of another patient.
    assertContains(shown, f'value="{breach.pk}"')
    assertContains(shown, f'value="{overdue.pk}"')
    assert f'value="{other.pk}"' not in shown.content.decode()

    refused = client.post(
        review_url(patient), {"outcome": "continue", "addressed": [breach.pk, other.pk]}
    )
    assert refused.status_code == 400
    breach.refresh_from_db()
    assert breach.status in WorkItem.ACTIVE

    response = client.post(review_url(patient), {"outcome": "continue", "addressed": [breach.pk]})

    assert response.status_code == 302
    breach.refresh_from_db()
    overdue.refresh_from_db()
    assert breach.status == WorkItem.Status.DONE
    assert overdue.status in WorkItem.ACTIVE
