"""Receivers of the ``rms`` signals: each a one-line call of a PKB bridge service, inside the
transaction of the change that caused it (docs/adr/0002-signals-between-apps.md)."""

from __future__ import annotations

from typing import Any

from pkb_bridge import services
from pkb_bridge.services import enrolment


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
