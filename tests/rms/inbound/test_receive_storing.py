"""``INBOUND_ACK_AFTER=storing``: the sender is answered once the raw message is stored, and
the filer files the stored messages afterwards, oldest first. What the sender is told, what
is kept, and that nothing is filed twice, out of order or not at all."""

from __future__ import annotations

import pytest
from django.db.models.signals import post_save

from rms.hl7 import parse
from rms.inbound import inbound_reprocess, receive
from rms.inbound.receive import inbound_file_queued
from rms.models import InboundMessage, Result
from tests.rms.hl7.samples import sample_bytes
from worklists.models import WorkItem

pytestmark = pytest.mark.django_db

Status = InboundMessage.Status


@pytest.fixture(autouse=True)
def storing(settings) -> None:  # type: ignore[no-untyped-def]
    settings.INBOUND_ACK_AFTER = "storing"


def ack_of(raw: bytes) -> tuple[str, str, str]:
    """MSA-1, MSA-2 and MSA-3 of an ACK."""
    msa = parse(raw.decode("latin-1")).get_segment("MSA")
    return msa.value(1), msa.value(2), msa.value(3)


def test_the_sender_is_answered_aa_once_stored_and_the_filer_files_it_after(tester) -> None:
    # (A test runs in a transaction that never commits, so the filer's doorbell never rings
    # here: what the ACK means is seen before anything is filed.)
    ack = receive(raw=sample_bytes("oru_r01_psa.hl7"), channel="mllp", peer="10.0.0.1")
    assert ack_of(ack)[:2] == ("AA", "LAB0000101")
    stored = InboundMessage.objects.get()
    assert (stored.status, stored.ack_code, stored.attempts) == (Status.RECEIVED, "AA", 0)
    assert stored.raw_bytes == sample_bytes("oru_r01_psa.hl7")
    assert not Result.objects.exists()

    assert inbound_file_queued() == 1
    stored.refresh_from_db()
    assert (stored.status, stored.patient, stored.attempts) == (Status.PROCESSED, tester, 1)
    assert stored.ack.encode() == ack, "the row keeps the answer that was sent"
    result = Result.objects.get()
    assert (result.patient, result.filler_order_number) == (tester, "26L0045123")
    assert inbound_file_queued() == 0, "nothing is filed twice"
    assert Result.objects.count() == 1


def test_a_resend_before_and_after_filing_gets_the_same_answer_and_is_kept_once(tester) -> None:
    raw = sample_bytes("oru_r01_psa.hl7")
    first = receive(raw=raw, channel="mllp")
    assert receive(raw=raw, channel="mllp") == first
    assert InboundMessage.objects.count() == 1
    inbound_file_queued()
    assert receive(raw=raw, channel="mllp") == first
    assert InboundMessage.objects.count() == 1
    assert Result.objects.count() == 1


def test_a_correction_stored_behind_its_original_is_filed_after_it(tester) -> None:
    receive(raw=sample_bytes("oru_r01_psa.hl7"), channel="mllp")
    receive(raw=sample_bytes("oru_r01_corrected.hl7"), channel="mllp")
    assert not Result.objects.exists()
    assert inbound_file_queued(batch=1) == 2
    result = Result.objects.get()
    assert (result.status, result.version) == ("corrected", 2)
    current = result.observations.get(superseded_at__isnull=True)
    assert current.value_text == "0.21"


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b"MSH|^~\\&|X|Y|RMS|RXX|20261110||ORU^R01|BAD2|P|2.4\rOBR|1||F1|PSA|||20261110\r", "AE"),
        (b"MSH|^~\\&|X|Y|RMS|RXX|20261110||ZZZ^Z01|BAD4|P|2.4\rPID|||1\r", "AR"),
        (b"NOT-HL7 at all\r", "AR"),
    ],
)
def test_a_message_we_will_never_file_is_still_refused_at_once(raw, code) -> None:
    ack_code, _, reason = ack_of(receive(raw=raw, channel="mllp"))
    assert ack_code == code and reason
    stored = InboundMessage.objects.get()
    assert (stored.status, stored.ack_code, stored.raw_bytes) == (Status.ERROR, code, raw)
    assert inbound_file_queued() == 0


def test_an_event_we_do_not_use_is_accepted_and_done_without_the_filer(tester) -> None:
    admission = sample_bytes("adt_a28_pas_new_patient.hl7").replace(
        b"ADT^A28^ADT_A05", b"ADT^A01^ADT_A01"
    )
    assert ack_of(receive(raw=admission, channel="mllp"))[0] == "AA"
    assert InboundMessage.objects.get().status == Status.IGNORED
    assert inbound_file_queued() == 0


def test_an_unknown_patient_is_held_by_the_filer_with_a_work_item(team) -> None:
    assert ack_of(receive(raw=sample_bytes("oru_r01_psa.hl7"), channel="mllp"))[0] == "AA"
    inbound_file_queued()
    assert InboundMessage.objects.get().status == Status.UNMATCHED
    item = WorkItem.objects.get(kind=WorkItem.Kind.UNMATCHED_MESSAGE)
    assert item.title == "Inbound ORU^R01 message held: patient not found"


def test_content_that_cannot_be_filed_after_the_aa_is_held_for_an_administrator(
    tester, django_user_model
) -> None:
    def explode(sender, **kwargs) -> None:  # type: ignore[no-untyped-def]
        raise RuntimeError("the database refused the row")

    ack = receive(raw=sample_bytes("oru_r01_psa.hl7"), channel="mllp")
    # Django's own signal, sent as the result is written: a failure inside filing.
    post_save.connect(explode, sender=Result)
    try:
        assert inbound_file_queued() == 1
    finally:
        post_save.disconnect(explode, sender=Result)
    stored = InboundMessage.objects.get()
    assert stored.status == Status.ERROR and "RuntimeError" in stored.error
    assert (stored.ack_code, stored.ack.encode()) == ("AA", ack), "what the sender was told"
    assert not Result.objects.exists()
    item = WorkItem.objects.get(kind=WorkItem.Kind.UNMATCHED_MESSAGE)
    assert item.title == "Inbound ORU^R01 message accepted but not filed"
    assert item.priority == WorkItem.Priority.HIGH
    assert "will not send it again" in item.explanation
    assert item.status == WorkItem.Status.OPEN

    admin = django_user_model.objects.create_superuser("root", "root@example.org", "x" * 16)
    inbound_reprocess(message=stored, actor=admin)
    stored.refresh_from_db()
    assert stored.status == Status.PROCESSED
    assert Result.objects.get().patient == tester
    item.refresh_from_db()
    assert item.status != WorkItem.Status.OPEN, "the item closes when the message is filed"


def test_filing_mode_is_unchanged_by_the_filer(tester, settings) -> None:  # type: ignore[no-untyped-def]
    settings.INBOUND_ACK_AFTER = "filing"
    receive(raw=sample_bytes("oru_r01_psa.hl7"), channel="mllp")
    assert InboundMessage.objects.get().status == Status.PROCESSED
    assert inbound_file_queued() == 0
    assert Result.objects.count() == 1
