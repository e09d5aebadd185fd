"""Work items for what the FHIR side could not do: a questionnaire request PKB refused, and a
resource from PKB that could not be filed. Raised once per cause (the work item's key)."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from rms.services import system_user
from worklists.keys import CauseKey
from worklists.models import WorkItem
from worklists.services import work_item_raise

if TYPE_CHECKING:
    from careplans.models import Questionnaire, QuestionnaireRequest
    from pkb_bridge.models import FhirInbound


@dataclass(frozen=True)
class RequestFailedKey(CauseKey):
    """A questionnaire request PKB refused, once per attempt."""

    cause: ClassVar[str] = "fhir:qreq"
    request_public_id: uuid.UUID
    attempt: int


@dataclass(frozen=True)
class UnconfiguredKey(CauseKey):
    """A questionnaire with no PKB id, once per version of its definition."""

    cause: ClassVar[str] = "fhir:qconfig"
    questionnaire_pk: int
    updated_at: dt.datetime


@dataclass(frozen=True)
class HeldResourceKey(CauseKey):
    """A resource from PKB kept but not filed."""

    cause: ClassVar[str] = "fhir:held"
    resource_type: str
    fhir_id: str


def request_failed(*, request: QuestionnaireRequest, error: str) -> None:
    """PKB refused a questionnaire request (or it cannot be sent): a delivery failure item."""
    title = request.questionnaire.title
    work_item_raise(
        kind=WorkItem.Kind.DELIVERY_FAILURE,
        key=RequestFailedKey(request_public_id=request.public_id, attempt=request.attempts),
        title=f"Questionnaire not sent to PKB: {title}",
        explanation=(
            f"The request for the patient to complete '{title}' through Patients Know Best "
            f"could not be delivered: {error}\n\nFix the cause and request the questionnaire "
            "again, or ask the patient to complete it with a clinician."
        ),
        source=f"questionnaire_request:{request.pk}",
        actor=system_user(),
        patient=request.patient,
        team=request.team,
        priority=WorkItem.Priority.HIGH,
        details={"request": str(request.public_id), "error": error},
    )


def questionnaire_unconfigured(*, questionnaire: Questionnaire) -> None:
    """Requests of a questionnaire that has no PKB id cannot be sent: an item for the
    administrators (no team, no patient: not the clinical worklist), once per questionnaire
    and version of its definition."""
    work_item_raise(
        kind=WorkItem.Kind.DELIVERY_FAILURE,
        key=UnconfiguredKey(questionnaire_pk=questionnaire.pk, updated_at=questionnaire.updated_at),
        title=f"Questionnaire has no PKB id: {questionnaire.title}",
        explanation=(
            f"'{questionnaire.title}' (code {questionnaire.code}, version "
            f"{questionnaire.version}) has no PKB questionnaire id, so requests to complete it "
            "cannot be sent to Patients Know Best. They wait, and go once the id is set: set it "
            "in Django admin, Questionnaires, to the id PKB gave the questionnaire."
        ),
        source=f"questionnaire:{questionnaire.pk}",
        actor=system_user(),
        patient=None,
        team=None,
        priority=WorkItem.Priority.HIGH,
        details={"questionnaire": questionnaire.code, "version": questionnaire.version},
    )


def inbound_held(*, inbound: FhirInbound) -> None:
    """A resource from PKB was kept but not filed: someone must match it or correct the set-up.
    With no patient, the item belongs to the administrators (no team)."""
    questionnaire = inbound.resource_type == "QuestionnaireResponse"
    what = "questionnaire response" if questionnaire else "patient-entered observation"
    work_item_raise(
        kind=WorkItem.Kind.QUESTIONNAIRE_ALERT if questionnaire else WorkItem.Kind.PATIENT_DATA,
        key=HeldResourceKey(resource_type=inbound.resource_type, fhir_id=inbound.fhir_id),
        title=f"A {what} from PKB could not be filed",
        explanation=(
            f"PKB sent a {what} ({inbound.resource_type}/{inbound.fhir_id}) that could not be "
            f"filed: {inbound.reason}\n\nIt is kept as received. Once the cause is fixed (the "
            "patient registered, the questionnaire's PKB id set), refile it from the FHIR "
            "inbound page of Django admin; it is also refiled if PKB sends it again."
        ),
        source=f"fhir_inbound:{inbound.pk}",
        actor=system_user(),
        patient=inbound.patient,
        priority=WorkItem.Priority.HIGH,
        details={"resource": f"{inbound.resource_type}/{inbound.fhir_id}"},
    )
