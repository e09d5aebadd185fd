from __future__ import annotations

import pytest

from rms.hl7.header import read_msh

MSH = (
    "MSH|^~\\&|PAS^X|RXX01|RMS|RXX|20261102093000||ORU^R01^ORU_R01|C1^A|P|2.4|||||GBR|"
    "8859/1~UNICODE UTF-8"
)


@pytest.mark.parametrize("leading", ["", "\r", "\r\n", "\n\n", " \t\r", "\xef\xbb\xbf\r"])
def test_what_comes_before_msh_is_skipped_as_decoding_skips_it(leading: str) -> None:
    header = read_msh((leading + MSH + "\rPID|1").encode("latin-1"))
    assert header.found
    assert header.charset == "8859/1"
    assert header.field(10, first_component=False) == "C1^A"


def test_fields_are_numbered_as_hl7_numbers_them() -> None:
    header = read_msh(MSH)
    assert header.field(3) == "PAS"
    assert header.raw(3) == "PAS^X"
    assert header.components(9) == ["ORU", "R01", "ORU_R01"]
    assert header.field(12) == "2.4"
    assert header.field(30) == ""


def test_the_charset_is_the_first_repetitions_first_component() -> None:
    assert read_msh(MSH).charset == "8859/1"
    assert read_msh(MSH.replace("8859/1~", "ASCII^x~")).charset == "ASCII"


def test_the_senders_own_delimiters_are_used() -> None:
    header = read_msh("MSH#!@\\&#LAB#F#RMS#RXX#2026##ORU!R01#ID9#P#2.5")
    assert header.field(3) == "LAB"
    assert header.components(9) == ["ORU", "R01"]
    assert header.field(10) == "ID9"


@pytest.mark.parametrize("raw", [b"", b"PID|1", b"this is not HL7", b"MSH|^~"])
def test_no_header_is_found_in_what_does_not_start_with_msh(raw: bytes) -> None:
    header = read_msh(raw)
    assert not header.found
    assert header.charset == ""
