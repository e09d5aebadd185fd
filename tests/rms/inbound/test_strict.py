"""Optional strict validation (``INBOUND_STRICT_VALIDATION``) against hl7apy's structures."""

from __future__ import annotations

import pytest

from rms.hl7 import parse
from rms.inbound import receive
from rms.models import InboundMessage, Result
from tests.rms.hl7.samples import sample_bytes

pytestmark = pytest.mark.django_db

PSA = sample_bytes("oru_r01_psa.hl7")
# The same result with PV1 moved after the OBX: our parser reads it, but ORU^R01 has no place
# for PV1 there, so hl7apy refuses its structure.
MISPLACED_PV1 = (
    b"\r".join(
        [s for s in PSA.rstrip(b"\r").split(b"\r") if not s.startswith(b"PV1")]
        + [s for s in PSA.split(b"\r") if s.startswith(b"PV1")]
    )
    + b"\r"
)
PATIENT_DATA = ("9990000018", "999 000 0018", "RXX1234567", "TESTER", "Alan", "19580214")


def ack_of(raw: bytes) -> tuple[str, str, str]:
    """MSA-1, MSA-3 and the whole ACK text."""
    text = raw.decode("latin-1")
    msa = parse(text).get_segment("MSA")
    return msa.value(1), msa.value(3), text


@pytest.fixture
def strict(settings) -> None:
    settings.INBOUND_STRICT_VALIDATION = True


def test_the_misplaced_segment_really_is_the_only_difference() -> None:
    assert MISPLACED_PV1 != PSA
    assert sorted(MISPLACED_PV1.split(b"\r")) == sorted(PSA.split(b"\r"))


@pytest.mark.parametrize(
    "name", ["oru_r01_psa.hl7", "oru_r01_bloods_panel.hl7", "oru_r01_radiology_report.hl7"]
)
def test_with_strict_validation_a_conforming_result_is_still_accepted(strict, tester, name) -> None:
    code, _, _ = ack_of(receive(raw=sample_bytes(name), channel="mllp"))
    assert code == "AA"
    assert InboundMessage.objects.get().status == InboundMessage.Status.PROCESSED
    assert Result.objects.count() == 1


def test_with_strict_validation_a_non_conforming_message_is_refused_without_patient_data(
    strict, tester
) -> None:
    code, reason, ack = ack_of(receive(raw=MISPLACED_PV1, channel="mllp"))
    assert code == "AR"
    assert "does not conform to the HL7 standard" in reason
    stored = InboundMessage.objects.get()
    assert (stored.status, stored.patient, stored.raw_bytes) == ("error", None, MISPLACED_PV1)
    for value in PATIENT_DATA:
        assert value not in ack
        assert value not in stored.error
    assert not Result.objects.exists()


def test_without_strict_validation_the_same_message_is_accepted(settings, tester) -> None:
    settings.INBOUND_STRICT_VALIDATION = False
    code, _, _ = ack_of(receive(raw=MISPLACED_PV1, channel="mllp"))
    assert code == "AA"
    assert Result.objects.get().patient == tester
