"""Appointments, documents, demographics and diagnoses reach PKB through domain events consumed
after the filing transaction: a PAS's or an EPR's message is filed and acknowledged whatever
the PKB bridge does with it, the bridge's work is retried when it fails, a patient's changes
reach the outbox in the order they were filed, and consuming an event again queues nothing."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
import time_machine
from django.db import transaction
from django.utils import timezone

from pkb_bridge import receivers
from pkb_bridge import services as pkb_services
from pkb_bridge.models import OutboundMessage
from rms import events
from rms import services as rms_services
from rms.events.consume import BACKOFF_S
from rms.hl7 import parse
from rms.inbound import receive
from rms.models import Appointment, DomainEvent, EventDelivery, InboundMessage, Patient
from rms.services import AppointmentInput
from tests.factories import PatientFactory
from tests.rms.hl7.samples import MDM_T02, PID, message, sample_bytes

pytestmark = pytest.mark.django_db

Kind = OutboundMessage.Kind
Event = DomainEvent.Kind
PKB = "pkb_bridge.share"

SIU_S12 = message(
    "MSH|^~\\&|PAS|RXX01|RMS|RXX|20261102093000||SIU^S12^SIU_S12|SIU1|P|2.4",
    "SCH|APT-1||||||^PSA review^|TEL^Telephone|||^^^202612011030+0000^202612011045+0000",
    PID,
    "AIP|1||C1^Khan^Asha^^^Dr|",
)


def adt_a08(control_id: str = "PAS0000002", postcode: str = "TA2 9ZZ") -> bytes:
    """The PAS's demographic update of the samples' patient: a new postcode."""
    return (
        sample_bytes("adt_a28_pas_new_patient.hl7")
        .replace(b"ADT^A28^ADT_A05", b"ADT^A08^ADT_A01")
        .replace(b"EVN|A28", b"EVN|A08")
        .replace(b"PAS0000001", control_id.encode())
        .replace(b"TA1 2AB", postcode.encode())
    )


MESSAGES = {
    "SIU^S12": (SIU_S12.encode(), Event.APPOINTMENT_CHANGED, Kind.APPOINTMENT_NEW),
    "ADT^A08": (adt_a08(), Event.PATIENT_CHANGED, Kind.UPDATE),
    "MDM^T02": (MDM_T02.encode(), Event.DOCUMENT_CHANGED, Kind.DOCUMENT),
}


@pytest.fixture
def shared(team, clinician) -> Patient:
    """The samples' patient (TESTER; 9990000018, verified; RXX1234567), shared with PKB."""
    patient = PatientFactory(
        nhs_number="9990000018",
        mrn="RXX1234567",
        given_name="Alan",
        family_name="TESTER",
        date_of_birth=dt.date(1958, 2, 14),
        # As the PAS has them (the samples' PID).
        address_line_1="12 Orchard Close",
        address_county="Somerset",
        postcode="TA1 2AB",
        phone_home="01823000000",
        email="alan.tester@example.org",
        teams=[team],
    )
    pkb_services.enrolment_opt_in(
        attestation="Consented in clinic, paper form filed", patient=patient, actor=clinician
    )
    return patient


class Broken:
    """The bridge's consumer with a bug in it while ``broken``; once fixed, the real one.
    Registered under the bridge's own name, as a deployment of the buggy code would be."""

    def __init__(self, handler: events.Consumer) -> None:
        self.real = handler
        self.broken = True

    def __call__(self, event: DomainEvent) -> None:
        if self.broken:
            raise RuntimeError("the PKB bridge has a bug")
        self.real.handler(event)


@pytest.fixture
def broken_bridge() -> Iterator[Broken]:
    [real] = [consumer for consumer in events.consumers() if consumer.name == PKB]
    broken = Broken(real)
    events.register_consumer(PKB, real.kinds, broken, after=real.after)
    yield broken
    events.register_consumer(PKB, real.kinds, real.handler, after=real.after)


def outbox(patient: Patient) -> list[OutboundMessage]:
    return list(OutboundMessage.objects.filter(patient=patient).order_by("seq"))


def ack_code(raw: bytes) -> str:
    return parse(raw.decode("latin-1")).get_segment("MSA").value(1)


def pkb_deliveries() -> list[EventDelivery]:
    return list(EventDelivery.objects.filter(consumer=PKB).order_by("event_id"))


def test_an_appointment_from_the_pas_reaches_the_pkb_outbox_through_its_event(shared) -> None:
    before = len(outbox(shared))
    assert ack_code(receive(raw=SIU_S12.encode(), channel="mllp")) == "AA"
    appointment = Appointment.objects.get()
    event = DomainEvent.objects.get(kind=Event.APPOINTMENT_CHANGED)
    assert (event.subject_id, event.patient_id) == (appointment.pk, shared.pk)
    assert event.payload == {"created": True, "status": "booked"}
    [delivery] = event.deliveries.all()
    assert delivery.consumer == PKB and delivery.done_at is not None
    queued = outbox(shared)[before:]
    assert [m.kind for m in queued] == [Kind.APPOINTMENT_NEW]
    assert "APT-1" in queued[0].payload


def test_a_demographic_update_from_the_pas_reaches_pkb_as_before(shared) -> None:
    before = len(outbox(shared))
    assert ack_code(receive(raw=adt_a08(), channel="mllp")) == "AA"
    shared.refresh_from_db()
    assert shared.postcode == "TA2 9ZZ"
    event = DomainEvent.objects.get(kind=Event.PATIENT_CHANGED)
    assert event.payload == {"changed_fields": ["postcode"]}, "the fields' names, not values"
    queued = outbox(shared)[before:]
    assert [m.kind for m in queued] == [Kind.UPDATE]
    assert "TA2 9ZZ" in queued[0].payload


def test_a_patient_not_shared_with_pkb_queues_nothing(team) -> None:
    PatientFactory(
        nhs_number="9990000018",
        mrn="RXX1234567",
        family_name="Tester",
        date_of_birth=dt.date(1958, 2, 14),
        teams=[team],
    )
    for raw, _, _ in MESSAGES.values():
        assert ack_code(receive(raw=raw, channel="mllp")) == "AA"
    assert all(d.done_at is not None for d in pkb_deliveries())
    assert not OutboundMessage.objects.exists()


@pytest.mark.parametrize("message_type", list(MESSAGES))
def test_a_failing_pkb_bridge_leaves_the_message_filed_with_aa_and_is_retried(
    shared, broken_bridge, message_type
) -> None:
    raw, event_kind, outbound_kind = MESSAGES[message_type]
    before = len(outbox(shared))
    assert ack_code(receive(raw=raw, channel="mllp")) == "AA", "the bridge's bug is not theirs"
    assert InboundMessage.objects.get().status == InboundMessage.Status.PROCESSED
    [delivery] = pkb_deliveries()
    assert delivery.event.kind == event_kind
    assert delivery.done_at is None and delivery.attempts == 1
    assert delivery.last_error == "RuntimeError: the PKB bridge has a bug"
    assert len(outbox(shared)) == before

    assert events.events_consume() == 0, "not due again yet"
    broken_bridge.broken = False  # fixed and deployed
    with time_machine.travel(timezone.now() + dt.timedelta(seconds=BACKOFF_S[0] + 1)):
        assert events.events_consume() == 1
    [delivery] = pkb_deliveries()
    assert delivery.done_at is not None and delivery.attempts == 2
    assert [m.kind for m in outbox(shared)[before:]] == [outbound_kind]


def test_a_patients_changes_reach_the_outbox_in_the_order_filed_after_a_failure(
    shared, broken_bridge
) -> None:
    before = len(outbox(shared))
    receive(raw=SIU_S12.encode(), channel="mllp")
    receive(raw=adt_a08(), channel="mllp")
    receive(raw=MDM_T02.encode(), channel="mllp")
    first, *later = pkb_deliveries()
    assert first.attempts == 1 and first.done_at is None
    assert [(d.attempts, d.done_at) for d in later] == [(0, None), (0, None)], (
        "the patient's later events wait for the first"
    )

    broken_bridge.broken = False
    with time_machine.travel(timezone.now() + dt.timedelta(seconds=BACKOFF_S[0] + 1)):
        assert events.events_consume() == 3
    assert [m.kind for m in outbox(shared)[before:]] == [
        Kind.APPOINTMENT_NEW,
        Kind.UPDATE,
        Kind.DOCUMENT,
    ]


def test_consuming_an_event_again_queues_nothing_more(shared, clinician) -> None:
    for raw, _, _ in MESSAGES.values():
        receive(raw=raw, channel="mllp")
    rms_services.diagnosis_create(
        patient=shared,
        actor=clinician,
        code="94391008",
        code_system="SNOMED CT",
        text="Secondary malignant neoplasm of lung",
        diagnosed_on=dt.date(2026, 10, 1),
    )
    queued = outbox(shared)
    assert [m.kind for m in queued[-4:]] == [
        Kind.APPOINTMENT_NEW,
        Kind.UPDATE,
        Kind.DOCUMENT,
        Kind.UPDATE,
    ]
    # The sweep, or a worker that lost its "done", runs the consumer on the same events again.
    for event in DomainEvent.objects.filter(patient=shared).order_by("id"):
        with transaction.atomic():
            receivers.share_event(event)
    assert outbox(shared) == queued


def test_an_appointment_gone_before_its_event_is_consumed_needs_nothing(shared, clinician) -> None:
    before = len(outbox(shared))
    when = timezone.now() + dt.timedelta(days=10)
    with transaction.atomic():
        appointment, _ = rms_services.appointment_record(
            patient=shared,
            data=AppointmentInput(placer_id="APT-GONE", starts_at=when),
            actor=clinician,
        )
        Appointment.objects.filter(pk=appointment.pk).delete()
    [delivery] = pkb_deliveries()
    assert delivery.done_at is not None and delivery.last_error == ""
    assert len(outbox(shared)) == before


def test_the_event_is_rolled_back_with_the_appointment(shared, clinician) -> None:
    before = len(outbox(shared))
    when = timezone.now() + dt.timedelta(days=10)
    with pytest.raises(RuntimeError), transaction.atomic():
        rms_services.appointment_record(
            patient=shared,
            data=AppointmentInput(placer_id="APT-UNDONE", starts_at=when),
            actor=clinician,
        )
        raise RuntimeError("the filing transaction failed after the appointment was written")
    assert not Appointment.objects.exists()
    assert not DomainEvent.objects.filter(kind=Event.APPOINTMENT_CHANGED).exists()
    assert not pkb_deliveries()
    assert len(outbox(shared)) == before
