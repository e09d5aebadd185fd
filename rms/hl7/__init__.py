"""Reading inbound HL7 v2 (2.3 to 2.5) and acknowledging it: pure functions, no ORM.

The per-message path, in order::

    text = decode_message(raw)        # bytes -> str by MSH-18; Hl7DecodeError
    msg = parse(text)                 # segments and MSH; Hl7ParseError
    require_supported(msg)            # type, event, version; Hl7UnsupportedError
    patient = extract_patient(msg)    # and extract_results / _appointment / _document
    ack = build_ack(msg, "AA")        # or build_ack(msg, error.ack_code, error=error)

Every failure on bad input is an ``Hl7Error`` with the ACK code and HL7 error code to answer
with; ``build_ack_for_unparseable`` answers when there is no parsed header to answer from.
"""

from __future__ import annotations

from rms.hl7.ack import build_ack, build_ack_for_unparseable
from rms.hl7.delimiters import DEFAULT_DELIMITERS, Delimiters
from rms.hl7.encoding import decode_message
from rms.hl7.errors import (
    ErrorCode,
    Hl7DecodeError,
    Hl7Error,
    Hl7ParseError,
    Hl7UnsupportedError,
)
from rms.hl7.escape import escape, unescape
from rms.hl7.extract import (
    Address,
    AppointmentAction,
    AppointmentData,
    Attachment,
    DocumentData,
    ObservationData,
    PatientIdentifier,
    PatientIdentity,
    ResultGroup,
    Telecom,
    extract_appointment,
    extract_document,
    extract_patient,
    extract_results,
    is_textual_report,
    report_text,
    require_supported,
)
from rms.hl7.parse import MessageHeader, ParsedMessage, Segment, parse

__all__ = [
    "DEFAULT_DELIMITERS",
    "Address",
    "AppointmentAction",
    "AppointmentData",
    "Attachment",
    "Delimiters",
    "DocumentData",
    "ErrorCode",
    "Hl7DecodeError",
    "Hl7Error",
    "Hl7ParseError",
    "Hl7UnsupportedError",
    "MessageHeader",
    "ObservationData",
    "ParsedMessage",
    "PatientIdentifier",
    "PatientIdentity",
    "ResultGroup",
    "Segment",
    "Telecom",
    "build_ack",
    "build_ack_for_unparseable",
    "decode_message",
    "escape",
    "extract_appointment",
    "extract_document",
    "extract_patient",
    "extract_results",
    "is_textual_report",
    "parse",
    "report_text",
    "require_supported",
    "unescape",
]
