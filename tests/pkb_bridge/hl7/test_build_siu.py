from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from pkb_bridge.hl7 import Appointment, PersonName, build_siu, pid3_identifiers, segment_counts
from rms.hl7 import AppointmentAction, extract_appointment, parse
from tests.pkb_bridge.hl7.support import (
    NASTY,
    context,
    field,
    patient,
    sample_segment,
    segment,
    segments,
)

SAMPLE = "siu_s12.hl7"
STARTS_AT = datetime(2025, 11, 20, 12, 31, tzinfo=UTC)
ENDS_AT = datetime(2025, 11, 20, 12, 32, tzinfo=UTC)


def _appointment(**overrides: Any) -> Appointment:
    values: dict[str, Any] = {
        "placer_id": "ID123",
        "starts_at": STARTS_AT,
        "ends_at": ENDS_AT,
        "reason": "checkup",
        "appointment_type": "FU",
        "location": "health centre",
        "clinician": PersonName("Jones", "Stuart", "James", "Dr"),
        "notes": "My comment",
    }
    values.update(overrides)
    return Appointment(**values)


def test_it_sends_the_segments_in_v2_4_order() -> None:
    message = build_siu(context(), patient(), _appointment())
    assert [line[:3] for line in segments(message)] == [
        "MSH",
        "SCH",
        "NTE",
        "PID",
        "PV1",
        "RGS",
        "AIP",
    ]
    assert field(segment(message, "MSH"), 9) == "SIU^S12^SIU_S12"
    assert pid3_identifiers(message) == [("9434765919", "NHS", "NH")]


def test_sch_has_the_shape_of_pkbs_sample_with_offsets() -> None:
    sch = segment(build_siu(context(), patient(), _appointment()), "SCH")
    theirs = sample_segment(SAMPLE, "SCH")
    assert field(sch, 1) == field(theirs, 1) == "ID123"
    assert field(sch, 7) == field(theirs, 7).rstrip("^") == "^checkup"
    assert field(sch, 8) == "FU"
    assert field(theirs, 11) == "^^^201411201231^201411201232"
    assert field(sch, 11) == "^^^20251120123100+0000^20251120123200+0000"


def test_nte_pv1_and_aip_have_the_shape_of_pkbs_sample() -> None:
    message = build_siu(context(), patient(), _appointment(clinician_role="Doctor"))
    assert field(segment(message, "NTE"), 3) == field(sample_segment(SAMPLE, "NTE"), 3)
    assert field(segment(message, "PV1"), 3) == field(sample_segment(SAMPLE, "PV1"), 3)
    assert field(segment(message, "PV1"), 10) == "ONC"
    aip, theirs = segment(message, "AIP"), sample_segment(SAMPLE, "AIP")
    assert (field(aip, 3), field(aip, 4)) == (field(theirs, 3), field(theirs, 4))
    assert segment(message, "RGS") == "RGS|1"


def test_aip_4_is_the_clinicians_role_and_is_left_out_when_unknown() -> None:
    """pkb-hl7-interface.md Appendix A3: AIP-4.2 is the clinician's role (``^Doctor`` in PKB's
    example). A nurse is not a doctor: an unknown role is not written as one."""
    nurse = build_siu(context(), patient(), _appointment(clinician_role="Nurse"))
    unknown = build_siu(context(), patient(), _appointment(clinician_role=""))
    assert field(segment(nurse, "AIP"), 4) == "^Nurse"
    assert field(segment(unknown, "AIP"), 3) == "^Jones^Stuart^James^^Dr"
    assert field(segment(unknown, "AIP"), 4) == ""


def test_a_clinician_may_be_free_text_with_another_role() -> None:
    appointment = _appointment(
        clinician="Sister A Brown", clinician_role="Clinical nurse specialist"
    )
    aip = segment(build_siu(context(), patient(), appointment), "AIP")
    assert aip == "AIP|1||^Sister A Brown|^Clinical nurse specialist"


def test_optional_parts_are_left_out_when_blank() -> None:
    appointment = Appointment(placer_id="A1", starts_at=STARTS_AT)
    message = build_siu(context(), patient(), appointment)
    assert [line[:3] for line in segments(message)] == ["MSH", "SCH", "PID", "PV1", "RGS"]
    assert segment(message, "SCH") == "SCH|A1||||||||||^^^20251120123100+0000"
    assert segment(message, "PV1") == "PV1|1|O||||||||ONC"


@pytest.mark.parametrize(
    ("trigger", "action"),
    [
        ("S12", AppointmentAction.BOOKED),
        ("S13", AppointmentAction.CHANGED),
        ("S14", AppointmentAction.CHANGED),
        ("S15", AppointmentAction.CANCELLED),
        ("S26", AppointmentAction.NO_SHOW),
    ],
)
def test_each_event_sends_the_full_appointment(trigger: str, action: AppointmentAction) -> None:
    message = build_siu(context(), patient(), _appointment(), trigger=trigger)  # type: ignore[arg-type]
    assert field(segment(message, "MSH"), 9) == f"SIU^{trigger}^SIU_S12"
    read = extract_appointment(parse(message))
    assert read.action == action
    assert read.start == STARTS_AT


def test_it_refuses_an_siu_event_pkb_does_not_take() -> None:
    with pytest.raises(ValueError, match="trigger"):
        build_siu(context(), patient(), _appointment(), trigger="S17")  # type: ignore[arg-type]


def test_an_appointment_reads_back_with_the_inbound_parser() -> None:
    read = extract_appointment(parse(build_siu(context(), patient(), _appointment())))
    assert read.placer_id == "ID123"
    assert (read.reason, read.appointment_type) == ("checkup", "FU")
    assert (read.start, read.end) == (STARTS_AT, ENDS_AT)
    assert read.location == "health centre"
    assert read.clinician == "Dr Stuart Jones"
    assert read.notes == "My comment"


@pytest.mark.parametrize(
    "text", [NASTY, "O'Brien Zoë Łukasz 🙂", "two\r\nlines", "\rPID|1||9999999999^^^NHS^NH"]
)
def test_free_text_in_an_appointment_reads_back_exactly(text: str) -> None:
    appointment = _appointment(
        placer_id="ID" + text,
        reason=text,
        appointment_type=text,
        location=text,
        clinician=text,
        notes=text,
    )
    message = build_siu(context(), patient(), appointment)
    assert segment_counts(message) == segment_counts(
        build_siu(context(), patient(), _appointment())
    )
    read = extract_appointment(parse(message))
    expected = text.replace("\r\n", "\n").replace("\r", "\n")
    assert read.placer_id == ("ID" + expected).strip()
    assert read.reason == read.appointment_type == read.location == read.clinician == expected
    assert read.notes == expected
