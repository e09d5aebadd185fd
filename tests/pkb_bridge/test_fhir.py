"""PKB's FHIR API end to end against the sandbox over real HTTP: questionnaire requests out,
responses and patient-entered observations in (the sandbox stands in for PKB)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal

import pytest
from django.utils import timezone

from careplans.models import Questionnaire, QuestionnaireRequest, QuestionnaireResponse
from careplans.questionnaires.services import response_json_from_answers
from devtools.sandbox import SandboxServer
from pkb_bridge.fhir import FhirError, client_from_settings
from pkb_bridge.fhir import services as fhir
from pkb_bridge.models import FhirCursor, FhirInbound, OutboundMessage
from pkb_bridge.tasks import fhir_poll, fhir_send
from rms.models import Result
from tests.pkb_bridge import fhir_helpers as h
from worklists.models import WorkItem

pytestmark = pytest.mark.django_db
Status = QuestionnaireRequest.Status
PHQ_HIGHEST = "LA6571-9"  # "nearly every day": 3 points


@pytest.fixture
def pkb(settings) -> Iterator[SandboxServer]:
    server = h.start_sandbox()
    h.point_settings_at(settings, server)
    yield server
    server.stop()


@pytest.fixture
def client(pkb):  # type: ignore[no-untyped-def]
    with client_from_settings() as fhir_client:
        yield fhir_client


@pytest.fixture
def phq9() -> Questionnaire:
    questionnaire = Questionnaire.objects.get(code="phq-9")
    questionnaire.pkb_questionnaire_id = "pkb-phq9"
    questionnaire.save()
    return questionnaire


def pkb_request(patient, team, questionnaire) -> QuestionnaireRequest:  # type: ignore[no-untyped-def]
    return QuestionnaireRequest.objects.create(
        patient=patient, team=team, questionnaire=questionnaire, channel="pkb"
    )


def test_a_request_for_an_enrolled_patient_is_sent_with_a_valid_token(
    pkb, client, patient, team, clinician, phq9
) -> None:
    h.enrol(patient, team=team, actor=clinician)
    request = pkb_request(patient, team, phq9)
    outcome = fhir.questionnaire_requests_send(client=client)
    assert outcome.sent == 1
    request.refresh_from_db()
    [received] = pkb.fhir.requests()
    assert request.status == Status.SENT
    assert request.external_id == received["id"]
    assert received["questionnaire_id"] == "pkb-phq9"
    assert received["nhs_number"] == patient.nhs_number
    # Sent once: a second run finds nothing pending.
    assert fhir.questionnaire_requests_send(client=client).sent == 0
    assert len(pkb.fhir.requests()) == 1


def test_a_bad_secret_is_refused_and_the_request_stays_pending(
    pkb, settings, patient, team, clinician, phq9
) -> None:
    h.point_settings_at(settings, pkb, secret="not-the-secret")
    h.enrol(patient, team=team, actor=clinician)
    request = pkb_request(patient, team, phq9)
    with client_from_settings() as client:
        with pytest.raises(FhirError, match="invalid_client") as error:
            list(client.search("Observation", {}))
        assert error.value.permanent
        outcome = fhir.questionnaire_requests_send(client=client)
    request.refresh_from_db()
    assert outcome.sent == 0
    assert "invalid_client" in outcome.error
    assert request.status == Status.PENDING  # credentials are fixed once, for everyone
    assert pkb.fhir.requests() == []


def test_an_expired_token_is_replaced_without_failing_the_call(pkb, client) -> None:
    assert list(client.search("Observation", {})) == []
    pkb.fhir.expire_tokens()
    assert list(client.search("Observation", {})) == []
    assert pkb.fhir.snapshot()["tokens_issued"] == 2


def test_pkb_refusing_a_request_fails_it_with_pkbs_words_and_raises_a_work_item(
    pkb, client, patient, team, clinician, phq9
) -> None:
    h.control(pkb, "/_sandbox/fhir/questionnaires", ["something-else"])
    h.enrol(patient, team=team, actor=clinician)
    request = pkb_request(patient, team, phq9)
    fhir.questionnaire_requests_send(client=client)
    request.refresh_from_db()
    assert request.status == Status.FAILED
    assert "Questionnaire/pkb-phq9 not found" in request.last_error
    item = WorkItem.objects.get(kind=WorkItem.Kind.DELIVERY_FAILURE, patient=patient)
    assert "Questionnaire/pkb-phq9 not found" in item.explanation
    assert item.team == team


def test_only_enrolled_patients_are_sent_requests(
    pkb, client, patient, team, clinician, phq9
) -> None:
    request = pkb_request(patient, team, phq9)
    fhir.questionnaire_requests_send(client=client)
    request.refresh_from_db()
    assert pkb.fhir.requests() == []
    assert request.status == Status.FAILED
    assert WorkItem.objects.filter(kind=WorkItem.Kind.DELIVERY_FAILURE, patient=patient).exists()


def test_a_patient_pkb_has_not_registered_yet_waits(
    pkb, client, patient, team, clinician, phq9
) -> None:
    h.enrol(patient, team=team, actor=clinician, registered=False)
    request = pkb_request(patient, team, phq9)
    assert fhir.questionnaire_requests_send(client=client).waiting == 1
    request.refresh_from_db()
    assert request.status == Status.PENDING
    assert pkb.fhir.requests() == []


def completed_phq9(phq9, patient, fhir_id: str) -> dict:  # type: ignore[no-untyped-def]
    resource = response_json_from_answers(
        questionnaire=phq9, answers={str(n): PHQ_HIGHEST for n in range(1, 10)}
    )
    resource |= {
        "id": fhir_id,
        "questionnaire": "https://pkb.example/fhir/Questionnaire/pkb-phq9",
        "subject": h.subject(patient.nhs_number),
    }
    return resource


def test_a_queued_response_is_filed_once_even_if_fetched_twice_and_alerts(
    pkb, client, patient, team, clinician, phq9
) -> None:
    h.enrol(patient, team=team, actor=clinician)
    request = pkb_request(patient, team, phq9)
    fhir.questionnaire_requests_send(client=client)
    h.control(pkb, "/_sandbox/fhir/queue", completed_phq9(phq9, patient, "qr-1"))
    fhir.poll(client=client)
    FhirCursor.objects.update(last_updated=None)  # as if the cursor had been lost
    fhir.poll(client=client)
    response = QuestionnaireResponse.objects.get()
    request.refresh_from_db()
    assert response.external_id == "qr-1"
    assert response.source == "pkb"
    assert response.request == request
    assert request.status == Status.COMPLETED
    assert FhirInbound.objects.get().status == FhirInbound.Status.FILED
    assert (
        WorkItem.objects.filter(kind=WorkItem.Kind.QUESTIONNAIRE_ALERT, patient=patient).count()
        == 1
    )


def test_a_response_for_an_unknown_patient_is_kept_with_the_reason_and_a_work_item(
    pkb, client, patient, phq9
) -> None:
    resource = completed_phq9(phq9, patient, "qr-2")
    resource["subject"] = h.subject("9434765919")
    h.control(pkb, "/_sandbox/fhir/queue", resource)
    fhir.poll(client=client)
    inbound = FhirInbound.objects.get()
    assert inbound.status == FhirInbound.Status.HELD
    assert "9434765919" in inbound.reason
    assert inbound.resource["id"] == "qr-2"
    assert not QuestionnaireResponse.objects.exists()
    item = WorkItem.objects.get(kind=WorkItem.Kind.QUESTIONNAIRE_ALERT)
    assert item.team is None  # no patient: the administrators' item


def test_a_response_to_an_unknown_questionnaire_is_kept_and_refiled_once_set_up(
    pkb, client, patient, phq9
) -> None:
    resource = completed_phq9(phq9, patient, "qr-3")
    resource["questionnaire"] = "Questionnaire/unknown-id"
    h.control(pkb, "/_sandbox/fhir/queue", resource)
    fhir.poll(client=client)
    inbound = FhirInbound.objects.get()
    assert inbound.status == FhirInbound.Status.HELD
    assert "unknown-id" in inbound.reason
    assert WorkItem.objects.filter(patient=patient, kind="questionnaire_alert").exists()
    phq9.pkb_questionnaire_id = "unknown-id"
    phq9.save()
    assert fhir.inbound_refile(inbound=inbound).status == FhirInbound.Status.FILED
    assert QuestionnaireResponse.objects.get().external_id == "qr-3"


def test_patient_entered_weight_and_blood_pressure_are_filed_as_patient_results_once(
    pkb, client, patient
) -> None:
    at = timezone.now() - dt.timedelta(days=1)
    h.control(pkb, "/_sandbox/fhir/queue", [
        h.weight("w-1", patient.nhs_number, "81.4", at),
        h.blood_pressure("bp-1", patient.nhs_number, at),
    ])  # fmt: skip
    fhir.poll(client=client)
    FhirCursor.objects.update(last_updated=None)
    fhir.poll(client=client)
    results = {r.filler_order_number: r for r in Result.objects.filter(patient=patient)}
    assert set(results) == {"Observation/w-1", "Observation/bp-1"}
    weight = results["Observation/w-1"]
    assert weight.category == Result.Category.PATIENT
    assert weight.source_system == "PKB"
    [value] = weight.observations.all()
    assert (value.code, value.value_numeric, value.units) == ("29463-7", Decimal("81.4"), "kg")
    pressure = results["Observation/bp-1"]
    assert [(o.code, int(o.value_numeric)) for o in pressure.observations.order_by("sequence")] == [
        ("8480-6", 142),
        ("8462-4", 91),
    ]
    assert FhirInbound.objects.filter(status="filed").count() == 2


def test_an_observation_for_an_unknown_patient_is_held_never_dropped(pkb, client, db) -> None:
    h.control(pkb, "/_sandbox/fhir/queue", h.weight("w-9", "9434765919", "70", timezone.now()))
    fhir.poll(client=client)
    inbound = FhirInbound.objects.get()
    assert inbound.status == FhirInbound.Status.HELD
    assert not Result.objects.exists()
    assert WorkItem.objects.get(kind=WorkItem.Kind.PATIENT_DATA).team is None


def test_an_invalid_observation_is_held_with_the_reason(pkb, client, patient) -> None:
    bad = h.weight("w-bad", patient.nhs_number, "70", timezone.now())
    del bad["code"]
    h.control(pkb, "/_sandbox/fhir/queue", bad)
    fhir.poll(client=client)
    inbound = FhirInbound.objects.get()
    assert inbound.status == FhirInbound.Status.HELD
    assert "Not a valid FHIR Observation" in inbound.reason


def test_patient_entered_results_are_not_sent_to_pkb_over_hl7(
    pkb, client, patient, team, clinician, django_capture_on_commit_callbacks
) -> None:
    from rms import services as rms_services
    from rms.services import ObservationInput, ResultInput

    h.enrol(patient, team=team, actor=clinician)
    at = timezone.now() - dt.timedelta(hours=2)
    h.control(pkb, "/_sandbox/fhir/queue", h.weight("w-2", patient.nhs_number, "80", at))
    with django_capture_on_commit_callbacks(execute=False):
        fhir.poll(client=client)
    assert Result.objects.filter(category="patient").count() == 1
    assert not OutboundMessage.objects.exists()
    # A lab result of the same patient does go: the exclusion is of patient entries only.
    with django_capture_on_commit_callbacks(execute=False):
        rms_services.result_record(
            patient=patient,
            actor=clinician,
            data=ResultInput(
                category="lab",
                source_system="LAB",
                filler_order_number="F1",
                observed_at=at,
                observations=(
                    ObservationInput(
                        code="PSA", name="PSA", value_type="NM", value_text="0.1", observed_at=at
                    ),
                ),
            ),
        )
    assert OutboundMessage.objects.filter(kind=OutboundMessage.Kind.LAB).count() == 1


def test_a_pkb_outage_loses_nothing(settings, patient, team, clinician, phq9) -> None:
    h.enrol(patient, team=team, actor=clinician)
    request = pkb_request(patient, team, phq9)
    down = h.start_sandbox()
    h.point_settings_at(settings, down)
    port = down.port
    down.stop()  # PKB is down: nothing listens
    with client_from_settings() as client:
        assert fhir.questionnaire_requests_send(client=client).sent == 0
        polled = fhir.poll(client=client)
    request.refresh_from_db()
    assert request.status == Status.PENDING
    assert request.attempts == 1 and request.last_error
    assert set(polled.errors) == {"QuestionnaireResponse", "Observation"}
    assert FhirCursor.objects.filter(last_updated__isnull=False).count() == 0
    back = h.start_sandbox(port=port)  # PKB is back, with what the patient entered meanwhile
    try:
        back.fhir.queue(h.weight("w-3", patient.nhs_number, "79", timezone.now()))
        with client_from_settings() as client:
            assert fhir.questionnaire_requests_send(client=client).sent == 1
            fhir.poll(client=client)
        request.refresh_from_db()
        assert request.status == Status.SENT
        assert Result.objects.filter(filler_order_number="Observation/w-3").exists()
    finally:
        back.stop()


def test_the_tasks_do_nothing_until_fhir_is_enabled(pkb, settings, patient) -> None:
    pkb.fhir.queue(h.weight("w-4", patient.nhs_number, "79", timezone.now()))
    settings.PKB_FHIR_ENABLED = False
    assert fhir_poll.delay().get() == 0
    settings.PKB_FHIR_ENABLED = True
    assert fhir_poll.delay().get() == 1
    assert fhir_send.delay().get() == 0
