"""Consumers of the core's events (after commit: results, appointments, documents,
demographics, diagnoses), receivers of the ``rms`` signals (inside the transaction of the change
that caused them) and of the bridge's own (``pkb_bridge.signals``): each a call of a PKB bridge
service (docs/adr/0002-signals-between-apps.md). The bridge's own
signals raise and close its work items (``pkb_bridge.work_items``); they come from background
jobs (the dispatcher, the invitation sweeper), so those items are raised by the system actor."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from pkb_bridge import selectors, services, work_items
from pkb_bridge.services import enrolment
from rms.models import Appointment, Document, DomainEvent, Patient, Result
from rms.services import system_user

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


def appointment_event(event: DomainEvent) -> None:
    appointment = Appointment.objects.select_related("patient").filter(pk=event.subject_id).first()
    if appointment is not None:
        services.on_appointment_changed(appointment=appointment)


def document_event(event: DomainEvent) -> None:
    document = Document.objects.select_related("patient").filter(pk=event.subject_id).first()
    if document is not None:
        services.on_document_changed(document=document)


def diagnoses_event(event: DomainEvent) -> None:
    patient = Patient.objects.filter(pk=event.patient_id).first() if event.patient_id else None
    if patient is not None:
        services.on_diagnoses_changed(patient=patient, source_ref=f"a31:event:{event.pk}")


def patient_event(event: DomainEvent) -> None:
    patient = Patient.objects.filter(pk=event.subject_id).first()
    if patient is not None:
        services.on_patient_changed(
            patient=patient,
            changed_fields=event.payload.get("changed_fields", ()),
            source_ref=f"a31:event:{event.pk}",
        )


_RECORD_CONSUMERS = {
    DomainEvent.Kind.APPOINTMENT_CHANGED: appointment_event,
    DomainEvent.Kind.DOCUMENT_CHANGED: document_event,
    DomainEvent.Kind.DIAGNOSES_CHANGED: diagnoses_event,
    DomainEvent.Kind.PATIENT_CHANGED: patient_event,
}
SHARED_EVENTS = (*RESULT_EVENTS, *_RECORD_CONSUMERS)
# The items PKB is sent only while the patient's enrolment is active (``_item_changed``,
# ``on_result_deleted``, ``hold_if_breach_evidence`` each look for it first).
_ITEM_KINDS = frozenset(
    (*RESULT_EVENTS, DomainEvent.Kind.APPOINTMENT_CHANGED, DomainEvent.Kind.DOCUMENT_CHANGED)
)


def share_event(event: DomainEvent) -> None:
    """The bridge's consumer of the core's events, after their commit: one consumer for all
    of them, so that a patient's changes reach PKB's outbox in the order they were filed.
    Each reads the record as it is now; an item deleted since needs nothing. Repeating an
    event queues nothing more (the outbox keys messages by item and state, or by event)."""
    kind = DomainEvent.Kind(event.kind)
    if kind in _ITEM_KINDS and not selectors.shared_with_pkb(patient_id=event.patient_id):
        return  # most patients are not shared: one small query, nothing read or built
    if kind in _RESULT_SERVICES:
        result_event(event)
    else:
        _RECORD_CONSUMERS[kind](event)


def unshared_patients(patient_ids: Collection[int]) -> set[int]:
    """The patients not shared with PKB now: ``share_event`` passes over their items' events
    (``_ITEM_KINDS``), and so may the events' consumer, without calling it."""
    return set(patient_ids) - enrolment.shared_patients(patient_ids)


IDLE_KINDS = _ITEM_KINDS


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


# ---------------------------------------------------------------------------
# The bridge's own signals: its work items
# ---------------------------------------------------------------------------
def message_rejected(sender: Any, *, message: Any, **kwargs: Any) -> None:
    work_items.work_item_raise_for_rejected_message(message=message, actor=system_user())


def message_stalled(sender: Any, *, message: Any, **kwargs: Any) -> None:
    work_items.work_item_raise_for_stalled_message(message=message, actor=system_user())


def stalls_cleared(sender: Any, **kwargs: Any) -> None:
    work_items.work_items_close_for_cleared_stalls(actor=system_user())


def auto_release_due(sender: Any, *, publication: Any, **kwargs: Any) -> None:
    work_items.work_item_raise_for_auto_release(publication=publication, actor=system_user())


def auto_release_settled(sender: Any, *, publication: Any, **kwargs: Any) -> None:
    work_items.work_items_close_for_settled_auto_release(
        publication=publication, actor=publication.decided_by or system_user()
    )


def nhs_number_unverified(sender: Any, *, enrolment: Any, **kwargs: Any) -> None:
    work_items.work_item_raise_for_unverified_nhs_number(enrolment=enrolment, actor=system_user())


def nhs_number_verified(sender: Any, *, enrolment: Any, **kwargs: Any) -> None:
    work_items.work_items_close_for_verified_nhs_number(enrolment=enrolment, actor=system_user())


def registration_email_refused(sender: Any, *, enrolment: Any, **kwargs: Any) -> None:
    work_items.work_item_raise_for_refused_email(enrolment=enrolment, actor=system_user())


def onboarding_needed(sender: Any, *, enrolment: Any, **kwargs: Any) -> None:
    work_items.work_item_raise_for_onboarding(enrolment=enrolment, actor=system_user())


def invitation_failed(sender: Any, *, enrolment: Any, **kwargs: Any) -> None:
    work_items.work_item_raise_for_invitation_failure(enrolment=enrolment, actor=system_user())


def message_delivered(sender: Any, *, message: Any, **kwargs: Any) -> None:
    work_items.work_items_close_for_delivered_message(message=message, actor=system_user())


def portal_patients(sender: Any, **kwargs: Any) -> Any:
    return selectors.shared_patient_ids()
