"""The patient page: the header, the panels the other apps serve (loaded by URL name), the
timeline, and a page whose query count does not grow with the record."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from pytest_django.asserts import assertContains, assertNotContains

from rms.models import Patient
from tests.factories import (
    AppointmentFactory,
    DocumentFactory,
    ObservationFactory,
    PatientFactory,
    ResultFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def today():
    with time_machine.travel(dt.datetime(2025, 3, 15, 12, 0, tzinfo=dt.UTC), tick=False):
        yield


def record_url(patient: Patient) -> str:
    return reverse("rms:patient_detail", args=[patient.public_id])


def test_the_header_shows_name_nhs_number_in_3_3_4_age_and_teams(
    client, clinician, team, other_team
) -> None:
    patient = PatientFactory(
        nhs_number="9434765919",
        given_name="Arthur",
        family_name="Dent",
        date_of_birth=dt.date(1955, 4, 12),
        teams=[team, other_team],
    )
    client.force_login(clinician)

    response = client.get(record_url(patient))

    assertContains(response, "DENT, Arthur (Mr)")
    assertContains(response, '<span class="nhs-number">943 476 5919</span>', html=True)
    # 12 April 1955 to 15 March 2025: not yet 70.
    assertContains(response, '<span class="patient-age">69y</span>', html=True)
    assertContains(response, "Colorectal CNS team, Urology CNS team")


def test_the_header_loads_the_plan_and_shows_the_pkb_status_with_links_without_javascript(
    client, clinician, patient
) -> None:
    client.force_login(clinician)
    response = client.get(record_url(patient))
    summary = reverse("review:plan_summary", args=[patient.public_id])
    assertContains(response, f'hx-get="{summary}"')
    assertContains(response, "Follow-up plan")
    assertContains(response, "data-pkb-summary")
    assertContains(
        response,
        f'<a href="{reverse("pkb:patient_panel", args=[patient.public_id])}">See PKB sharing</a>',
        html=True,
    )


@pytest.mark.parametrize(
    ("name", "link"),
    [
        ("worklist_panels:patient_items", "Open work items"),
        ("charts:patient_charts", "Trend charts"),
        ("careplans:patient_plans", "Follow-up plans"),
        ("pkb:patient_panel", "PKB sharing"),
    ],
)
def test_the_other_apps_panels_are_loaded_by_htmx_with_a_link_for_no_javascript(
    client, clinician, patient, name, link
) -> None:
    client.force_login(clinician)
    response = client.get(record_url(patient))
    url = reverse(name, args=[patient.public_id])
    assertContains(response, f'hx-get="{url}"')
    assertContains(response, f'<a href="{url}">{link}</a>', html=True)


def test_the_plan_decisions_are_loaded_into_the_timeline(client, clinician, patient) -> None:
    client.force_login(clinician)
    response = client.get(record_url(patient))
    assertContains(
        response, f'hx-get="{reverse("review:plan_decisions", args=[patient.public_id])}"'
    )


def test_the_virtual_review_is_offered_to_a_clinician_and_not_to_a_viewer(
    client, clinician, viewer, patient
) -> None:
    review = reverse("review:patient_review", args=[patient.public_id])
    client.force_login(clinician)
    assertContains(client.get(record_url(patient)), f'href="{review}"')
    client.force_login(viewer)
    assertNotContains(client.get(record_url(patient)), f'href="{review}"')


def test_the_timeline_has_results_appointments_and_documents_newest_first(
    client, clinician, patient
) -> None:
    result = ResultFactory(patient=patient, observed_at=dt.datetime(2025, 1, 10, 9, tzinfo=dt.UTC))
    ObservationFactory(result=result, value_text="0.05")
    AppointmentFactory(
        patient=patient,
        starts_at=dt.datetime(2025, 2, 10, 9, tzinfo=dt.UTC),
        appointment_type="Telephone review",
        reason="PSA follow-up",
    )
    document = DocumentFactory(
        patient=patient,
        title="Letter to GP",
        authored_at=dt.datetime(2024, 12, 1, 9, tzinfo=dt.UTC),
    )
    client.force_login(clinician)

    page = client.get(record_url(patient)).content.decode()

    timeline = page[page.index('id="timeline-heading"') : page.index('id="results-heading"')]
    appointment_at = timeline.index("Telephone review — PSA follow-up")
    result_at = timeline.index("PSA 0.05 ug/L")
    document_at = timeline.index("Letter to GP")
    assert appointment_at < result_at < document_at
    assert reverse("rms:document_detail", args=[patient.public_id, document.public_id]) in timeline


def test_a_radiology_report_shows_its_conclusion_in_the_timeline(
    client, clinician, patient
) -> None:
    """A CRIS-style report (clinical details, findings, conclusion): the timeline shows the
    conclusion (rms.reports), not just "Radiology"."""
    ResultFactory(
        patient=patient,
        category="radiology",
        service_code="CTCAP",
        service_name="CT chest, abdomen and pelvis",
        observed_at=dt.datetime(2025, 2, 20, 9, tzinfo=dt.UTC),
        report_text=(
            "Clinical details: CEA rising.\nFindings: two new liver lesions.\n"
            "Conclusion: New liver lesions, highly suspicious for metastases."
        ),
    )
    client.force_login(clinician)

    page = client.get(record_url(patient)).content.decode()

    timeline = page[page.index('id="timeline-heading"') : page.index('id="results-heading"')]
    assert "CT chest, abdomen and pelvis" in timeline
    assert "Conclusion: New liver lesions, highly suspicious for metastases." in timeline
    assert "Clinical details" not in timeline


def test_the_page_has_no_inline_script_or_handler(client, clinician, patient) -> None:
    client.force_login(clinician)
    page = client.get(record_url(patient)).content.decode()
    assert re.findall(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>", page) == []
    assert re.findall(r"\son[a-z]+=", page) == []
    assert "js/trend-chart.js" in page


def _result(patient: Patient) -> None:
    result = ResultFactory(patient=patient)
    ObservationFactory(result=result, sequence=1)
    ObservationFactory(result=result, sequence=2, name="Free PSA")


def test_the_page_needs_no_more_queries_for_thirty_results_and_ten_documents_than_for_one(
    client, clinician, patient, django_assert_max_num_queries
) -> None:
    AppointmentFactory(patient=patient)
    _result(patient)
    DocumentFactory(patient=patient)
    client.force_login(clinician)
    with CaptureQueriesContext(connection) as with_one:
        client.get(record_url(patient))

    for _ in range(29):
        _result(patient)
    for _ in range(9):
        DocumentFactory(patient=patient)
    for _ in range(4):
        AppointmentFactory(patient=patient)
    with django_assert_max_num_queries(len(with_one.captured_queries)):
        response = client.get(record_url(patient))

    assert len(response.context["results"]) == 30
    assert len(response.context["documents"]) == 10
    assert len(response.context["timeline"]) == 45
