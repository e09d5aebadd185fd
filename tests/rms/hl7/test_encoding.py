from __future__ import annotations

import pytest

from rms.hl7 import ErrorCode, Hl7DecodeError, decode_message, extract_patient, parse
from rms.hl7.encoding import declared_charset, normalise_segments
from tests.rms.hl7.samples import PID, sample_bytes


def _adt(charset: str, name: bytes) -> bytes:
    msh18 = f"||||||{charset}" if charset else ""
    header = f"MSH|^~\\&|PAS|RXX01|RMS|RXX|20261102093000||ADT^A28^ADT_A05|PAS1|P|2.4{msh18}"
    return (
        header.encode("ascii") + b"\rPID|1||9990000018^^^NHS^NH||" + name + b"^Alan||19580214|M\r"
    )


def test_it_decodes_utf8_when_msh18_is_absent() -> None:
    text = decode_message(_adt("", "Zoë".encode()))
    assert extract_patient(parse(text)).family_name == "Zoë"


def test_it_decodes_latin1_when_msh18_says_8859_1() -> None:
    raw = _adt("8859/1", "Zoë".encode("latin-1"))
    msg = parse(decode_message(raw))
    assert msg.charset == "8859/1"
    assert extract_patient(msg).family_name == "Zoë"


@pytest.mark.parametrize("charset", ["UNICODE UTF-8", "UTF-8"])
def test_it_decodes_utf8_when_msh18_declares_it(charset: str) -> None:
    raw = _adt(charset, "Łukasz".encode())
    assert extract_patient(parse(decode_message(raw))).family_name == "Łukasz"


def test_it_refuses_bytes_that_are_not_utf8_when_no_charset_is_declared() -> None:
    # "Zoë" in latin-1 without MSH-18: decoding it as latin-1 would be a guess.
    with pytest.raises(Hl7DecodeError) as caught:
        decode_message(_adt("", "Zoë".encode("latin-1")))
    assert caught.value.ack_code == "AR"
    assert caught.value.field == "MSH-18"
    assert "not valid UTF-8" in caught.value.reason
    assert "declares no other character set" in caught.value.reason


def test_it_refuses_invalid_utf8_even_when_utf8_is_declared() -> None:
    with pytest.raises(
        Hl7DecodeError, match="not valid UNICODE UTF-8, the character set MSH-18 declares"
    ):
        decode_message(_adt("UNICODE UTF-8", b"Zo\xc3"))


def test_it_refuses_non_ascii_bytes_in_a_message_declared_ascii() -> None:
    with pytest.raises(Hl7DecodeError, match="ASCII"):
        decode_message(_adt("ASCII", "Zoë".encode()))


def test_it_refuses_a_character_set_it_does_not_know() -> None:
    with pytest.raises(Hl7DecodeError) as caught:
        decode_message(_adt("ISO IR87", b"TESTER"))
    assert caught.value.hl7_code == ErrorCode.TABLE_VALUE_NOT_FOUND
    assert caught.value.ack_code == "AR"
    assert "ISO IR87" in caught.value.reason


def test_it_strips_a_utf8_byte_order_mark() -> None:
    text = decode_message(b"\xef\xbb\xbf" + _adt("", b"TESTER"))
    assert text.startswith("MSH|")


def test_it_reads_msh18_from_the_first_repetition_and_component() -> None:
    raw = b"MSH|^~\\&|A|B|C|D|20260101||ADT^A28|1|P|2.4||||||8859/1~UNICODE UTF-8\r"
    assert declared_charset(raw) == "8859/1"


def test_it_refuses_an_msh18_that_is_not_ascii() -> None:
    raw = b"MSH|^~\\&|A|B|C|D|20260101||ADT^A28|1|P|2.4||||||\xff\r"
    with pytest.raises(Hl7DecodeError, match="MSH-18"):
        decode_message(raw)


def test_it_turns_crlf_terminators_into_cr() -> None:
    raw = sample_bytes("oru_r01_psa.hl7").replace(b"\r", b"\r\n")
    text = decode_message(raw)
    assert "\n" not in text
    assert text == decode_message(sample_bytes("oru_r01_psa.hl7"))


def test_it_turns_lf_terminators_into_cr_in_a_message_without_any_cr() -> None:
    raw = sample_bytes("oru_r01_psa.hl7").replace(b"\r", b"\n")
    assert decode_message(raw) == decode_message(sample_bytes("oru_r01_psa.hl7"))


def test_a_lone_lf_inside_a_cr_terminated_message_stays_in_its_field() -> None:
    # Treating it as a terminator would make "PID|..." after it a second patient.
    text = normalise_segments("MSH|^~\\&|A\rOBX|1|TX|||line one\nPID|1||999\rNTE|1\r")
    assert text.split("\r") == ["MSH|^~\\&|A", "OBX|1|TX|||line one\nPID|1||999", "NTE|1"]


def test_it_drops_blank_segments_and_trailing_whitespace() -> None:
    text = normalise_segments("\r\nMSH|^~\\&|A\r\r  \r" + PID + "\r\r\n \t\n")
    assert text == "MSH|^~\\&|A\r" + PID


def test_it_reads_msh18_after_blank_lines_and_a_byte_order_mark() -> None:
    raw = b"\xef\xbb\xbf\r\nMSH|^~\\&|A|B|C|D|20260101||ADT^A28|1|P|2.4||||||8859/1\r"
    assert declared_charset(raw) == "8859/1"
