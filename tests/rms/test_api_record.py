"""REST API v1: a patient's diagnoses, results, appointments and documents."""

from __future__ import annotations

import base64
import datetime as dt
import uuid
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from rms.models import AccessEvent, Diagnosis, Document, Patient, Result
from tests.conftest import token_client
from tests.factories import (
    AppointmentFactory,
    DiagnosisFactory,
    DocumentFactory,
    ObservationFactory,
    ResultFactory,
)

pytestmark = pytest.mark.django_db


def url(name: str, patient: Patient, **kwargs: object) -> str:
    return reverse(f"api:patient-{name}", kwargs={"public_id": patient.public_id, **kwargs})


def only_event() -> AccessEvent:
    return AccessEvent.objects.get()


# Every read endpoint of a patient, for the checks they all share.
READ_ENDPOINTS = ["diagnoses", "results", "appointments", "documents"]


@pytest.mark.parametrize("name", READ_ENDPOINTS)
def test_a_viewer_can_read_each_part_of_the_record(api_viewer, patient, name) -> None:
    assert api_viewer.get(url(name, patient)).status_code == 200


@pytest.mark.parametrize("name", READ_ENDPOINTS)
def test_each_part_of_the_record_is_a_404_and_logged_denied_for_another_team(
    api_other_clinician, other_team_clinician, patient, name
) -> None:
    assert api_other_clinician.get(url(name, patient)).status_code == 404
    event = only_event()
    assert (event.user, event.patient, event.action, event.channel, event.outcome) == (
        other_team_clinician,
        patient,
        name,
        "api",
        AccessEvent.Outcome.DENIED,
    )


@pytest.mark.parametrize("name", READ_ENDPOINTS)
def test_each_part_of_the_record_needs_a_token(patient, name) -> None:
    assert APIClient().get(url(name, patient)).status_code == 401


@pytest.mark.parametrize("name", READ_ENDPOINTS)
def test_each_part_of_the_record_is_a_404_for_an_unknown_patient(api_clinician, name) -> None:
    path = reverse(f"api:patient-{name}", kwargs={"public_id": uuid.uuid4()})
    assert api_clinician.get(path).status_code == 404


# --- diagnoses -------------------------------------------------------------------------------

NEW_DIAGNOSIS = {
    "code": "363406005",
    "code_system": "SNOMED CT",
    "text": "Malignant tumour of colon",
    "diagnosed_on": "2024-02-01",
    "tumour_site": "colorectal",
    "stage": "Dukes B",
}


def test_a_clinician_reads_a_patients_diagnoses(api_clinician, clinician, patient) -> None:
    diagnosis = DiagnosisFactory(patient=patient)
    DiagnosisFactory()  # another patient's
    response = api_clinician.get(url("diagnoses", patient))
    assert response.status_code == 200
    [row] = response.data["results"]
    assert row["public_id"] == str(diagnosis.public_id)
    assert (row["code"], row["code_system"], row["stage"], row["status"]) == (
        "399068003",
        "SNOMED CT",
        "T2N0M0",
        "active",
    )
    event = only_event()
    assert (event.user, event.action, event.channel, event.outcome) == (
        clinician,
        "diagnoses",
        "api",
        AccessEvent.Outcome.ALLOWED,
    )


def test_a_clinician_records_a_diagnosis(api_clinician, patient) -> None:
    response = api_clinician.post(url("diagnoses", patient), NEW_DIAGNOSIS, format="json")
    assert response.status_code == 201, response.data
    diagnosis = Diagnosis.objects.get(public_id=response.data["public_id"])
    assert diagnosis.patient == patient
    assert (diagnosis.text, diagnosis.diagnosed_on, diagnosis.status) == (
        "Malignant tumour of colon",
        dt.date(2024, 2, 1),
        "active",
    )


def test_a_team_admin_can_record_a_diagnosis(team_admin, patient) -> None:
    response = token_client(team_admin).post(
        url("diagnoses", patient), NEW_DIAGNOSIS, format="json"
    )
    assert response.status_code == 201


def test_a_viewer_cannot_record_a_diagnosis(api_viewer, patient) -> None:
    response = api_viewer.post(url("diagnoses", patient), NEW_DIAGNOSIS, format="json")
    assert response.status_code == 403
    assert not Diagnosis.objects.exists()


def test_another_teams_clinician_cannot_record_a_diagnosis(api_other_clinician, patient) -> None:
    response = api_other_clinician.post(url("diagnoses", patient), NEW_DIAGNOSIS, format="json")
    assert response.status_code == 404
    assert not Diagnosis.objects.exists()


def test_recording_a_diagnosis_needs_a_token(patient) -> None:
    response = APIClient().post(url("diagnoses", patient), NEW_DIAGNOSIS, format="json")
    assert response.status_code == 401
    assert not Diagnosis.objects.exists()


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"code_system": "READ"}, "code_system"),
        ({"diagnosed_on": "yesterday"}, "diagnosed_on"),
        ({"text": ""}, "text"),
        ({"tumour_site": "elbow"}, "tumour_site"),
        ({"code": "C" * 21}, "code"),
    ],
)
def test_a_bad_diagnosis_is_refused_by_field(api_clinician, patient, changes, field) -> None:
    response = api_clinician.post(
        url("diagnoses", patient), {**NEW_DIAGNOSIS, **changes}, format="json"
    )
    assert response.status_code == 400
    assert field in response.data, response.data
    assert not Diagnosis.objects.exists()


# --- results ---------------------------------------------------------------------------------


def test_a_clinician_reads_results_with_their_observations(api_clinician, patient) -> None:
    result = ResultFactory(patient=patient, placer_order_number="PON1", status="final")
    ObservationFactory(result=result, sequence=1)
    ObservationFactory(
        result=result,
        sequence=2,
        code="TPSA",
        name="Total PSA",
        value_text="<0.01",
        value_numeric=Decimal("0.01"),
        comparator="<",
        abnormal_flag="L",
    )
    ResultFactory()  # another patient's
    response = api_clinician.get(url("results", patient))
    assert response.status_code == 200
    [row] = response.data["results"]
    assert row["public_id"] == str(result.public_id)
    assert (row["category"], row["placer_order_number"], row["filler_order_number"]) == (
        "lab",
        "PON1",
        result.filler_order_number,
    )
    first, second = row["observations"]
    assert (first["code"], first["value_numeric"], first["units"]) == ("PSA", "0.05", "ug/L")
    assert (second["value_text"], second["comparator"], second["value_numeric"]) == (
        "<0.01",
        "<",
        "0.01",
    )
    assert set(first) == {
        "code",
        "code_system",
        "name",
        "value_type",
        "value_text",
        "value_numeric",
        "comparator",
        "units",
        "reference_range",
        "abnormal_flag",
        "observed_at",
        "status",
        "notes",
    }
    assert only_event().action == "results"


def test_a_text_observation_has_no_numeric_value(api_clinician, patient) -> None:
    ObservationFactory(
        result=ResultFactory(patient=patient),
        value_type="TX",
        value_text="No growth",
        value_numeric=None,
    )
    response = api_clinician.get(url("results", patient))
    assert response.data["results"][0]["observations"][0]["value_numeric"] is None


def test_a_whole_numeric_value_is_shown_without_padding(api_clinician, patient) -> None:
    ObservationFactory(
        result=ResultFactory(patient=patient), value_text="140", value_numeric=Decimal("140")
    )
    response = api_clinician.get(url("results", patient))
    assert response.data["results"][0]["observations"][0]["value_numeric"] == "140"


@pytest.mark.parametrize("category", ["lab", "radiology"])
def test_results_filter_by_category(api_clinician, patient, category) -> None:
    lab = ResultFactory(patient=patient, category=Result.Category.LAB)
    scan = ResultFactory(patient=patient, category=Result.Category.RADIOLOGY, report_text="Clear")
    wanted = lab if category == "lab" else scan
    response = api_clinician.get(url("results", patient), {"category": category})
    assert [row["public_id"] for row in response.data["results"]] == [str(wanted.public_id)]


def test_an_unknown_result_category_is_refused(api_clinician, patient) -> None:
    response = api_clinician.get(url("results", patient), {"category": "histology"})
    assert response.status_code == 400
    assert "category" in response.data


def test_results_cost_the_same_queries_however_many_observations(api_clinician, patient) -> None:
    ObservationFactory(result=ResultFactory(patient=patient))
    with CaptureQueriesContext(connection) as few:
        api_clinician.get(url("results", patient))
    for _ in range(4):
        result = ResultFactory(patient=patient)
        ObservationFactory(result=result, sequence=1)
        ObservationFactory(result=result, sequence=2)
    with CaptureQueriesContext(connection) as many:
        response = api_clinician.get(url("results", patient))
    assert response.data["count"] == 5
    assert len(many.captured_queries) == len(few.captured_queries)


# --- appointments ----------------------------------------------------------------------------


def test_a_clinician_reads_a_patients_appointments(api_clinician, patient, team) -> None:
    later = AppointmentFactory(patient=patient, team=team)
    earlier = AppointmentFactory(
        patient=patient, starts_at=timezone.now() - dt.timedelta(days=30), status="attended"
    )
    AppointmentFactory()  # another patient's
    response = api_clinician.get(url("appointments", patient))
    assert response.status_code == 200
    rows = response.data["results"]
    assert [row["public_id"] for row in rows] == [str(later.public_id), str(earlier.public_id)]
    assert (rows[0]["team"], rows[0]["reason"], rows[0]["status"]) == (
        "URO",
        "PSA follow-up",
        "booked",
    )
    assert rows[1]["team"] is None
    assert only_event().action == "appointments"


# --- documents -------------------------------------------------------------------------------

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def test_the_document_list_has_metadata_and_no_content(api_clinician, patient) -> None:
    document = DocumentFactory(patient=patient)
    DocumentFactory()  # another patient's
    response = api_clinician.get(url("documents", patient))
    assert response.status_code == 200
    [row] = response.data["results"]
    assert row["public_id"] == str(document.public_id)
    assert (row["document_type"], row["title"], row["content_type"]) == (
        "CL",
        "Clinic letter",
        "html",
    )
    assert "content_html" not in row
    assert "content_pdf_base64" not in row
    assert only_event().action == "documents"


def test_a_clinician_opens_an_html_document(api_clinician, clinician, patient) -> None:
    document = DocumentFactory(patient=patient)
    response = api_clinician.get(
        url("document-detail", patient, document_public_id=document.public_id)
    )
    assert response.status_code == 200
    assert response.data["content_html"] == "<p>Dear Dr Smith, your patient remains well.</p>"
    assert response.data["content_pdf_base64"] is None
    event = only_event()
    assert (event.user, event.patient, event.action, event.channel) == (
        clinician,
        patient,
        "document",
        "api",
    )


def test_a_pdf_document_comes_as_base64(api_clinician, patient) -> None:
    document = DocumentFactory(
        patient=patient,
        content_type=Document.ContentType.PDF,
        content_html="",
        content_pdf=PDF,
    )
    response = api_clinician.get(
        url("document-detail", patient, document_public_id=document.public_id)
    )
    assert response.status_code == 200
    assert base64.b64decode(response.data["content_pdf_base64"]) == PDF
    assert response.data["content_html"] == ""


def test_a_viewer_can_open_a_document(api_viewer, patient) -> None:
    document = DocumentFactory(patient=patient)
    path = url("document-detail", patient, document_public_id=document.public_id)
    assert api_viewer.get(path).status_code == 200


def test_another_teams_clinician_cannot_open_a_document(
    api_other_clinician, other_team_clinician, patient
) -> None:
    document = DocumentFactory(patient=patient)
    path = url("document-detail", patient, document_public_id=document.public_id)
    assert api_other_clinician.get(path).status_code == 404
    assert only_event().outcome == AccessEvent.Outcome.DENIED


def test_another_patients_document_cannot_be_opened_through_this_patient(
    api_clinician, team, patient
) -> None:
    # Both patients are on the clinician's team: the document must still belong to the
    # patient named in the path.
    elsewhere = DocumentFactory(patient__teams=[team])
    path = url("document-detail", patient, document_public_id=elsewhere.public_id)
    assert api_clinician.get(path).status_code == 404


def test_opening_a_document_needs_a_token(patient) -> None:
    document = DocumentFactory(patient=patient)
    path = url("document-detail", patient, document_public_id=document.public_id)
    assert APIClient().get(path).status_code == 401
