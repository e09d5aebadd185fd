"""Writes to the core clinical record.

Every change to the record goes through one of these functions, from views, the API, admin,
management commands, the HL7 feed and tasks alike. Each takes keyword arguments and the
``actor`` who made the change, runs in one transaction, validates everything before writing
anything (so a refusal leaves nothing half-saved), and raises
``django.core.exceptions.ValidationError`` with messages keyed by field name when the input is
wrong. Import them from here: ``from rms import services; services.patient_create(...)``.
"""

from __future__ import annotations

from rms.services.core import (
    NHS_NUMBER_STATUS_REFUSAL,
    PATIENT_FIELDS,
    SYSTEM_USERNAME,
    access_event_record,
    access_event_record_list,
    caseload_add,
    caseload_end,
    diagnosis_create,
    diagnosis_update,
    membership_set,
    nhs_number_status_history,
    patient_check,
    patient_create,
    patient_register_from_feed,
    patient_update,
    patient_validate,
    system_user,
    system_user_id,
    team_create,
)
from rms.services.results import (
    AppointmentInput,
    DocumentInput,
    ObservationInput,
    Outcome,
    ResultInput,
    ResultOutcome,
    appointment_record,
    document_delete,
    document_record,
    result_record,
)

__all__ = [
    "NHS_NUMBER_STATUS_REFUSAL",
    "PATIENT_FIELDS",
    "SYSTEM_USERNAME",
    "AppointmentInput",
    "DocumentInput",
    "ObservationInput",
    "Outcome",
    "ResultInput",
    "ResultOutcome",
    "access_event_record",
    "access_event_record_list",
    "appointment_record",
    "caseload_add",
    "caseload_end",
    "diagnosis_create",
    "diagnosis_update",
    "document_delete",
    "document_record",
    "membership_set",
    "nhs_number_status_history",
    "patient_check",
    "patient_create",
    "patient_register_from_feed",
    "patient_update",
    "patient_validate",
    "result_record",
    "system_user",
    "system_user_id",
    "team_create",
]
