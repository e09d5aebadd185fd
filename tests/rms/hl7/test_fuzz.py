"""Bad input of any shape gives an Hl7Error, never another exception (and never a hang)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from rms.hl7 import (
    ErrorCode,
    Hl7Error,
    build_ack,
    build_ack_for_unparseable,
    decode_message,
    extract_appointment,
    extract_document,
    extract_patient,
    extract_results,
    is_textual_report,
    parse,
    report_text,
    require_supported,
)
from tests.rms.hl7.samples import MDM_T02, SAMPLE_NAMES, SIU_S12, sample_bytes

SEEDS = [sample_bytes(name) for name in SAMPLE_NAMES] + [SIU_S12.encode(), MDM_T02.encode()]
# Bytes that matter to HL7: delimiters, terminators, digits, escapes, non-ASCII, MLLP frame bytes.
INTERESTING = b'|^~\\&#\r\n 0123456789.+-<>"ABCFHNRSTXZ{}\x00\x0b\x1c\x7f\xc3\xa9\xff'


def _check(error: Hl7Error) -> None:
    assert error.reason
    assert error.ack_code in ("AE", "AR")
    assert isinstance(error.hl7_code, ErrorCode)


def _read_everything(raw: bytes) -> None:
    """The listener's path: decode, parse, check, extract all, acknowledge."""
    try:
        msg = parse(decode_message(raw))
    except Hl7Error as error:
        _check(error)
        assert build_ack_for_unparseable(raw, error.ack_code, error.reason, error)
        return
    for step in (require_supported, extract_patient, extract_appointment, extract_document):
        try:
            step(msg)
        except Hl7Error as error:
            _check(error)
            assert build_ack(msg, error.ack_code, error=error)
    try:
        for group in extract_results(msg):
            is_textual_report(group)
            report_text(group)
    except Hl7Error as error:
        _check(error)
    assert build_ack(msg, "AA")


@given(st.binary(max_size=600))
def test_random_bytes_raise_only_hl7_errors(raw: bytes) -> None:
    _read_everything(raw)


@given(st.binary(max_size=300))
def test_random_bytes_after_a_valid_msh_raise_only_hl7_errors(tail: bytes) -> None:
    _read_everything(b"MSH|^~\\&|LAB|RXX|RMS|RXX|20261110||ORU^R01|ID1|P|2.4\r" + tail)


@st.composite
def mutated_seeds(draw: st.DrawFn) -> bytes:
    raw = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(min_value=1, max_value=8))):
        position = draw(st.integers(min_value=0, max_value=len(raw)))
        action = draw(st.sampled_from(["insert", "replace", "delete", "duplicate"]))
        byte = draw(st.sampled_from(INTERESTING))
        if action == "insert" or position == len(raw):
            raw.insert(position, byte)
        elif action == "replace":
            raw[position] = byte
        elif action == "delete":
            del raw[position]
        else:
            end = draw(st.integers(min_value=position, max_value=min(len(raw), position + 40)))
            raw[position:position] = raw[position:end]
    return bytes(raw)


@settings(max_examples=400)
@given(mutated_seeds())
def test_mutated_samples_raise_only_hl7_errors(raw: bytes) -> None:
    _read_everything(raw)


@given(st.sampled_from(SEEDS), st.text(alphabet='|^~\\&\r\n0123456789<>.+- XFSTRE"', max_size=40))
def test_text_spliced_into_a_sample_raises_only_hl7_errors(seed: bytes, text: str) -> None:
    middle = len(seed) // 2
    _read_everything(seed[:middle] + text.encode() + seed[middle:])


def test_every_seed_reads_cleanly() -> None:
    # The fuzz tests start from messages that work, so what they find is the mutation's doing.
    for raw in SEEDS:
        msg = parse(decode_message(raw))
        require_supported(msg)
        extract_patient(msg)
    extract_appointment(parse(SIU_S12))
    assert extract_document(parse(MDM_T02)).content_bytes == b"%PDF-1.4\n%%EOF\n"
