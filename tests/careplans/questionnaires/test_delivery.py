"""A questionnaire that cannot be delivered through PKB is refused when it is asked for, not
accepted and failed later; a set-up fault found at send time goes to the administrators.

From the issue "What a patient sees in PKB is what the lab and the clinician stand by" (Safer
opt-in and questionnaires): refused in the form and the API when the patient is not shared with
PKB, the questionnaire has no PKB id, or the due date is past. PKB's FHIR interface
(docs/pkb.md) sends a questionnaire as ``Questionnaire/<PKB id>/$send-questionnaire-request``
for a patient PKB holds: without the id or the patient there is nothing PKB could deliver.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from django.urls import reverse
from django.utils import timezone
from pytest_django.asserts import assertContains
from rest_framework.test import APIClient

from careplans.models import Questionnaire, QuestionnaireRequest
from devtools.sandbox import SandboxServer
from pkb_bridge import services as pkb_services
from pkb_bridge.fhir import client_from_settings
from pkb_bridge.fhir import services as fhir
from tests.pkb_bridge import fhir_helpers as h
from worklists.models import WorkItem

pytestmark = pytest.mark.django_db

STATEMENT = "Consented in clinic, paper form filed"


def share(patient, clinician) -> None:  # type: ignore[no-untyped-def]
    pkb_services.enrolment_opt_in(patient=patient, actor=clinician, attestation=STATEMENT)


@pytest.fixture
def gad7() -> Questionnaire:
    questionnaire = Questionnaire.objects.get(code="gad-7")
    questionnaire.pkb_questionnaire_id = "pkb-gad7"
    questionnaire.save()
    return questionnaire


def send_url(patient) -> str:  # type: ignore[no-untyped-def]
    return reverse("questionnaires:send", args=[patient.public_id])


def api_url(patient) -> str:  # type: ignore[no-untyped-def]
    return reverse("api:patient-questionnaire-requests", args=[patient.public_id])


def test_the_form_refuses_a_patient_not_shared_with_pkb(client, clinician, patient, gad7) -> None:
    client.force_login(clinician)
    response = client.post(send_url(patient), {"questionnaire": gad7.pk})
    assert response.status_code == 400
    assertContains(response, "The patient is not shared with Patients Know Best", status_code=400)
    assert not QuestionnaireRequest.objects.exists()


def test_the_form_refuses_a_questionnaire_without_a_pkb_id(client, clinician, patient) -> None:
    share(patient, clinician)
    client.force_login(clinician)
    phq9 = Questionnaire.objects.get(code="phq-9")
    response = client.post(send_url(patient), {"questionnaire": phq9.pk})
    assertContains(response, "PHQ-9 cannot be sent through PKB yet", status_code=400)
    assert not QuestionnaireRequest.objects.exists()


def test_the_form_refuses_a_due_date_in_the_past_and_keeps_what_was_entered(
    client, clinician, patient, gad7
) -> None:
    share(patient, clinician)
    client.force_login(clinician)
    yesterday = timezone.localdate() - dt.timedelta(days=1)
    response = client.post(
        send_url(patient), {"questionnaire": gad7.pk, "due_date": yesterday.isoformat()}
    )
    assertContains(response, "The due date is in the past", status_code=400)
    assertContains(response, f'value="{yesterday.isoformat()}"', status_code=400)
    assert not QuestionnaireRequest.objects.exists()


def test_a_deliverable_request_is_accepted(client, clinician, patient, gad7) -> None:
    share(patient, clinician)
    client.force_login(clinician)
    today = timezone.localdate().isoformat()
    response = client.post(send_url(patient), {"questionnaire": gad7.pk, "due_date": today})
    assert response.status_code == 302
    assert QuestionnaireRequest.objects.get().status == QuestionnaireRequest.Status.PENDING


def test_a_viewer_cannot_send_a_questionnaire(client, viewer, clinician, patient, gad7) -> None:
    share(patient, clinician)
    client.force_login(viewer)
    assert client.post(send_url(patient), {"questionnaire": gad7.pk}).status_code == 403
    assert not QuestionnaireRequest.objects.exists()


def test_the_api_refuses_each_reason_under_its_own_key(clinician, patient) -> None:
    api = APIClient()
    api.force_authenticate(clinician)
    yesterday = (timezone.localdate() - dt.timedelta(days=1)).isoformat()
    response = api.post(
        api_url(patient), {"questionnaire": "phq-9", "due_date": yesterday}, format="json"
    )
    assert response.status_code == 400
    assert set(response.data) == {"patient", "questionnaire", "due_date"}
    assert not QuestionnaireRequest.objects.exists()


def test_the_api_accepts_a_deliverable_request(clinician, patient, gad7) -> None:
    share(patient, clinician)
    api = APIClient()
    api.force_authenticate(clinician)
    response = api.post(api_url(patient), {"questionnaire": "gad-7"}, format="json")
    assert response.status_code == 201


# --- at send time ------------------------------------------------------------------------------


@pytest.fixture
def pkb(settings) -> Iterator[SandboxServer]:
    server = h.start_sandbox()
    h.point_settings_at(settings, server)
    yield server
    server.stop()


def test_a_questionnaire_without_a_pkb_id_at_send_time_goes_to_the_administrators(
    pkb, patient, team, clinician
) -> None:
    # A scheduled request (the pathway's schedule raises them without a clinician's form).
    h.enrol(patient, team=team, actor=clinician)
    phq9 = Questionnaire.objects.get(code="phq-9")
    request = QuestionnaireRequest.objects.create(
        patient=patient, team=team, questionnaire=phq9, channel="pkb"
    )
    with client_from_settings() as fhir_client:
        outcome = fhir.questionnaire_requests_send(client=fhir_client)
        again = fhir.questionnaire_requests_send(client=fhir_client)
    assert (outcome.failed, outcome.waiting, again.waiting) == (0, 1, 1)
    request.refresh_from_db()
    assert request.status == QuestionnaireRequest.Status.PENDING  # nothing lost
    assert "no PKB questionnaire id" in request.last_error
    [item] = WorkItem.objects.all()  # one item, however many runs
    assert (item.team, item.patient) == (None, None)  # the administrators', not a worklist's
    assert "PHQ-9" in item.title
    assert pkb.fhir.requests() == []
    # Once an administrator sets the id, the request goes.
    phq9.pkb_questionnaire_id = "pkb-phq9"
    phq9.save()
    with client_from_settings() as fhir_client:
        assert fhir.questionnaire_requests_send(client=fhir_client).sent == 1
