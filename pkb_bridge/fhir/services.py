"""The FHIR side of the PKB bridge: questionnaire requests out, responses and patient-entered
data in.

- ``questionnaire_requests_send``: each pending PKB-channel request of a patient shared with
  PKB (and registered there) goes as ``$send-questionnaire-request``. No answer, a timeout or
  a 5xx leaves it pending for the next run (nothing lost); a 4xx fails it with PKB's words and
  raises a work item; a refused token stops the run without failing anyone's request. A
  questionnaire without a PKB id is a set-up fault: its requests wait, and the administrators
  (not the clinical worklist) get one work item.
- ``poll``: QuestionnaireResponses and Observations PKB updated since the cursor. Each is kept
  as received (``FhirInbound``) and filed in its own transaction: a response through
  ``careplans.questionnaires.services.record_response`` (which scores it and raises its
  alerts), an observation as a patient-entered ``rms.Result`` (which runs the plan's rules).
  What cannot be filed is held with the reason and a work item, never dropped. The cursor
  moves only after a whole search was stored, so an outage re-reads instead of skipping.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from careplans.models import Questionnaire, QuestionnaireRequest
from careplans.questionnaires import services as questionnaire_services
from pkb_bridge.fhir import alerts, bodies
from pkb_bridge.fhir.client import FhirClient, FhirError
from pkb_bridge.fhir.observations import ObservationError, result_input
from pkb_bridge.models import Connection, Enrolment, FhirCursor, FhirInbound
from rms.models import Patient
from rms.services import result_record, system_user

logger = logging.getLogger("pkb_bridge")

RESPONSE = "QuestionnaireResponse"
OBSERVATION = "Observation"
# Re-read this far behind the cursor: PKB's ``gt`` and clocks can put two resources in the
# same instant, and filing is idempotent, so a short overlap costs nothing and skips nothing.
CURSOR_OVERLAP = dt.timedelta(minutes=5)


class Unfiled(Exception):
    """The resource is kept but cannot be filed yet; the message says why, for a person."""


class NotYet(Unfiled):
    """Kept and not filed, with no work item: nothing is wrong (a response still in progress)."""


# ---------------------------------------------------------------------------
# Questionnaire requests
# ---------------------------------------------------------------------------
@dataclass
class SendOutcome:
    sent: int = 0
    failed: int = 0
    waiting: int = 0
    error: str = ""


def _fail(request: QuestionnaireRequest, error: str) -> None:
    with transaction.atomic():
        questionnaire_services.mark_request_failed(request, error=error, permanent=True)
        alerts.request_failed(request=request, error=error)


def _unconfigured(request: QuestionnaireRequest) -> None:
    error = (
        f"the questionnaire '{request.questionnaire.title}' has no PKB questionnaire id; the "
        "request waits until an administrator sets it (Django admin, Questionnaires)."
    )
    with transaction.atomic():
        if request.last_error != error:
            questionnaire_services.mark_request_failed(request, error=error, permanent=False)
        alerts.questionnaire_unconfigured(questionnaire=request.questionnaire)


def _refusal(request: QuestionnaireRequest, enrolment: Enrolment | None) -> str:
    if enrolment is None:
        return (
            "the patient is not shared with Patients Know Best. Share them with PKB from the "
            "patient's record, then request the questionnaire again."
        )
    if not request.patient.nhs_number:
        return "the patient has no NHS number, which PKB needs to find them."
    return ""


def questionnaire_requests_send(*, client: FhirClient, limit: int = 100) -> SendOutcome:
    """Send pending PKB questionnaire requests (see the module docstring). Safe to run again
    and in several workers: a request already sent is not sent again by ``mark_request_sent``;
    two workers at once may both post one request (PKB would email the patient twice), so
    beat runs this task alone."""
    outcome = SendOutcome()
    requests = list(questionnaire_services.pending_pkb_requests(limit))
    enrolments = {
        e.patient_id: e
        for e in Enrolment.objects.filter(
            patient_id__in=[r.patient_id for r in requests], status=Enrolment.Status.ACTIVE
        )
    }
    for request in requests:
        enrolment = enrolments.get(request.patient_id)
        refusal = _refusal(request, enrolment)
        if refusal:
            _fail(request, refusal)
            outcome.failed += 1
            continue
        if not request.questionnaire.pkb_questionnaire_id:
            # The set-up is wrong, not the patient's care: the administrators are told (once
            # per questionnaire) and the request waits, to go once the id is set.
            _unconfigured(request)
            outcome.waiting += 1
            continue
        if enrolment is None or enrolment.registered_at is None:
            # PKB has not accepted the registration yet: it would not know the patient.
            outcome.waiting += 1
            continue
        parameters = bodies.send_questionnaire_parameters(
            nhs_number=request.patient.nhs_number or "",
            patient_system=settings.PKB_FHIR_PATIENT_SYSTEM,
            request_id=str(request.public_id),
            due_date=request.due_date.isoformat() if request.due_date else None,
        )
        try:
            answer, location = client.send_questionnaire_request(
                questionnaire_id=request.questionnaire.pkb_questionnaire_id,
                parameters=parameters,
            )
        except FhirError as exc:
            connection_level = exc.status in (None, 401, 403)
            if exc.permanent and not connection_level:
                _fail(request, str(exc))
                outcome.failed += 1
                continue
            # PKB unreachable, or our credentials refused: every request would fare the
            # same, so the run stops and they all stay pending.
            questionnaire_services.mark_request_failed(request, error=str(exc), permanent=False)
            outcome.error = str(exc)
            logger.warning("Questionnaire requests not sent to PKB: %s", exc)
            break
        questionnaire_services.mark_request_sent(
            request, external_id=bodies.request_external_id(answer, location)
        )
        outcome.sent += 1
    return outcome


# ---------------------------------------------------------------------------
# Filing what PKB sends
# ---------------------------------------------------------------------------
def _patient(resource: dict[str, Any]) -> tuple[str, Patient]:
    system = settings.PKB_FHIR_PATIENT_SYSTEM
    nhs_number = bodies.patient_nhs_number(resource, patient_system=system)
    if not nhs_number:
        raise Unfiled(f"it names no patient by NHS number (identifier system {system}).")
    patient = Patient.objects.filter(nhs_number=nhs_number).first()
    if patient is None:
        raise Unfiled(f"no patient in the record has the NHS number {nhs_number}.")
    return nhs_number, patient


def _file_response(inbound: FhirInbound, resource: dict[str, Any]) -> None:
    if resource.get("status") not in ("completed", "amended"):
        raise NotYet(f"the response is {resource.get('status') or 'of no status'}, not completed.")
    inbound.nhs_number, patient = _patient(resource)
    inbound.patient = patient
    reference = bodies.questionnaire_reference(resource)
    questionnaire = (
        Questionnaire.objects.filter(pkb_questionnaire_id=reference)
        .exclude(pkb_questionnaire_id="")
        .first()
        if reference
        else None
    )
    if questionnaire is None:
        raise Unfiled(
            f"no questionnaire has the PKB id {reference!r}"
            if reference
            else "it does not say which questionnaire it answers."
        )
    request = (
        QuestionnaireRequest.objects.filter(
            patient=patient,
            questionnaire=questionnaire,
            channel=QuestionnaireRequest.Channel.PKB,
            status=QuestionnaireRequest.Status.SENT,
        )
        .order_by("sent_at", "id")
        .first()
    )
    inbound.response = questionnaire_services.record_response(
        patient=patient,
        questionnaire=questionnaire,
        response_json=resource,
        source="pkb",
        request=request,
        external_id=inbound.fhir_id,
    )


def _file_observation(inbound: FhirInbound, resource: dict[str, Any]) -> None:
    inbound.nhs_number, patient = _patient(resource)
    inbound.patient = patient
    try:
        data = result_input(resource)
    except ObservationError as exc:
        raise Unfiled(f"{exc}.") from None
    outcome = result_record(patient=patient, data=data, actor=system_user())
    inbound.result = outcome.result


FILERS: dict[str, Callable[[FhirInbound, dict[str, Any]], None]] = {
    RESPONSE: _file_response,
    OBSERVATION: _file_observation,
}


def _words(error: ValidationError) -> str:
    return " ".join(error.messages)


def _fhir_id(resource: dict[str, Any]) -> str:
    fhir_id = resource.get("id")
    if isinstance(fhir_id, str) and fhir_id.strip():
        return fhir_id.strip()[:120]
    # No id: keyed by the content, so the same resource fetched again is still one row.
    digest = hashlib.sha256(json.dumps(resource, sort_keys=True).encode()).hexdigest()
    return f"no-id:{digest[:40]}"


@transaction.atomic
def inbound_receive(*, resource_type: str, resource: dict[str, Any]) -> FhirInbound:
    """Keep one resource from PKB and file it (in this transaction, so the row and what it
    filed commit together). Safe to repeat: a resource already filed in this version is left
    alone; a held one is tried again."""
    fhir_id = _fhir_id(resource)
    updated = bodies.last_updated(resource)[:40]
    inbound = (
        FhirInbound.objects.select_for_update()
        .filter(resource_type=resource_type, fhir_id=fhir_id)
        .first()
    )
    filed = inbound is not None and inbound.status == FhirInbound.Status.FILED
    if inbound is not None and filed and inbound.last_updated == updated:
        return inbound
    if inbound is None:
        inbound = FhirInbound(resource_type=resource_type, fhir_id=fhir_id)
    inbound.resource = resource
    inbound.last_updated = updated
    return _file(inbound)


def inbound_refile(*, inbound: FhirInbound) -> FhirInbound:
    """Try a held resource again (after its patient or questionnaire was set up). Safe to
    repeat: a filed one is left alone."""
    with transaction.atomic():
        fresh = FhirInbound.objects.select_for_update().get(pk=inbound.pk)
        if fresh.status == FhirInbound.Status.FILED:
            return fresh
        return _file(fresh)


def _file(inbound: FhirInbound) -> FhirInbound:
    resource = inbound.resource
    filer = FILERS.get(inbound.resource_type)
    alert = True
    try:
        if filer is None or resource.get("resourceType") != inbound.resource_type:
            raise Unfiled(f"it is not a {inbound.resource_type}.")
        if inbound.fhir_id.startswith("no-id:"):
            raise Unfiled("it has no id, so it could not be filed only once.")
        with transaction.atomic():  # a refusal undoes what filing had begun, nothing more
            filer(inbound, resource)
    except NotYet as exc:
        inbound.status, inbound.reason, alert = FhirInbound.Status.HELD, str(exc), False
    except Unfiled as exc:
        inbound.status, inbound.reason = FhirInbound.Status.HELD, str(exc)
    except ValidationError as exc:
        inbound.status, inbound.reason = FhirInbound.Status.HELD, _words(exc)
    else:
        inbound.status, inbound.reason, alert = FhirInbound.Status.FILED, "", False
    try:
        with transaction.atomic():
            inbound.save()
    except IntegrityError:
        # Another poller stored the same resource a moment ago: theirs is the row.
        return FhirInbound.objects.get(resource_type=inbound.resource_type, fhir_id=inbound.fhir_id)
    if alert:
        alerts.inbound_held(inbound=inbound)
    return inbound


# ---------------------------------------------------------------------------
# The poll
# ---------------------------------------------------------------------------
@dataclass
class PollOutcome:
    received: dict[str, int] = field(default_factory=dict)
    held: dict[str, int] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


def _cursor(resource_type: str) -> FhirCursor:
    connection, _ = Connection.objects.get_or_create(name="pkb")
    cursor, _ = FhirCursor.objects.get_or_create(connection=connection, resource_type=resource_type)
    return cursor


def _instant(text: str) -> dt.datetime | None:
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def poll_type(*, client: FhirClient, resource_type: str, outcome: PollOutcome) -> None:
    """Read and file one resource type since its cursor; move the cursor when all is stored."""
    cursor = _cursor(resource_type)
    params: dict[str, str] = {}
    if cursor.last_updated is not None:
        since = (cursor.last_updated - CURSOR_OVERLAP).astimezone(dt.UTC)
        params["_lastUpdated"] = "gt" + since.isoformat().replace("+00:00", "Z")
    newest = cursor.last_updated
    received = held = 0
    try:
        for resource in client.search(resource_type, params):
            inbound = inbound_receive(resource_type=resource_type, resource=resource)
            received += 1
            held += inbound.status == FhirInbound.Status.HELD
            moment = _instant(bodies.last_updated(resource))
            if moment is not None and (newest is None or moment > newest):
                newest = moment
    except FhirError as exc:
        # What was stored stays stored; the cursor stays, so the next poll reads it again.
        outcome.errors[resource_type] = str(exc)
        FhirCursor.objects.filter(pk=cursor.pk).update(
            last_error=str(exc)[:2000], polled_at=timezone.now()
        )
        logger.warning("Poll of PKB %s failed: %s", resource_type, exc)
        return
    finally:
        outcome.received[resource_type] = received
        outcome.held[resource_type] = held
    FhirCursor.objects.filter(pk=cursor.pk).update(
        last_updated=newest, polled_at=timezone.now(), last_error=""
    )


def poll(*, client: FhirClient) -> PollOutcome:
    """Fetch and file what PKB has for us: questionnaire responses, then patient-entered
    observations. Safe to repeat and to interrupt."""
    outcome = PollOutcome()
    for resource_type in (RESPONSE, OBSERVATION):
        poll_type(client=client, resource_type=resource_type, outcome=outcome)
    return outcome
