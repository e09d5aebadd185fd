"""REST API: a patient's PKB enrolment (GET, POST to opt in, DELETE to withdraw) and the schema.

Nothing is sent to PKB: an opt-in is checked at the outbox rows it writes.
"""

from __future__ import annotations

import io
import uuid

import pytest
from django.core.management import call_command
from django.urls import reverse
from drf_spectacular.drainage import GENERATOR_STATS
from rest_framework.test import APIClient

from pkb_bridge import services
from pkb_bridge.models import Enrolment, OutboundMessage
from rms.models import AccessEvent, Patient
from tests.factories import PatientFactory, ResultFactory

pytestmark = pytest.mark.django_db

Kind = OutboundMessage.Kind
Status = OutboundMessage.Status


CONSENTED = {"attestation": "Consented in clinic, paper form filed"}


def url(patient: Patient | uuid.UUID) -> str:
    public_id = patient.public_id if isinstance(patient, Patient) else patient
    return reverse("api:patient-enrolment", kwargs={"public_id": public_id})


def test_the_path_is_the_one_the_design_names(patient) -> None:
    assert url(patient) == f"/api/v1/patients/{patient.public_id}/enrolment/"


# --- POST: opt in ----------------------------------------------------------------------------


def test_a_clinician_opts_a_patient_in_and_the_registration_is_queued_first(
    api_clinician, clinician, patient
) -> None:
    ResultFactory(patient=patient)
    response = api_clinician.post(url(patient), CONSENTED, format="json")
    assert response.status_code == 201
    enrolment = Enrolment.objects.get(patient=patient)
    assert response.data["public_id"] == str(enrolment.public_id)
    assert response.data["status"] == "active"
    assert response.data["team"] == "URO"
    assert response.data["opted_in_by"] == "clinician"
    assert response.data["opted_in_at"]
    assert response.data["registered_at"] is None
    assert response.data["invitation"] == "waiting"
    assert response.data["withdrawn_at"] is None
    kinds = list(
        OutboundMessage.objects.filter(patient=patient)
        .order_by("seq")
        .values_list("kind", flat=True)
    )
    assert kinds == [Kind.REGISTRATION, Kind.LAB]
    assert enrolment.opted_in_by == clinician
    event = AccessEvent.objects.get()
    assert (event.action, event.channel, event.outcome) == ("pkb_opt_in", "api", "allowed")


def test_opting_in_a_patient_already_shared_answers_200_and_queues_nothing(
    api_clinician, clinician, patient
) -> None:
    enrolment = services.enrolment_opt_in(
        attestation="Consented in clinic, paper form filed", patient=patient, actor=clinician
    )
    response = api_clinician.post(url(patient))
    assert response.status_code == 200
    assert response.data["public_id"] == str(enrolment.public_id)
    assert OutboundMessage.objects.count() == 1


def test_opting_in_an_unverified_nhs_number_is_a_400_naming_the_reason(api_clinician, team) -> None:
    patient = PatientFactory(teams=[team], nhs_number_status="02")
    response = api_clinician.post(url(patient))
    assert response.status_code == 400
    [reason] = response.data["nhs_number_status"]
    assert "not verified (status 02)" in reason
    assert not Enrolment.objects.exists()
    assert not OutboundMessage.objects.exists()


def test_opting_in_as_a_named_team(api_clinician, clinician, patient, other_team) -> None:
    response = api_clinician.post(url(patient), {"team": "uro", **CONSENTED}, format="json")
    assert response.status_code == 201
    assert response.data["team"] == "URO"


def test_opting_in_as_a_team_the_user_cannot_write_for_is_a_403(
    api_clinician, patient, other_team
) -> None:
    response = api_clinician.post(url(patient), {"team": "CRC"}, format="json")
    assert response.status_code == 403
    assert not Enrolment.objects.exists()


def test_opting_in_as_an_unknown_team_is_a_400(api_clinician, patient) -> None:
    response = api_clinician.post(url(patient), {"team": "NOPE"}, format="json")
    assert response.status_code == 400
    assert response.data == {"team": ["Unknown team: NOPE"]}


def test_a_viewer_cannot_opt_a_patient_in(api_viewer, patient) -> None:
    assert api_viewer.post(url(patient)).status_code == 403
    assert not Enrolment.objects.exists()


def test_a_clinician_of_another_team_gets_a_404(api_other_clinician, patient) -> None:
    assert api_other_clinician.post(url(patient)).status_code == 404
    assert not Enrolment.objects.exists()
    assert AccessEvent.objects.get().outcome == "denied"


def test_an_unknown_patient_is_a_404(api_clinician) -> None:
    assert api_clinician.post(url(uuid.uuid4())).status_code == 404


def test_no_token_is_a_401(patient) -> None:
    client = APIClient()
    assert client.post(url(patient)).status_code == 401
    assert client.get(url(patient)).status_code == 401
    assert client.delete(url(patient)).status_code == 401
    assert not Enrolment.objects.exists()


# --- GET ----------------------------------------------------------------------------------


def test_get_returns_the_current_enrolment(api_viewer, clinician, patient) -> None:
    enrolment = services.enrolment_opt_in(
        attestation="Consented in clinic, paper form filed", patient=patient, actor=clinician
    )
    response = api_viewer.get(url(patient))
    assert response.status_code == 200
    assert response.data["public_id"] == str(enrolment.public_id)
    assert response.data["status"] == "active"


def test_get_is_a_404_when_the_patient_is_not_shared(api_clinician, clinician, patient) -> None:
    assert api_clinician.get(url(patient)).status_code == 404
    services.enrolment_opt_in(
        attestation="Consented in clinic, paper form filed", patient=patient, actor=clinician
    )
    services.enrolment_withdraw(patient=patient, actor=clinician)
    assert api_clinician.get(url(patient)).status_code == 404


def test_get_is_a_404_for_another_teams_patient(api_other_clinician, clinician, patient) -> None:
    services.enrolment_opt_in(
        attestation="Consented in clinic, paper form filed", patient=patient, actor=clinician
    )
    assert api_other_clinician.get(url(patient)).status_code == 404


# --- DELETE: withdraw ----------------------------------------------------------------------


def test_a_clinician_withdraws_a_patient_and_pending_messages_are_cancelled(
    api_clinician, clinician, patient
) -> None:
    ResultFactory(patient=patient)
    enrolment = services.enrolment_opt_in(
        attestation="Consented in clinic, paper form filed", patient=patient, actor=clinician
    )
    response = api_clinician.delete(
        url(patient), {"reason": "Patient asked to stop"}, format="json"
    )
    assert response.status_code == 200
    assert response.data["public_id"] == str(enrolment.public_id)
    assert response.data["status"] == "withdrawn"
    assert response.data["withdrawn_by"] == "clinician"
    assert response.data["withdrawal_reason"] == "Patient asked to stop"
    assert set(OutboundMessage.objects.values_list("status", flat=True)) == {Status.CANCELLED}


def test_withdrawing_needs_no_body(api_clinician, clinician, patient) -> None:
    services.enrolment_opt_in(
        attestation="Consented in clinic, paper form filed", patient=patient, actor=clinician
    )
    response = api_clinician.delete(url(patient))
    assert response.status_code == 200
    assert response.data["withdrawal_reason"] == ""


def test_withdrawing_a_patient_not_shared_is_a_404(api_clinician, patient) -> None:
    assert api_clinician.delete(url(patient)).status_code == 404


def test_a_viewer_cannot_withdraw(api_viewer, clinician, patient) -> None:
    services.enrolment_opt_in(
        attestation="Consented in clinic, paper form filed", patient=patient, actor=clinician
    )
    assert api_viewer.delete(url(patient)).status_code == 403
    assert Enrolment.objects.get().status == Enrolment.Status.ACTIVE


def test_a_clinician_of_another_team_cannot_withdraw(
    api_other_clinician, clinician, patient
) -> None:
    services.enrolment_opt_in(
        attestation="Consented in clinic, paper form filed", patient=patient, actor=clinician
    )
    assert api_other_clinician.delete(url(patient)).status_code == 404
    assert Enrolment.objects.get().status == Enrolment.Status.ACTIVE


# --- schema --------------------------------------------------------------------------------


def test_the_schema_documents_the_enrolment_endpoint_under_pkb(api_clinician) -> None:
    response = api_clinician.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    path = response.json()["paths"]["/api/v1/patients/{public_id}/enrolment/"]
    assert set(path) >= {"get", "post", "delete"}
    assert all(path[method]["tags"] == ["pkb"] for method in ("get", "post", "delete"))


def test_the_schema_still_generates_without_warnings_and_validates() -> None:
    # Warnings are counted process-wide; start from none so only this run's count.
    GENERATOR_STATS.reset()
    call_command("spectacular", "--validate", "--fail-on-warn", stdout=io.StringIO())
