"""Receivers of the ``rms`` signals and of the bridge's own (``pkb_bridge.signals``): each a
one-line call of a PKB bridge service, inside the transaction of the change that caused it
(docs/adr/0002-signals-between-apps.md). The bridge's own signals raise and close its work
items (``pkb_bridge.work_items``); they come from background jobs (the dispatcher, the
invitation sweeper), so those items are raised by the system actor."""

from __future__ import annotations

from typing import Any

from pkb_bridge import selectors, services, work_items
from pkb_bridge.services import enrolment
from rms.services import system_user


def result_recorded(sender: Any, *, result: Any, **kwargs: Any) -> None:
    services.on_result_recorded(result=result)


def result_corrected(sender: Any, *, result: Any, **kwargs: Any) -> None:
    services.on_result_corrected(result=result)


def result_deleted(sender: Any, *, result: Any, **kwargs: Any) -> None:
    services.on_result_deleted(result=result)


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
