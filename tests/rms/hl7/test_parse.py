from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.parser import parse_message

from rms.hl7 import ErrorCode, Hl7ParseError, extract_patient, extract_results, parse
from rms.hl7.parse import parse_date, parse_timestamp
from tests.rms.hl7.samples import MSH_ORU, PID, SAMPLE_NAMES, message, sample_bytes, sample_message

LONDON = ZoneInfo("Europe/London")


@pytest.mark.parametrize(
    ("name", "sender", "message_type", "trigger", "control_id", "sent_at"),
    [
        ("adt_a28_pas_new_patient.hl7", "PAS", "ADT", "A28", "PAS0000001", (11, 2, 9, 30, 0)),
        ("oru_r01_bloods_panel.hl7", "WINPATH", "ORU", "R01", "LAB0000102", (11, 10, 14, 17, 2)),
        ("oru_r01_corrected.hl7", "WINPATH", "ORU", "R01", "LAB0000103", (11, 10, 17, 0, 0)),
        ("oru_r01_psa.hl7", "WINPATH", "ORU", "R01", "LAB0000101", (11, 10, 14, 15, 2)),
        ("oru_r01_radiology_report.hl7", "CRIS", "ORU", "R01", "RAD0000501", (11, 12, 16, 0, 10)),
    ],
)
def test_it_reads_the_header_of_every_sample(
    name: str,
    sender: str,
    message_type: str,
    trigger: str,
    control_id: str,
    sent_at: tuple[int, int, int, int, int],
) -> None:
    msg = sample_message(name)
    assert msg.sending_application == sender
    assert msg.sending_facility == "RXX01"
    assert (msg.receiving_application, msg.receiving_facility) == ("RMS", "RXX")
    assert (msg.message_type, msg.trigger_event) == (message_type, trigger)
    assert msg.structure == {"ADT": "ADT_A05", "ORU": "ORU_R01"}[message_type]
    assert msg.control_id == control_id
    assert (msg.processing_id, msg.version, msg.charset) == ("P", "2.4", "")
    assert msg.message_datetime == datetime(2026, *sent_at, tzinfo=LONDON)


def test_every_sample_is_covered() -> None:
    # The parametrised tests above and in test_extract name each sample; a new one needs them.
    assert SAMPLE_NAMES == [
        "adt_a28_pas_new_patient.hl7",
        "oru_r01_bloods_panel.hl7",
        "oru_r01_corrected.hl7",
        "oru_r01_psa.hl7",
        "oru_r01_radiology_report.hl7",
    ]


def _hl7apy_segments(element: Any) -> Iterator[Any]:
    for child in element.children:
        if child.classname == "Segment":
            yield child
        else:
            yield from _hl7apy_segments(child)


@pytest.mark.parametrize("name", SAMPLE_NAMES)
def test_every_sample_also_parses_under_hl7apy_v25_structures(name: str) -> None:
    # Conformance check only: hl7apy is far too slow for the per-message path.
    text = sample_bytes(name).decode("ascii").replace("|2.4|", "|2.5|", 1)
    reference = parse_message(text, find_groups=True, validation_level=VALIDATION_LEVEL.STRICT)
    assert reference.validate()
    ours = parse(text)
    theirs = list(_hl7apy_segments(reference))
    assert [segment.name for segment in theirs] == [segment.name for segment in ours.segments]
    for their_segment, our_segment in zip(theirs[1:], ours.segments[1:], strict=True):
        # Same fields, leaving aside the empty ones hl7apy does not write back.
        assert their_segment.to_er7() == "|".join(our_segment.fields).rstrip("|")
    assert reference.msh.msh_10.value == ours.control_id
    assert reference.msh.msh_9.msh_9_3.value == ours.structure


def test_it_parses_with_non_default_delimiters_i10() -> None:
    text = message(
        "MSH*:+!#*WINPATH*RXX01*RMS*RXX*20261110141502**ORU:R01:ORU_R01*LAB9*P*2.4",
        "PID*1**9990000018:::NHS:NH+RXX1234567:::RXX#RXX2:MR**O!S!BRIEN:Ann**19600101*F",
        "OBR*1**FON1*PSA:PSA:WINPATH***20261110083000",
        "OBX*1*NM*PSA:PSA:WINPATH**<0.01*ug/L*0-4*N***F",
        "NTE*1**pipe !F! caret !S! line!.br!two",
    )
    msg = parse(text)
    assert msg.delimiters.field == "*"
    assert msg.delimiters.subcomponent == "#"
    assert (msg.message_type, msg.trigger_event, msg.control_id) == ("ORU", "R01", "LAB9")
    patient = extract_patient(msg)
    assert patient.nhs_number == "9990000018"
    assert (patient.mrn, patient.mrn_authority) == ("RXX1234567", "RXX")
    assert patient.family_name == "O:BRIEN"  # an escaped component separator, not a split
    (group,) = extract_results(msg)
    assert group.observations[0].comparator == "<"
    assert group.observations[0].notes == ("pipe * caret : line\ntwo",)


def test_it_accepts_a_fifth_truncation_character_in_msh2() -> None:
    msg = parse(message("MSH|^~\\&#|LAB|RXX|RMS|RXX|20261110||ORU^R01|ID1|P|2.5", PID))
    assert msg.delimiters.truncation == "#"
    assert msg.get_segment("MSH").value(2) == "^~\\&#"


@pytest.mark.parametrize(
    ("text", "field", "reason"),
    [
        ("PID|1||9990000018", "MSH", "does not start with an MSH segment"),
        ("MSH", "MSH-2", "MSH-2 (encoding characters) is missing"),
        ("MSH|^~\\&", "MSH-2", "MSH-2 (encoding characters) is missing"),
        ("MSH|^~&|A|B", "MSH-2", "four encoding characters"),
        ("MSH|^~\\&#$|A|B", "MSH-2", "four encoding characters"),
        ("MSH|^~\\^|A|B", "MSH-2", "must all differ"),
        ("MSH|^~|&|A|B", "MSH-2", "four encoding characters"),
        ("MSH|^|\\&|A|B", "MSH-2", "four encoding characters"),
        ("MSH|^~|\\&|A|B|C|D", "MSH-2", "four encoding characters"),
        ("MSH^^~\\&^A", "MSH-2", "four encoding characters"),
        ("MSHA^~\\&A", "MSH-1", "not letters, digits"),
        ("MSH|a~\\&|A", "MSH-2", "not letters, digits"),
        ("MSH| ~\\&|A", "MSH-2", "not letters, digits"),
    ],
)
def test_it_refuses_a_broken_msh_with_ar_and_names_the_field(
    text: str, field: str, reason: str
) -> None:
    with pytest.raises(Hl7ParseError) as caught:
        parse(text)
    assert caught.value.field == field
    assert reason in caught.value.reason
    assert caught.value.ack_code == "AR"


def test_it_refuses_a_message_without_a_control_id() -> None:
    with pytest.raises(Hl7ParseError) as caught:
        parse(message("MSH|^~\\&|LAB|RXX|RMS|RXX|20261110||ORU^R01|  |P|2.4", PID))
    assert caught.value.field == "MSH-10"
    assert caught.value.hl7_code == ErrorCode.REQUIRED_FIELD_MISSING
    assert caught.value.ack_code == "AR"


def test_it_refuses_a_message_without_a_message_type() -> None:
    with pytest.raises(Hl7ParseError) as caught:
        parse(message("MSH|^~\\&|LAB|RXX|RMS|RXX|20261110||^R01|ID1|P|2.4", PID))
    assert caught.value.field == "MSH-9"


def test_it_refuses_a_second_msh_because_batches_are_not_taken() -> None:
    with pytest.raises(Hl7ParseError, match="more than one MSH"):
        parse(message(MSH_ORU, PID, MSH_ORU))


def test_it_refuses_a_line_that_is_not_a_segment() -> None:
    # What a raw CR inside report text produces.
    with pytest.raises(Hl7ParseError, match="segment 3 does not start with a segment name"):
        parse(message(MSH_ORU, "OBX|1|TX|||first half", "second half of the line"))


def test_it_reads_fields_components_subcomponents_and_repetitions() -> None:
    msg = parse(message(MSH_ORU, "ZZZ|a^b&c~d^e\\T\\f||x"))
    zzz = msg.get_segment("ZZZ")
    assert zzz.value(1) == "a"
    assert zzz.value(1, 2) == "b"
    assert zzz.value(1, 2, 2) == "c"
    assert zzz.value(1, 2, repetition=2) == "e&f"
    assert zzz.value(1, 9) == ""
    assert zzz.value(1, repetition=3) == ""
    assert zzz.value(2) == ""
    assert zzz.value(3) == "x"
    assert zzz.value(99) == ""
    assert zzz.repetition_count(1) == 2
    assert zzz.components(1, repetition=2) == ["d", "e&f"]
    assert zzz.text(1) == "a^b&c"
    assert zzz.raw(1) == "a^b&c~d^e\\T\\f"
    assert msg.value("ZZZ", 1, 2) == "b"
    assert msg.value("NOPE", 1) == ""


def test_msh_fields_are_numbered_as_in_hl7() -> None:
    msh = parse(message(MSH_ORU, PID)).get_segment("MSH")
    assert msh.value(1) == "|"
    assert msh.value(2) == "^~\\&"
    assert msh.value(3) == "WINPATH"
    assert msh.value(10) == "LAB1"
    assert msh.components(2) == ["^~\\&"]


def test_it_returns_hl7s_explicit_null_as_sent() -> None:
    assert parse(message(MSH_ORU, 'ZZZ|""')).value("ZZZ", 1) == '""'


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("20260615", date(2026, 6, 15)),
        ("202606151430", datetime(2026, 6, 15, 14, 30, tzinfo=LONDON)),
        ("20260615143015", datetime(2026, 6, 15, 14, 30, 15, tzinfo=LONDON)),
        ("20260615143015.25", datetime(2026, 6, 15, 14, 30, 15, 250000, tzinfo=LONDON)),
        ("2026061514", datetime(2026, 6, 15, 14, 0, tzinfo=LONDON)),
        ("20260615143015.1234567", datetime(2026, 6, 15, 14, 30, 15, 123456, tzinfo=LONDON)),
        ("20260615143015+0000", datetime(2026, 6, 15, 14, 30, 15, tzinfo=UTC)),
        (
            "202606151430-0500",
            datetime(2026, 6, 15, 14, 30, tzinfo=timezone(timedelta(hours=-5))),
        ),
        ("", None),
        ('""', None),
    ],
)
def test_it_reads_hl7_timestamps(value: str, expected: object) -> None:
    assert parse_timestamp(value, "OBR-7") == expected


def test_a_local_time_without_offset_is_london_time_in_summer_and_winter() -> None:
    summer = parse_timestamp("202607011200", "OBR-7")
    winter = parse_timestamp("202601011200", "OBR-7")
    assert isinstance(summer, datetime) and isinstance(winter, datetime)
    assert summer.astimezone(UTC) == datetime(2026, 7, 1, 11, 0, tzinfo=UTC)
    assert winter.astimezone(UTC) == datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def test_a_timestamp_with_an_offset_keeps_it() -> None:
    value = parse_timestamp("202607011200+0100", "OBX-14")
    assert isinstance(value, datetime)
    assert value.utcoffset() == timedelta(hours=1)
    assert value.astimezone(UTC) == datetime(2026, 7, 1, 11, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "value",
    [
        "2016020311121",  # 13 digits: an incomplete component
        "202602",  # no day
        "2026",
        "20261301",  # month 13
        "20260230",  # 30 February
        "202602031260",  # minute 60
        "2026020325",  # hour 25
        "20260203+0100",  # offset without a time
        "202602031200+2460",
        "yesterday",
        "2026-02-03",
    ],
)
def test_it_refuses_a_malformed_timestamp_and_names_the_field(value: str) -> None:
    with pytest.raises(Hl7ParseError) as caught:
        parse_timestamp(value, "OBR-7")
    assert caught.value.field == "OBR-7"
    assert "OBR-7" in caught.value.reason
    assert value not in caught.value.reason or not value
    assert caught.value.ack_code == "AE"


def test_a_date_of_birth_sent_with_a_time_keeps_its_date() -> None:
    assert parse_date("195802140000+0100", "PID-7") == date(1958, 2, 14)


def test_a_malformed_msh7_is_refused_naming_msh7() -> None:
    with pytest.raises(Hl7ParseError) as caught:
        parse(message("MSH|^~\\&|LAB|RXX|RMS|RXX|2026111|ORU^R01|ID1|P|2.4", PID))
    assert caught.value.field == "MSH-7"
