from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.parser import parse_message

from rms.hl7 import (
    ErrorCode,
    Hl7DecodeError,
    Hl7Error,
    Hl7ParseError,
    build_ack,
    build_ack_for_unparseable,
    decode_message,
    extract_results,
    parse,
)
from tests.rms.hl7.samples import PID, message, sample_bytes, sample_message

NOW = datetime(2026, 11, 10, 14, 15, 5, tzinfo=ZoneInfo("Europe/London"))


def test_an_aa_swaps_sender_and_receiver_and_echoes_the_control_id() -> None:
    msg = sample_message("oru_r01_psa.hl7")
    ack = build_ack(msg, "AA", now=NOW, control_id="ACK1")
    assert ack.split("\r") == [
        "MSH|^~\\&|RMS|RXX|WINPATH|RXX01|20261110141505||ACK^R01^ACK|ACK1|P|2.4",
        "MSA|AA|LAB0000101|",
        "",
    ]


def test_an_ack_parses_back_with_our_own_parser() -> None:
    msg = sample_message("oru_r01_psa.hl7")
    ack = parse(build_ack(msg, "AA"))
    assert (ack.message_type, ack.trigger_event, ack.structure) == ("ACK", "R01", "ACK")
    assert (ack.sending_application, ack.receiving_application) == ("RMS", "WINPATH")
    assert (ack.version, ack.processing_id) == ("2.4", "P")
    assert len(ack.control_id) == 20
    assert ack.control_id != msg.control_id
    assert ack.value("MSA", 1) == "AA"
    assert ack.value("MSA", 2) == "LAB0000101"


def test_each_ack_gets_its_own_control_id() -> None:
    msg = sample_message("oru_r01_psa.hl7")
    assert parse(build_ack(msg, "AA")).control_id != parse(build_ack(msg, "AA")).control_id


def test_an_ae_carries_an_err_segment_with_the_hl7_error_code() -> None:
    msg = parse(message(sample_bytes("oru_r01_psa.hl7").decode().split("\r")[0], PID))
    with pytest.raises(Hl7ParseError) as caught:
        extract_results(msg)
    ack_text = build_ack(msg, caught.value.ack_code, error=caught.value, now=NOW)
    ack = parse(ack_text)
    assert ack.value("MSA", 1) == "AE"
    assert ack.value("MSA", 3) == "OBR segment missing"
    err = ack.get_segment("ERR")
    assert err is not None
    assert err.raw(1) == err.raw(2) == ""
    assert err.components(3) == ["100", "Segment sequence error", "HL70357"]
    assert err.value(4) == "E"
    assert err.value(8) == "OBR segment missing"


def test_an_ar_without_an_error_says_application_internal_error() -> None:
    ack = parse(build_ack(sample_message("oru_r01_psa.hl7"), "AR", "try again later"))
    assert ack.value("MSA", 1) == "AR"
    assert ack.value("ERR", 3) == str(int(ErrorCode.APPLICATION_INTERNAL_ERROR))
    assert ack.value("ERR", 8) == "try again later"


def test_the_ack_text_is_escaped_so_it_cannot_add_fields_or_segments() -> None:
    error = Hl7Error("bad | value ^ here\rERR|fake", hl7_code=ErrorCode.DATA_TYPE_ERROR)
    ack_text = build_ack(sample_message("oru_r01_psa.hl7"), "AE", error=error)
    assert ack_text.count("\r") == 3
    ack = parse(ack_text)
    assert ack.value("MSA", 3) == "bad | value ^ here\nERR|fake"
    assert len(ack.get_segments("ERR")) == 1


def test_the_ack_uses_our_delimiters_whatever_the_sender_used() -> None:
    msg = parse(message("MSH*:+!#*LAB*RXX01*RMS*RXX*20261110**ORU:R01*ID!F!9*P*2.4", "PID*1"))
    ack = build_ack(msg, "AA", now=NOW, control_id="A1")
    assert ack.startswith("MSH|^~\\&|RMS|RXX|LAB|RXX01|20261110141505||ACK^R01^ACK|A1|P|2.4\r")
    assert parse(ack).value("MSA", 2) == "ID*9"


def test_a_v23_ack_has_no_message_structure_component() -> None:
    msg = parse(message("MSH|^~\\&|LAB|RXX01|RMS|RXX|20261110||ORU^R01|ID9|P|2.3", PID))
    assert parse(build_ack(msg, "AA")).get_segment("MSH").raw(9) == "ACK^R01"


def test_the_ack_declares_the_senders_character_set() -> None:
    raw = "MSH|^~\\&|PAS|RXX01|RMS|RXX|20261102||ADT^A28|P1|P|2.4||||||8859/1\rPID|1\r"
    msg = parse(decode_message(raw.encode("latin-1")))
    ack = parse(build_ack(msg, "AE", "Zoë ☃"))
    assert ack.charset == "8859/1"
    # The snowman has no place in latin-1; the listener encodes the ACK in MSH-18's charset.
    assert ack.value("MSA", 3) == "Zoë ?"


def test_an_aa_cannot_carry_an_error() -> None:
    with pytest.raises(ValueError, match="carries no error"):
        build_ack(sample_message("oru_r01_psa.hl7"), "AA", error=Hl7Error("x"))


def test_our_ack_conforms_to_hl7apys_v25_ack_structure() -> None:
    msg = parse(sample_bytes("oru_r01_psa.hl7").decode().replace("|2.4|", "|2.5|", 1))
    error = Hl7ParseError("OBR-3 missing", hl7_code=ErrorCode.REQUIRED_FIELD_MISSING)
    ack = build_ack(msg, "AE", error=error)
    reference = parse_message(ack, validation_level=VALIDATION_LEVEL.STRICT)
    assert reference.validate()
    assert reference.msa.msa_2.value == "LAB0000101"
    assert reference.err.err_3.err_3_1.value == "101"


def test_an_unparseable_message_is_answered_with_its_control_id_when_it_can_be_found() -> None:
    raw = "MSH|^~&|LAB|RXX01|RMS|RXX|20261110||ORU^R01|LAB77|P|2.4\rPID|1\r"
    with pytest.raises(Hl7ParseError) as caught:
        parse(raw)
    ack = parse(
        build_ack_for_unparseable(raw, caught.value.ack_code, caught.value.reason, caught.value)
    )
    assert ack.value("MSA", 1) == "AR"
    assert ack.value("MSA", 2) == "LAB77"
    assert (ack.receiving_application, ack.receiving_facility) == ("LAB", "RXX01")
    assert (ack.trigger_event, ack.version) == ("R01", "2.4")
    assert ack.value("ERR", 3) == "102"


def test_an_unparseable_message_without_a_control_id_is_answered_with_a_blank_msa2() -> None:
    ack = parse(build_ack_for_unparseable("this is not HL7 at all", "AR", "not HL7"))
    assert ack.value("MSA", 2) == ""
    assert ack.receiving_application == ""
    assert ack.version == "2.5"
    assert ack.value("MSA", 3) == "not HL7"


def test_undecodable_bytes_are_answered_from_the_raw_bytes() -> None:
    raw = sample_bytes("oru_r01_psa.hl7").replace(b"TESTER", b"T\xe9STER")
    with pytest.raises(Hl7DecodeError) as caught:
        decode_message(raw)
    ack = parse(build_ack_for_unparseable(raw, "AR", caught.value.reason, caught.value))
    assert ack.value("MSA", 2) == "LAB0000101"
    assert "not valid UTF-8" in ack.value("MSA", 3)
