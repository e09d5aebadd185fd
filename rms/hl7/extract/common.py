"""Field-reading helpers shared by the extractors, and the messages the RMS takes."""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from datetime import date, datetime

from rms.hl7.errors import ErrorCode, Hl7ParseError, Hl7UnsupportedError
from rms.hl7.parse import ParsedMessage, Segment

Timestamp = datetime | date | None

# (MSH-9.1, MSH-9.2) pairs the RMS takes, and the versions.
SUPPORTED_MESSAGES: dict[str, frozenset[str]] = {
    "ADT": frozenset({"A28", "A31", "A04", "A08"}),
    "ORU": frozenset({"R01"}),
    "SIU": frozenset({"S12", "S13", "S14", "S15", "S26"}),
    "MDM": frozenset({"T02", "T11"}),
}
SUPPORTED_VERSIONS = frozenset({"2.3", "2.3.1", "2.4", "2.5", "2.5.1"})

TEXT_VALUE_TYPES = frozenset({"TX", "FT", "ST"})
INTEGER = re.compile(r"\d{1,9}", re.ASCII)


def require_supported(msg: ParsedMessage) -> None:
    """Raise ``Hl7UnsupportedError`` (AR) unless the RMS takes this type, event and version."""
    triggers = SUPPORTED_MESSAGES.get(msg.message_type)
    if triggers is None:
        raise Hl7UnsupportedError(
            f"message type {msg.message_type[:10]!r} is not accepted",
            field="MSH-9",
            hl7_code=ErrorCode.UNSUPPORTED_MESSAGE_TYPE,
        )
    if msg.trigger_event not in triggers:
        raise Hl7UnsupportedError(
            f"trigger event {msg.trigger_event[:10]!r} is not accepted for {msg.message_type}",
            field="MSH-9",
            hl7_code=ErrorCode.UNSUPPORTED_EVENT_CODE,
        )
    if msg.version not in SUPPORTED_VERSIONS:
        raise Hl7UnsupportedError(
            f"HL7 version {msg.version[:10]!r} is not accepted; send 2.3 to 2.5.1",
            field="MSH-12",
            hl7_code=ErrorCode.UNSUPPORTED_VERSION_ID,
        )


def leaf(
    segment: Segment,
    field_number: int,
    component: int = 1,
    subcomponent: int = 1,
    *,
    repetition: int = 1,
) -> str:
    """A leaf value with HL7's explicit null ``""`` read as blank."""
    value = segment.value(field_number, component, subcomponent, repetition=repetition)
    return "" if value == '""' else value


def free_text(segment: Segment, field_number: int, *, repetition: int = 1) -> str:
    value = segment.text(field_number, repetition=repetition)
    return "" if value == '""' else value


def components_of(segment: Segment, field_number: int, repetition: int) -> list[str]:
    return ["" if c == '""' else c for c in segment.components(field_number, repetition=repetition)]


def note_text(nte: Segment) -> str:
    return "\n".join(free_text(nte, 3, repetition=r) for r in range(1, nte.repetition_count(3) + 1))


def person_text(segment: Segment, field_number: int) -> str:
    """An XCN (first repetition) as "Title Given Family"; the id alone if no name is sent."""
    title, given, family = (leaf(segment, field_number, c) for c in (6, 3, 2))
    text = " ".join(part for part in (title, given, family) if part)
    return text or leaf(segment, field_number, 1)


# PL components read as a place: point of care, room, bed, facility, building, floor.
_LOCATION_COMPONENTS = (1, 2, 3, 4, 7, 8)


def location_text(segment: Segment, field_number: int) -> str:
    """A PL: its description (PL.9) if sent, else its parts joined with ", "."""
    description = leaf(segment, field_number, 9)
    if description:
        return description
    parts = (leaf(segment, field_number, c) for c in _LOCATION_COMPONENTS)
    return ", ".join(part for part in parts if part)


def require_type(msg: ParsedMessage, message_type: str) -> None:
    """Raise ``Hl7UnsupportedError`` unless this is ``message_type`` with an event we take."""
    if msg.message_type != message_type:
        raise Hl7UnsupportedError(
            f"expected an {message_type} message, not {msg.message_type[:10]!r}",
            field="MSH-9",
            hl7_code=ErrorCode.UNSUPPORTED_MESSAGE_TYPE,
        )
    if msg.trigger_event not in SUPPORTED_MESSAGES[message_type]:
        raise Hl7UnsupportedError(
            f"{message_type} trigger event {msg.trigger_event[:10]!r} is not accepted",
            field="MSH-9",
            hl7_code=ErrorCode.UNSUPPORTED_EVENT_CODE,
        )


@dataclass(frozen=True, slots=True)
class Attachment:
    """An ED value: ``data`` decoded from base64, or the text's bytes for encoding ``A``."""

    type_of_data: str  # ED.2, e.g. APPLICATION, TEXT
    subtype: str  # ED.3, e.g. PDF, HTML
    encoding: str  # ED.4, Base64 or A
    data: bytes


def read_attachment(segment: Segment) -> Attachment:
    """OBX-5 as ED; repetitions are one value split for length, so their data is joined."""
    field_number, field_name = 5, "OBX-5"
    repetitions = range(1, segment.repetition_count(field_number) + 1)
    encoding = leaf(segment, field_number, 4).strip()
    data_text = "".join(leaf(segment, field_number, 5, repetition=r) for r in repetitions)
    if not data_text.strip():
        raise Hl7ParseError(
            f"{field_name}.5 (attachment data) is empty",
            field=f"{field_name}.5",
            hl7_code=ErrorCode.REQUIRED_FIELD_MISSING,
        )
    if encoding.upper() == "BASE64":
        try:
            data = base64.b64decode("".join(data_text.split()), validate=True)
        except (binascii.Error, ValueError):
            raise Hl7ParseError(
                f"{field_name}.5 is not valid base64", field=f"{field_name}.5"
            ) from None
    elif encoding.upper() == "A":
        data = data_text.encode("utf-8")
    else:
        raise Hl7ParseError(
            f"{field_name}.4 (encoding) must be Base64 or A",
            field=f"{field_name}.4",
            hl7_code=ErrorCode.TABLE_VALUE_NOT_FOUND,
        )
    return Attachment(
        type_of_data=leaf(segment, field_number, 2).strip(),
        subtype=leaf(segment, field_number, 3).strip(),
        encoding=encoding,
        data=data,
    )
