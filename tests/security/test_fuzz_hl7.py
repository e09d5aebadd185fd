"""The HL7 readers on mutated versions of every sample we hold, PKB's published ones included:
the inbound parser raises only ``Hl7Error`` (which becomes an AE/AR acknowledgement), and the
reader of PKB's acknowledgements never raises.

``tests/rms/hl7/test_fuzz.py`` fuzzes the inbound samples byte by byte; this adds PKB's samples
(other segments: SCH, AIS, TXA, MSA) and structural mutations: segments repeated, dropped or
swapped, fields emptied or blown up, and the message's own delimiters changed.
"""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from pkb_bridge.hl7.ack import parse_ack
from tests.rms.hl7.samples import SAMPLE_NAMES, sample_bytes
from tests.rms.hl7.test_fuzz import _read_everything

PKB_SAMPLES = Path(__file__).resolve().parents[1] / "pkb_bridge" / "hl7" / "samples"
SEEDS = [sample_bytes(name) for name in SAMPLE_NAMES] + [
    path.read_bytes() for path in sorted(PKB_SAMPLES.glob("*.hl7"))
]
ACKS = [(PKB_SAMPLES / name).read_bytes() for name in ("ack_aa.hl7", "ack_ar_as_published.hl7")]
FIELD_NOISE = [
    b"",
    b"^^^^",
    b"~~~~",
    b"\\",
    b"\\X0D\\",
    b"\\.br\\",
    b"&&&",
    b"9" * 2000,
    b"\xff\xfe",
]


@st.composite
def restructured(draw: st.DrawFn, seeds: list[bytes] = SEEDS) -> bytes:
    """A sample with whole segments and fields moved about."""
    segments = draw(st.sampled_from(seeds)).rstrip(b"\r\n").split(b"\r")
    for _ in range(draw(st.integers(1, 5))):
        at = draw(st.integers(0, len(segments) - 1))
        action = draw(st.sampled_from(["repeat", "drop", "swap", "field", "delimiters"]))
        if action == "repeat":
            segments.insert(at, segments[at])
        elif action == "drop" and len(segments) > 1:
            del segments[at]
        elif action == "swap":
            other = draw(st.integers(0, len(segments) - 1))
            segments[at], segments[other] = segments[other], segments[at]
        elif action == "field":
            fields = segments[at].split(b"|")
            index = draw(st.integers(0, len(fields)))
            noise = draw(st.sampled_from(FIELD_NOISE))
            if index == len(fields):
                fields.append(noise)
            else:
                fields[index] = noise
            segments[at] = b"|".join(fields)
        elif segments[0].startswith(b"MSH"):
            encoding = draw(st.binary(min_size=0, max_size=5))
            segments[0] = segments[0][:3] + encoding + segments[0][8:]
    ending = draw(st.sampled_from([b"\r", b"\n", b"\r\n", b""]))
    return ending.join(segments) + ending


@settings(max_examples=300, deadline=None)
@given(restructured())
def test_restructured_samples_raise_only_hl7_errors(raw: bytes) -> None:
    _read_everything(raw)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(SEEDS), st.binary(max_size=60), st.data())
def test_random_bytes_spliced_into_any_sample_raise_only_hl7_errors(
    seed: bytes, noise: bytes, data: st.DataObject
) -> None:
    at = data.draw(st.integers(0, len(seed)))
    _read_everything(seed[:at] + noise + seed[at:])


@settings(max_examples=300, deadline=None)
@given(restructured(ACKS), st.sampled_from(["utf-8", "latin-1"]))
def test_a_mangled_pkb_acknowledgement_never_raises(raw: bytes, encoding: str) -> None:
    ack = parse_ack(raw.decode(encoding, errors="replace"))
    assert ack.code in (None, "AA", "AE", "AR", "CA", "CE", "CR") or isinstance(ack.code, str)
