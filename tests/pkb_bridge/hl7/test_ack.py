from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pkb_bridge.hl7 import parse_ack
from tests.pkb_bridge.hl7.support import sample

AR_TEXT = "Parsing or validation error: OBR[1].OBX[2]: No observation timestamp in OBX or OBR"


def test_it_reads_pkbs_accept_sample() -> None:
    ack = parse_ack(sample("ack_aa.hl7"))
    assert (ack.code, ack.control_id, ack.text) == ("AA", "messageID", "")
    assert ack.accepted
    assert ack.raw == sample("ack_aa.hl7")


def test_it_reads_pkbs_reject_sample_despite_the_stray_semicolon_in_msh_2() -> None:
    ack = parse_ack(sample("ack_ar_as_published.hl7"))
    assert (ack.code, ack.control_id, ack.text) == ("AR", "messageID", AR_TEXT)
    assert not ack.accepted


@pytest.mark.parametrize("line_end", ["\n", "\r\n", "\r"])
def test_it_reads_an_ack_whatever_its_line_endings(line_end: str) -> None:
    # XML turns the CRs of an ACK carried in SOAP into LFs.
    text = sample("ack_ar_as_published.hl7").replace("\r", line_end)
    assert parse_ack(text).code == "AR"
    assert parse_ack(text).text == AR_TEXT


def test_it_reads_an_application_error() -> None:
    text = (
        "MSH|^~\\&;|HL7API|PKB|App|X|20190201112500+0000||ACK^R01|PKB-1|P|2.4\r"
        "MSA|AE|id-1|Unexpected error while processing: null\r"
    )
    ack = parse_ack(text)
    assert (ack.code, ack.control_id, ack.text) == (
        "AE",
        "id-1",
        "Unexpected error while processing: null",
    )


def test_it_unescapes_msa_3() -> None:
    ack = parse_ack("MSH|^~\\&|HL7API|PKB\rMSA|AR|id-1|OBX-5 \\F\\ too long\\.br\\see spec\r")
    assert ack.text == "OBX-5 | too long\nsee spec"


def test_it_reads_an_ack_with_other_delimiters() -> None:
    ack = parse_ack("MSH*:+!#*HL7API*PKB\rMSA*AA*id-2*a!F!b")
    assert (ack.code, ack.control_id, ack.text) == ("AA", "id-2", "a*b")


def test_it_reads_an_ack_wrapped_in_mllp_framing_and_whitespace() -> None:
    ack = parse_ack("\x0b  MSH|^~\\&|HL7API|PKB\r MSA|aa|id-3 \x1c\r")
    assert (ack.code, ack.control_id) == ("AA", "id-3")


def test_it_leaves_a_control_id_mismatch_to_the_caller() -> None:
    ack = parse_ack(sample("ack_aa.hl7"))
    assert ack.code == "AA"
    assert ack.acknowledges("messageID")
    assert not ack.acknowledges("3f6c2a9e-0d7b-4d0e-9a53-2b1f0c7e8a11")
    assert not ack.acknowledges("")


@pytest.mark.parametrize(
    "text",
    [
        "",
        "garbage",
        "<html><body>502 Bad Gateway</body></html>",
        "MSH|^~\\&|HL7API|PKB\r",  # no MSA
        "MSA",
        "MSA|",
        "MSA|XX|id",  # not an ACK code
        "MSH\rMSA|AA",
        "MSH|^\rMSA|AA|id|\\X\\",
    ],
)
def test_it_never_raises_on_garbage(text: str) -> None:
    ack = parse_ack(text)
    assert ack.raw == text
    if "MSA|AA" not in text:
        assert ack.code is None
        assert not ack.accepted


def test_an_msa_without_msh_is_still_read() -> None:
    assert parse_ack("MSA|AA|id-4").code == "AA"


@given(st.text())
def test_it_never_raises_on_any_text(text: str) -> None:
    ack = parse_ack(text)
    assert ack.code in (None, "AA", "AE", "AR")
    assert ack.raw == text


@pytest.mark.parametrize(
    ("sent", "read", "accepted"),
    [("CA", "AA", True), ("CE", "AE", False), ("CR", "AR", False), ("ca", "AA", True)],
)
def test_enhanced_mode_codes_are_read_as_their_original_mode_codes(
    sent: str, read: str, accepted: bool
) -> None:
    """HL7 v2.4 table 0008: CA commit accept, CE commit error, CR commit reject; read as AA, AE
    and AR (pkb-hl7-interface.md 3.2 gives their meaning for PKB)."""
    ack = parse_ack(sample("ack_aa.hl7").replace("MSA|AA|", f"MSA|{sent}|"))
    assert (ack.code, ack.control_id, ack.accepted) == (read, "messageID", accepted)
