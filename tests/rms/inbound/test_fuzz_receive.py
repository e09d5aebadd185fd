"""Property: whatever bytes arrive, ``receive`` answers with an acknowledgement, keeps the
message, and never leaves a half-written result."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rms.hl7 import parse
from rms.inbound import receive
from rms.models import InboundMessage, Observation, Result
from tests.factories import PatientFactory, TeamFactory
from tests.rms.hl7.samples import SAMPLE_NAMES, sample_bytes

pytestmark = pytest.mark.django_db
PKB_SAMPLES = Path(__file__).resolve().parents[2] / "pkb_bridge" / "hl7" / "samples"
# The inbound samples and PKB's published ones (other message types, other segments).
SAMPLES = [sample_bytes(name) for name in SAMPLE_NAMES] + [
    path.read_bytes() for path in sorted(PKB_SAMPLES.glob("*.hl7"))
]


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A sample with random bytes replaced, inserted or cut, or plain random bytes."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.binary(max_size=400))
    data = bytearray(draw(st.sampled_from(SAMPLES)))
    for _ in range(draw(st.integers(1, 6))):
        action = draw(st.sampled_from(["replace", "insert", "cut"]))
        at = draw(st.integers(0, len(data)))
        chunk = draw(
            st.binary(min_size=1, max_size=4)
            | st.sampled_from([b"|", b"^", b"\r", b"~", b"\\", b"&"])
        )
        if action == "replace" and at < len(data):
            data[at : at + len(chunk)] = chunk
        elif action == "insert":
            data[at:at] = chunk
        else:
            del data[at : at + len(chunk)]
    # A fresh control id most of the time, so that each example is processed, not repeated.
    if draw(st.booleans()):
        data = data.replace(b"LAB0000", b"FUZ" + str(draw(st.integers(0, 10**9))).encode(), 1)
    return bytes(data)


@pytest.fixture
def known_patient(db: None) -> None:
    PatientFactory(
        nhs_number="9990000018",
        mrn="RXX1234567",
        family_name="Tester",
        date_of_birth=dt.date(1958, 2, 14),
        teams=[TeamFactory(code="URO")],
    )


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(raw=mutated())
def test_any_bytes_get_an_ack_are_kept_and_never_half_filed(
    known_patient: None, raw: bytes
) -> None:
    before = InboundMessage.objects.count()
    ack = receive(raw=raw, channel="mllp")
    code = parse(ack.decode("latin-1")).get_segment("MSA").value(1)
    assert code in ("AA", "AE", "AR")
    assert InboundMessage.objects.count() in (before, before + 1)  # a repeat adds nothing
    # Nothing filed from a refused or held message; every result is complete.
    refused = InboundMessage.objects.exclude(status=InboundMessage.Status.PROCESSED)
    assert not Result.objects.filter(last_message__in=refused).exists()
    assert (
        not Result.objects.filter(observations__isnull=True, category="lab")
        .exclude(report_text__gt="")
        .exists()
    )
    assert not Observation.objects.filter(result__isnull=True).exists()
