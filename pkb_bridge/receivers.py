"""Receivers of the ``rms`` signals (inside the transaction of the change that caused them) and
consumers of its events (after commit): each a one-line call of a PKB bridge service
(docs/adr/0002-signals-between-apps.md)."""

from __future__ import annotations

from typing import Any

from pkb_bridge import services
from pkb_bridge.services import enrolment
from rms.models import DomainEvent, Result

_RESULT_SERVICES = {
    DomainEvent.Kind.RESULT_RECORDED: services.on_result_recorded,
    DomainEvent.Kind.RESULT_CORRECTED: services.on_result_corrected,
    DomainEvent.Kind.RESULT_DELETED: services.on_result_deleted,
}
RESULT_EVENTS = tuple(_RESULT_SERVICES)


def result_event(event: DomainEvent) -> None:
    """After the result's commit (and after monitoring has raised what it must, so that a
    breach's evidence is held before it can be queued): share the result as it is now."""
    result = Result.objects.select_related("patient").filter(pk=event.subject_id).first()
    if result is not None:
        _RESULT_SERVICES[DomainEvent.Kind(event.kind)](result=result)
        services.hold_if_breach_evidence(result=result)


def appointment_changed(sender: Any, *, appointment: Any, **kwargs: Any) -> None:
    services.on_appointment_changed(appointment=appointment)


def document_changed(sender: Any, *, document: Any, **kwargs: Any) -> None:
    services.on_document_changed(document=document)


def diagnoses_changed(sender: Any, *, patient: Any, **kwargs: Any) -> None:
    services.on_diagnoses_changed(patient=patient)


def patient_changed(
    sender: Any, *, patient: Any, created: bool, changed_fields: Any, **kwargs: Any
) -> None:
    if not created:
        services.on_patient_changed(patient=patient, changed_fields=changed_fields)


def work_item_saved(sender: Any, *, instance: Any, created: bool, **kwargs: Any) -> None:
    # A breach's evidence must not reach an enrolled patient before a clinician has looked.
    if created:
        services.on_breach_raised(item=instance)


def history_patients(sender: Any, *, patient_ids: Any, **kwargs: Any) -> set[int]:
    return enrolment.shared_patients(patient_ids)


def history_publish(
    sender: Any, *, patient: Any, result_ids: Any, actor: Any, **kwargs: Any
) -> dict[str, int]:
    queued = enrolment.history_imported(patient=patient, result_ids=result_ids, actor=actor)
    return {"pkb_messages": queued}
