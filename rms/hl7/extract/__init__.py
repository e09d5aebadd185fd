"""Typed extraction from a parsed message: patient, results, appointment, document.

Every value comes out unescaped; HL7's explicit null ``""`` reads as blank. Timestamps follow
``rms.hl7.parse.parse_timestamp``: aware datetimes, or dates where only a date was sent. Nothing
here validates clinical sense (NHS number check digits, patient matching, status rules); that is
for the services that store the data. What is checked is what makes a value unusable: a required
identifier missing, a malformed timestamp, undecodable attachment data.
"""

from __future__ import annotations

from rms.hl7.extract.appointments import AppointmentAction, AppointmentData, extract_appointment
from rms.hl7.extract.common import (
    SUPPORTED_MESSAGES,
    SUPPORTED_VERSIONS,
    TEXT_VALUE_TYPES,
    Attachment,
    Timestamp,
    require_supported,
)
from rms.hl7.extract.documents import DocumentData, extract_document
from rms.hl7.extract.patient import (
    Address,
    PatientIdentifier,
    PatientIdentity,
    Telecom,
    extract_patient,
)
from rms.hl7.extract.results import (
    ObservationData,
    ReadValue,
    ResultGroup,
    extract_results,
    is_textual_report,
    parse_number,
    read_value,
    report_text,
)

__all__ = [
    "SUPPORTED_MESSAGES",
    "SUPPORTED_VERSIONS",
    "TEXT_VALUE_TYPES",
    "Address",
    "AppointmentAction",
    "AppointmentData",
    "Attachment",
    "DocumentData",
    "ObservationData",
    "PatientIdentifier",
    "PatientIdentity",
    "ReadValue",
    "ResultGroup",
    "Telecom",
    "Timestamp",
    "extract_appointment",
    "extract_document",
    "extract_patient",
    "extract_results",
    "is_textual_report",
    "parse_number",
    "read_value",
    "report_text",
    "require_supported",
]
