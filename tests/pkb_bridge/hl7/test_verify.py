from __future__ import annotations

import pytest

from pkb_bridge.hl7 import (
    MessageCheckError,
    build_adt,
    build_oru_lab,
    pid3_identifiers,
    segment_counts,
)
from tests.pkb_bridge.hl7.support import context, lab_report, patient, sample


def test_it_reads_pid_3_of_a_built_message() -> None:
    message = build_adt(context(), patient(mrn="A^B", mrn_type_code="MR"))
    assert pid3_identifiers(message) == [
        ("9434765919", "NHS", "NH"),
        ("A^B", "RXX", "MR"),
    ]


def test_it_reads_pid_3_of_pkbs_samples() -> None:
    assert pid3_identifiers(sample("adt_a28_verified_nhs.hl7")) == [("5760678914", "NHS", "NH")]
    assert pid3_identifiers(sample("siu_s12.hl7")) == [("9999999999", "NHS", "NH")]


def test_it_refuses_a_message_with_a_second_pid() -> None:
    message = build_adt(context(), patient()) + "PID|||9999999999^^^NHS^NH\r"
    with pytest.raises(MessageCheckError, match="2 PID"):
        pid3_identifiers(message)


def test_it_refuses_a_message_with_no_pid() -> None:
    with pytest.raises(MessageCheckError, match="0 PID"):
        pid3_identifiers(sample("ack_aa.hl7"))


def test_a_raw_line_feed_counts_as_a_segment_break_as_it_will_at_pkb() -> None:
    # Through XML a CR and an LF are the same thing: an unescaped LF would split the segment.
    message = build_adt(context(), patient()).replace("Smith", "Smith\nPID|||9999999999^^^NHS^NH")
    assert segment_counts(message)["PID"] == 2
    with pytest.raises(MessageCheckError):
        pid3_identifiers(message)


def test_it_refuses_text_that_is_not_an_hl7_message() -> None:
    with pytest.raises(MessageCheckError, match="does not parse"):
        pid3_identifiers("not a message")


def test_it_counts_segments_by_name() -> None:
    message = build_oru_lab(context(), patient(), [lab_report(1, count=2), lab_report(2, count=3)])
    assert segment_counts(message) == {"MSH": 1, "PID": 1, "PV1": 1, "ORC": 2, "OBR": 2, "OBX": 5}


def test_it_reads_pid_3_of_a_packed_message_and_refuses_a_pid_deep_inside_it() -> None:
    message = build_oru_lab(context(), patient(), [lab_report(n) for n in range(1, 51)])
    assert pid3_identifiers(message) == [("9434765919", "NHS", "NH")]
    forged = message + "PID|||9999999999^^^NHS^NH\r"
    with pytest.raises(MessageCheckError, match="2 PID"):
        pid3_identifiers(forged)


def test_it_refuses_a_message_with_a_second_msh() -> None:
    message = build_adt(context(), patient())
    with pytest.raises(MessageCheckError, match="does not parse"):
        pid3_identifiers(message + message)


def test_it_refuses_a_line_that_is_not_a_segment() -> None:
    # A raw line break inside free text leaves a line that is no segment: PKB would refuse it.
    message = build_adt(context(), patient()).replace("Smith", "Smith\nthen some text")
    with pytest.raises(MessageCheckError, match="does not parse"):
        pid3_identifiers(message)
