"""Parsing HL7 v2 text into segments and fields, with the message's declared delimiters.

Plain string splitting, not hl7apy: hl7apy takes ~10 ms a message, this ~0.1 ms (see
reliability-and-security.md 4.3). Segments are split into fields once; components,
repetitions and sub-components are split on access, and each leaf is unescaped when it is read.

Positions are 1-based as in HL7: ``segment.value(3, 4, 1, repetition=2)`` is PID-3.4.1 of the
second repetition. For MSH, field 1 is the field separator and field 2 the encoding characters,
so ``msh.value(10)`` is MSH-10 as everywhere else. HL7's explicit null ``""`` is returned as it was
sent; ``rms.hl7.extract`` reads it as blank.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from rms.hl7.delimiters import Delimiters
from rms.hl7.encoding import codec_for_charset, normalise_segments
from rms.hl7.errors import ErrorCode, Hl7ParseError
from rms.hl7.escape import unescape
from rms.hl7.header import read_msh

# A timestamp without an offset is the sender's local time; our senders are English Trusts.
LONDON = ZoneInfo("Europe/London")

_SEGMENT_NAME = re.compile(r"[A-Z][A-Z0-9]{2}")
_TIMESTAMP = re.compile(
    r"(?P<year>\d{4})(?P<month>\d{2})(?P<day>\d{2})"
    r"(?:(?P<hour>\d{2})(?:(?P<minute>\d{2})(?:(?P<second>\d{2})(?:\.(?P<fraction>\d+))?)?)?)?"
    r"(?P<offset>[+-]\d{4})?",
    re.ASCII,
)


@dataclass(slots=True)
class Segment:
    """One segment: its name and its fields, still escaped, split no further."""

    name: str
    fields: list[str]  # fields[n] is field n; fields[0] is the name
    delimiters: Delimiters
    encoding: str  # Python codec for \X..\ escapes

    def raw(self, field: int) -> str:
        """Field ``field`` exactly as sent (escaped, with its separators); "" if absent."""
        if 0 < field < len(self.fields):
            return self.fields[field]
        return ""

    def repetitions(self, field: int) -> list[str]:
        """The raw repetitions of a field; ``[]`` when it is empty."""
        raw = self.raw(field)
        if not raw:
            return []
        if self.name == "MSH" and field in (1, 2):
            return [raw]
        return raw.split(self.delimiters.repetition)

    def repetition_count(self, field: int) -> int:
        return len(self.repetitions(field))

    def value(
        self, field: int, component: int = 1, subcomponent: int = 1, *, repetition: int = 1
    ) -> str:
        """One leaf value, unescaped; "" if absent."""
        if self.name == "MSH" and field in (1, 2):
            # The separators themselves: never split or unescaped.
            return self.raw(field) if component == subcomponent == repetition == 1 else ""
        raw = self._leaf(field, component, subcomponent, repetition)
        return self._unescape(raw)

    def components(self, field: int, *, repetition: int = 1) -> list[str]:
        """Every component of one repetition (first sub-component of each), unescaped."""
        if self.name == "MSH" and field in (1, 2):
            return [self.raw(field)] if repetition == 1 else []
        raw = self._repetition(field, repetition)
        if not raw:
            return []
        d = self.delimiters
        return [
            self._unescape(component.split(d.subcomponent, 1)[0])
            for component in raw.split(d.component)
        ]

    def text(self, field: int, *, repetition: int = 1) -> str:
        """A whole repetition as free text (FT, TX, ST), unescaped.

        Component and sub-component separators a sender failed to escape are kept as
        characters instead of cutting the text short.
        """
        if self.name == "MSH" and field in (1, 2):
            return self.raw(field) if repetition == 1 else ""
        return self._unescape(self._repetition(field, repetition))

    def _repetition(self, field: int, repetition: int) -> str:
        repetitions = self.repetitions(field)
        if 0 < repetition <= len(repetitions):
            return repetitions[repetition - 1]
        return ""

    def _leaf(self, field: int, component: int, subcomponent: int, repetition: int) -> str:
        raw = self._repetition(field, repetition)
        if not raw:
            return ""
        d = self.delimiters
        if d.component in raw:
            parts = raw.split(d.component)
            raw = parts[component - 1] if 0 < component <= len(parts) else ""
        elif component != 1:
            return ""
        if d.subcomponent in raw:
            parts = raw.split(d.subcomponent)
            return parts[subcomponent - 1] if 0 < subcomponent <= len(parts) else ""
        return raw if subcomponent == 1 else ""

    def _unescape(self, raw: str) -> str:
        return unescape(raw, self.delimiters, encoding=self.encoding)


@dataclass(frozen=True, slots=True)
class MessageHeader:
    """What MSH says about a message: enough to route it and to acknowledge it."""

    delimiters: Delimiters
    sending_application: str  # MSH-3.1
    sending_facility: str  # MSH-4.1
    receiving_application: str  # MSH-5.1
    receiving_facility: str  # MSH-6.1
    message_datetime: datetime | date | None  # MSH-7
    message_type: str  # MSH-9.1
    trigger_event: str  # MSH-9.2
    structure: str  # MSH-9.3
    control_id: str  # MSH-10
    processing_id: str  # MSH-11.1
    version: str  # MSH-12.1
    charset: str  # MSH-18, first repetition


@dataclass(frozen=True, slots=True)
class ParsedMessage(MessageHeader):
    """A parsed message: its header fields and its segments in order."""

    segments: tuple[Segment, ...]

    def get_segments(self, name: str) -> list[Segment]:
        return [segment for segment in self.segments if segment.name == name]

    def get_segment(self, name: str) -> Segment | None:
        """The first segment called ``name``, or None."""
        for segment in self.segments:
            if segment.name == name:
                return segment
        return None

    def value(
        self,
        segment: str,
        field: int,
        component: int = 1,
        subcomponent: int = 1,
        *,
        repetition: int = 1,
    ) -> str:
        """A leaf of the first segment called ``segment``, unescaped; "" if absent."""
        found = self.get_segment(segment)
        if found is None:
            return ""
        return found.value(field, component, subcomponent, repetition=repetition)


def parse(text: str) -> ParsedMessage:
    """Split a decoded message into segments using the delimiters it declares in MSH-1/MSH-2.

    Raises ``Hl7ParseError`` (AR) when MSH is broken, a required MSH field (MSH-9, MSH-10) is
    blank, a segment has no valid name or a second MSH appears (batches are not taken).
    """
    text = normalise_segments(text)
    delimiters = _read_delimiters(text)
    lines = text.split("\r")
    charset = read_msh(lines[0]).charset
    encoding = codec_for_charset(charset) or "utf-8"
    segments: list[Segment] = []
    for number, line in enumerate(lines, start=1):
        name = line[:3]
        if not _SEGMENT_NAME.fullmatch(name) or (len(line) > 3 and line[3] != delimiters.field):
            raise Hl7ParseError(
                f"segment {number} does not start with a segment name (a raw line break "
                "inside a field?)",
                hl7_code=ErrorCode.SEGMENT_SEQUENCE_ERROR,
                ack_code="AR",
            )
        fields = line.split(delimiters.field)
        if name == "MSH":
            if number != 1:
                raise Hl7ParseError(
                    "the message has more than one MSH segment; batches are not accepted",
                    field="MSH",
                    hl7_code=ErrorCode.SEGMENT_SEQUENCE_ERROR,
                    ack_code="AR",
                )
            fields.insert(1, delimiters.field)
        segments.append(Segment(name, fields, delimiters, encoding))
    return _message(segments[0], tuple(segments), delimiters, charset)


def _read_delimiters(text: str) -> Delimiters:
    if not text.startswith("MSH"):
        raise Hl7ParseError(
            "the message does not start with an MSH segment",
            field="MSH",
            hl7_code=ErrorCode.SEGMENT_SEQUENCE_ERROR,
            ack_code="AR",
        )
    field_separator = text[3:4]
    end = text.find(field_separator, 4) if field_separator else -1
    segment_end = text.find("\r")
    if not field_separator or end == -1 or (segment_end != -1 and end > segment_end):
        raise Hl7ParseError(
            "MSH-2 (encoding characters) is missing",
            field="MSH-2",
            hl7_code=ErrorCode.REQUIRED_FIELD_MISSING,
            ack_code="AR",
        )
    encoding_characters = text[4:end]
    if not 4 <= len(encoding_characters) <= 5:
        raise Hl7ParseError(
            "MSH-2 must hold four encoding characters (component, repetition, escape, "
            "sub-component) and at most a fifth (truncation)",
            field="MSH-2",
            hl7_code=ErrorCode.DATA_TYPE_ERROR,
            ack_code="AR",
        )
    characters = field_separator + encoding_characters
    if len(set(characters)) != len(characters):
        raise Hl7ParseError(
            "the field separator (MSH-1) and encoding characters (MSH-2) must all differ",
            field="MSH-2",
            hl7_code=ErrorCode.DATA_TYPE_ERROR,
            ack_code="AR",
        )
    for character in characters:
        if character.isalnum() or character.isspace() or not character.isprintable():
            raise Hl7ParseError(
                "the field separator and encoding characters must be punctuation, not "
                "letters, digits, spaces or control characters",
                field="MSH-1" if character == field_separator else "MSH-2",
                hl7_code=ErrorCode.DATA_TYPE_ERROR,
                ack_code="AR",
            )
    return Delimiters(
        field=field_separator,
        component=encoding_characters[0],
        repetition=encoding_characters[1],
        escape=encoding_characters[2],
        subcomponent=encoding_characters[3],
        truncation=encoding_characters[4:],
    )


def _message(
    msh: Segment, segments: tuple[Segment, ...], delimiters: Delimiters, charset: str
) -> ParsedMessage:
    message_type = msh.value(9, 1).strip()
    if not message_type or message_type == '""':
        raise Hl7ParseError(
            "MSH-9 (message type) is missing",
            field="MSH-9",
            hl7_code=ErrorCode.REQUIRED_FIELD_MISSING,
            ack_code="AR",
        )
    # The whole field: it is echoed in MSA-2 and must match what the sender holds.
    control_id = msh.text(10).strip()
    if not control_id or control_id == '""':
        raise Hl7ParseError(
            "MSH-10 (message control id) is missing",
            field="MSH-10",
            hl7_code=ErrorCode.REQUIRED_FIELD_MISSING,
            ack_code="AR",
        )
    return ParsedMessage(
        delimiters=delimiters,
        sending_application=msh.value(3, 1),
        sending_facility=msh.value(4, 1),
        receiving_application=msh.value(5, 1),
        receiving_facility=msh.value(6, 1),
        message_datetime=parse_timestamp(msh.value(7, 1), "MSH-7"),
        message_type=message_type,
        trigger_event=msh.value(9, 2).strip(),
        structure=msh.value(9, 3).strip(),
        control_id=control_id,
        processing_id=msh.value(11, 1).strip(),
        version=msh.value(12, 1).strip(),
        charset=charset,
        segments=segments,
    )


def parse_timestamp(value: str, field: str) -> datetime | date | None:
    """An HL7 TS/DTM (first component only) as an aware datetime, a date, or None when blank.

    ``YYYYMMDD`` is a date. With a time (to the hour, minute, second or fraction of a second),
    the result carries the offset sent, or Europe/London when there is none. In the hour that
    the clocks go back, a local time without an offset is ambiguous; we take the first (BST)
    occurrence. A time inside the hour skipped in spring reads as if GMT were still in force.
    Anything else, including a date without its day, raises ``Hl7ParseError`` naming the field.
    """
    value = value.strip()
    if not value or value == '""':
        return None
    try:
        return _timestamp(value)
    except ValueError:
        raise _bad_timestamp(field) from None


# A message's times repeat (each OBX-14 is most often its OBR-7) and so do a feed's; the
# values returned are immutable. A value that is not a time raises, and is not kept.
@functools.lru_cache(maxsize=4096)
def _timestamp(value: str) -> datetime | date:
    match = _TIMESTAMP.fullmatch(value)
    if match is None:
        raise ValueError("not an HL7 time")
    parts = match.groupdict()
    day = date(int(parts["year"]), int(parts["month"]), int(parts["day"]))
    if parts["hour"] is None:
        if parts["offset"]:
            raise ValueError("an offset needs a time")
        return day
    fraction = parts["fraction"] or ""
    tzinfo: timezone | ZoneInfo = LONDON
    if parts["offset"]:
        sign = -1 if parts["offset"][0] == "-" else 1
        hours, minutes = int(parts["offset"][1:3]), int(parts["offset"][3:5])
        if minutes >= 60:
            raise ValueError("offset minutes")
        tzinfo = (
            UTC
            if hours == minutes == 0
            else timezone(sign * timedelta(hours=hours, minutes=minutes))
        )
    return datetime(
        day.year,
        day.month,
        day.day,
        int(parts["hour"]),
        int(parts["minute"] or 0),
        int(parts["second"] or 0),
        # HL7 sends up to four digits; finer ones (some senders) are truncated, as PKB does.
        int(fraction[:6].ljust(6, "0")) if fraction else 0,
        tzinfo=tzinfo,
    )


def parse_date(value: str, field: str) -> date | None:
    """An HL7 date (DT, or the date part of a TS as sent, whatever its offset), or None."""
    parsed = parse_timestamp(value, field)
    if isinstance(parsed, datetime):
        return parsed.date()
    return parsed


def _bad_timestamp(field: str) -> Hl7ParseError:
    return Hl7ParseError(
        f"{field} is not a valid HL7 timestamp (YYYYMMDD[HH[MM[SS[.SSSS]]]][+/-ZZZZ])",
        field=field,
        hl7_code=ErrorCode.DATA_TYPE_ERROR,
    )
