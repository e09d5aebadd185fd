"""Shared inputs for the PKB builder tests, PKB's samples, and readers for the output."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.core import Group, Message
from hl7apy.parser import get_message_info, parse_segments

from pkb_bridge.hl7 import (
    LabObservation,
    LabReport,
    MessageContext,
    Patient,
    PersonName,
)

SAMPLES = Path(__file__).resolve().parent / "samples"
CONTROL_ID = "3f6c2a9e-0d7b-4d0e-9a53-2b1f0c7e8a11"
# 1 July 2025 11:00 UTC is 12:00 in London (BST).
SENT_AT = datetime(2025, 7, 1, 11, 0, tzinfo=UTC)
OBSERVED_AT = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)  # GMT: +0000
# Every delimiter, the escape character and a backslash sequence that looks like an escape.
NASTY = "a|b^c&d~e\\f"


def sample(name: str) -> str:
    """A PKB sample as on the wire (CR-separated); read as bytes so CRs survive."""
    return (SAMPLES / name).read_bytes().decode("utf-8")


def sample_segment(name: str, segment: str) -> str:
    return next(line for line in sample(name).split("\r") if line.startswith(segment + "|"))


def segments(message: str) -> list[str]:
    assert message.endswith("\r")
    return message[:-1].split("\r")


def segment(message: str, name: str, occurrence: int = 1) -> str:
    found = [line for line in segments(message) if line.startswith(name + "|")]
    return found[occurrence - 1]


def fields(line: str) -> list[str]:
    """``fields(line)[n]`` is field n as written (escaped); for MSH, MSH-n as well."""
    parts = line.split("|")
    if parts[0] == "MSH":
        parts.insert(1, "|")
    return parts


def field(line: str, number: int) -> str:
    parts = fields(line)
    return parts[number] if number < len(parts) else ""


def context(**overrides: Any) -> MessageContext:
    values: dict[str, Any] = {
        "sending_application": "RMS",
        "sending_facility": "RXX_URO",
        "control_id": CONTROL_ID,
        "sent_at": SENT_AT,
        "service_code": "ONC",
    }
    values.update(overrides)
    return MessageContext(**values)


def patient(**overrides: Any) -> Patient:
    values: dict[str, Any] = {
        "nhs_number": "9434765919",
        "nhs_number_status": "01",
        "given_name": "Jane",
        "middle_names": "Ann",
        "family_name": "Smith",
        "title": "Mrs",
        "date_of_birth": date(1960, 1, 1),
        "sex": "F",
        "mrn": "RMS000123",
        "mrn_assigning_authority": "RXX",
        "address_line1": "My flat name",
        "address_line2": "1, The Road",
        "city": "London",
        "county": "London",
        "postcode": "SW1A 1AA",
        "phone_home": "01234567890",
        "phone_mobile": "07123456789",
        "phone_work": "01234098765",
        "email": "jane.smith@example.org",
    }
    values.update(overrides)
    return Patient(**values)


def observation(number: int = 1, **overrides: Any) -> LabObservation:
    values: dict[str, Any] = {
        "code": f"T{number}",
        "name": f"Test {number}",
        "code_system": "RMS",
        "value": "3.1",
        "units": "ug/L",
        "reference_range": "0-5",
        "abnormal_flag": "N",
        "observed_at": OBSERVED_AT,
    }
    values.update(overrides)
    return LabObservation(**values)


def lab_report(number: int = 1, count: int = 5, **overrides: Any) -> LabReport:
    values: dict[str, Any] = {
        "filler_order_number": f"FON{number:04d}",
        "service_code": "CEA",
        "service_name": "Tumour markers",
        "service_system": "RMS",
        "observed_at": OBSERVED_AT,
        "reported_at": datetime(2025, 3, 1, 15, 30, tzinfo=UTC),
        "ordering_clinician": PersonName("Jones", "Stuart", "James", "Dr"),
        "observations": tuple(observation(n) for n in range(1, count + 1)),
    }
    values.update(overrides)
    return LabReport(**values)


# The v2.4 structure of each event (HL7 v2.4 table 0354), which MSH-9.3 must name: PKB's
# examples leave it out, but a strict receiver cannot tell the structure without it
# ("ADT_A28" is no v2.4 structure).
STRUCTURES = {
    "ADT^A28": "ADT_A05",
    "ADT^A31": "ADT_A05",
    "ORU^R01": "ORU_R01",
    "MDM^T02": "MDM_T02",
    "MDM^T11": "MDM_T01",
    "SIU^S12": "SIU_S12",
    "SIU^S13": "SIU_S12",
    "SIU^S14": "SIU_S12",
    "SIU^S15": "SIU_S12",
    "SIU^S26": "SIU_S12",
}


def hl7apy_parse(message: str) -> Message:
    """Parse with hl7apy against the v2.4 structure for the message's event, tolerantly.

    Tolerant because PKB's conventions (``NH{status:01}``, no PV1 in ADT) are not strict v2.4.
    """
    text = message.rstrip("\r")
    encoding_chars, _, version = get_message_info(text)
    assert version == "2.4"
    message_type = field(text.split("\r")[0], 9).split("^")
    structure = STRUCTURES["^".join(message_type[:2])]
    assert message_type[2:] == [structure], "MSH-9.3 is the event's v2.4 structure"
    parsed = Message(
        structure,
        version="2.4",
        validation_level=VALIDATION_LEVEL.TOLERANT,
        encoding_chars=encoding_chars,
    )
    parsed.children = parse_segments(
        text,
        "2.4",
        encoding_chars,
        VALIDATION_LEVEL.TOLERANT,
        parsed.reference,
        find_groups=True,
    )
    return parsed


def shape(element: Any) -> Any:
    """A message or group as nested (name, children) tuples; a segment as its name."""
    if isinstance(element, Message | Group):
        return (element.name, tuple(shape(child) for child in element.children))
    return element.name
