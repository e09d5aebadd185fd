"""The appointment of an SIU message."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from rms.hl7.errors import ErrorCode, Hl7ParseError
from rms.hl7.extract.common import (
    INTEGER,
    Timestamp,
    leaf,
    location_text,
    note_text,
    person_text,
    require_type,
)
from rms.hl7.parse import ParsedMessage, Segment, parse_timestamp


class AppointmentAction(StrEnum):
    """What an SIU trigger event does to the appointment."""

    BOOKED = "booked"  # S12
    CHANGED = "changed"  # S13 rescheduled, S14 modified
    CANCELLED = "cancelled"  # S15
    NO_SHOW = "no_show"  # S26


_ACTIONS = {
    "S12": AppointmentAction.BOOKED,
    "S13": AppointmentAction.CHANGED,
    "S14": AppointmentAction.CHANGED,
    "S15": AppointmentAction.CANCELLED,
    "S26": AppointmentAction.NO_SHOW,
}
# Appointment.Status values in rms.models (no "changed" there: a change is still booked).
_STATUSES = {
    AppointmentAction.BOOKED: "booked",
    AppointmentAction.CHANGED: "booked",
    AppointmentAction.CANCELLED: "cancelled",
    AppointmentAction.NO_SHOW: "dna",
}


@dataclass(frozen=True, slots=True)
class AppointmentData:
    """An SIU appointment; ``action`` is what the trigger event did to it."""

    placer_id: str  # SCH-1.1, else SCH-2.1
    action: AppointmentAction  # from the trigger event
    reason: str  # SCH-7.2, else SCH-7.1
    appointment_type: str  # SCH-8.1
    appointment_type_text: str  # SCH-8.2
    start: Timestamp
    end: Timestamp
    location: str
    clinician: str  # AIP-3 as "Title Given Family"
    clinician_role: str  # AIP-4.2, else AIP-4.1
    notes: str  # NTE-3 lines

    @property
    def status(self) -> str:
        """The ``Appointment.Status`` value this message leaves the appointment in."""
        return _STATUSES[self.action]


def extract_appointment(msg: ParsedMessage) -> AppointmentData:
    """The appointment of an SIU^S12/S13/S14/S15/S26.

    Times come from SCH-11.4/11.5, else TQ1-7/8 (v2.5), else AIS-4 or AIL-6 (the end from
    AIS-7/AIL-8 durations). A booking or change needs a start; a cancellation or no-show only
    its id. Raises ``Hl7ParseError`` (AE) if SCH or the id is missing, ``Hl7UnsupportedError``
    for other SIU events.
    """
    require_type(msg, "SIU")
    action = _ACTIONS[msg.trigger_event]
    sch = msg.get_segment("SCH")
    if sch is None:
        raise Hl7ParseError(
            "SCH segment missing", field="SCH", hl7_code=ErrorCode.SEGMENT_SEQUENCE_ERROR
        )
    placer_id = leaf(sch, 1).strip() or leaf(sch, 2).strip()
    if not placer_id:
        raise Hl7ParseError(
            "SCH-1 (placer appointment id) is missing, and SCH-2 too",
            field="SCH-1",
            hl7_code=ErrorCode.REQUIRED_FIELD_MISSING,
        )
    start, end = _appointment_times(msg, sch)
    if start is None and action in (AppointmentAction.BOOKED, AppointmentAction.CHANGED):
        raise Hl7ParseError(
            "SCH-11.4 (appointment start) is missing",
            field="SCH-11.4",
            hl7_code=ErrorCode.REQUIRED_FIELD_MISSING,
        )
    if isinstance(start, datetime) and isinstance(end, datetime) and end < start:
        raise Hl7ParseError(
            "the appointment ends before it starts",
            field="SCH-11.5",
            hl7_code=ErrorCode.DATA_TYPE_ERROR,
        )
    ail, aip = msg.get_segment("AIL"), msg.get_segment("AIP")
    pv1 = msg.get_segment("PV1")
    location = (location_text(ail, 3) if ail else "") or (location_text(pv1, 3) if pv1 else "")
    return AppointmentData(
        placer_id=placer_id,
        action=action,
        reason=leaf(sch, 7, 2) or leaf(sch, 7, 1),
        appointment_type=leaf(sch, 8, 1),
        appointment_type_text=leaf(sch, 8, 2),
        start=start,
        end=end,
        location=location,
        clinician=person_text(aip, 3) if aip else "",
        clinician_role=(leaf(aip, 4, 2) or leaf(aip, 4, 1)) if aip else "",
        notes="\n".join(note_text(nte) for nte in msg.get_segments("NTE")),
    )


def _appointment_times(msg: ParsedMessage, sch: Segment) -> tuple[Timestamp, Timestamp]:
    start = parse_timestamp(leaf(sch, 11, 4), "SCH-11.4")
    if start is not None:
        return start, parse_timestamp(leaf(sch, 11, 5), "SCH-11.5")
    tq1 = msg.get_segment("TQ1")
    if tq1 is not None:
        start = parse_timestamp(leaf(tq1, 7), "TQ1-7")
        if start is not None:
            return start, parse_timestamp(leaf(tq1, 8), "TQ1-8")
    for name, start_field, duration_field in (("AIS", 4, 7), ("AIL", 6, 8)):
        segment = msg.get_segment(name)
        if segment is None:
            continue
        start = parse_timestamp(leaf(segment, start_field), f"{name}-{start_field}")
        if start is not None:
            return start, _end_from_duration(segment, start, duration_field)
    return None, None


_DURATION_UNITS = {
    "": timedelta(minutes=1),  # HL7's default unit for AIS-7 and AIL-8 is minutes
    "MIN": timedelta(minutes=1),
    "M": timedelta(minutes=1),
    "S": timedelta(seconds=1),
    "SEC": timedelta(seconds=1),
    "H": timedelta(hours=1),
    "HR": timedelta(hours=1),
    "D": timedelta(days=1),
}


def _end_from_duration(segment: Segment, start: Timestamp, duration_field: int) -> Timestamp:
    duration = leaf(segment, duration_field).strip()
    unit = _DURATION_UNITS.get(leaf(segment, duration_field + 1).strip().upper())
    if not isinstance(start, datetime) or unit is None or not INTEGER.fullmatch(duration):
        return None
    try:
        return start + int(duration) * unit
    except OverflowError:
        raise Hl7ParseError(
            f"{segment.name}-{duration_field} (duration) is out of range",
            field=f"{segment.name}-{duration_field}",
            hl7_code=ErrorCode.DATA_TYPE_ERROR,
        ) from None
