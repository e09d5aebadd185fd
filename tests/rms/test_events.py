"""Domain events: written with the change, consumed after commit, once per consumer, retried,
in order per patient; a consumer's failure never reaches the lab's acknowledgement."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal

import pytest
import time_machine
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from careplans.followup import services as plan_services
from careplans.models import Pathway
from rms import events, services
from rms.events.consume import BACKOFF_S
from rms.models import DomainEvent, EventDelivery, Result
from rms.services import ObservationInput, ResultInput
from tests.factories import PatientFactory
from tests.rms.hl7.samples import sample_bytes
from worklists.models import WorkItem

pytestmark = pytest.mark.django_db
Kind = DomainEvent.Kind
TAKEN = dt.datetime(2026, 11, 10, 9, 30, tzinfo=dt.UTC)


def psa(value: str, fon: str, *, status: str = "final", taken: dt.datetime = TAKEN) -> ResultInput:
    return ResultInput(
        category="lab",
        source_system="WINPATH",
        filler_order_number=fon,
        observed_at=taken,
        status=status,
        service_code="PSA",
        service_name="Prostate specific antigen",
        observations=[
            ObservationInput(
                code="PSA",
                name="PSA",
                value_type="NM",
                value_text=value,
                value_numeric=Decimal(value),
                units="ug/L",
                observed_at=taken,
            )
        ],
    )


class Flaky:
    """A consumer that fails for the filler order numbers in ``failing`` and records the
    order in which it consumed the rest."""

    def __init__(self) -> None:
        self.failing: set[str] = set()
        self.consumed: list[tuple[str, str]] = []

    def __call__(self, event: DomainEvent) -> None:
        result = Result.objects.get(pk=event.subject_id)
        if result.filler_order_number in self.failing:
            raise RuntimeError("the consumer has a bug")
        self.consumed.append((event.kind, result.filler_order_number))


@pytest.fixture
def flaky() -> Iterator[Flaky]:
    consumer = Flaky()
    events.register_consumer("tests.flaky", [Kind.RESULT_RECORDED, Kind.RESULT_CORRECTED], consumer)
    yield consumer
    events.unregister_consumer("tests.flaky")


def deliveries(consumer: str = "tests.flaky") -> list[EventDelivery]:
    return list(EventDelivery.objects.filter(consumer=consumer).order_by("event_id"))


def test_a_result_writes_its_event_and_a_delivery_for_each_consumer(patient, clinician) -> None:
    outcome = services.result_record(patient=patient, data=psa("0.1", "F1"), actor=clinician)
    event = DomainEvent.objects.get()
    assert (event.kind, event.subject_id, event.patient_id) == (
        Kind.RESULT_RECORDED,
        outcome.result.pk,
        patient.pk,
    )
    assert event.payload == {"version": 1, "status": "final"}
    consumers = set(event.deliveries.values_list("consumer", flat=True))
    assert consumers == {"careplans.monitoring", "pkb_bridge.share"}
    assert all(d.done_at is not None for d in event.deliveries.all()), "consumed after commit"


def test_the_event_is_rolled_back_with_the_result(patient, clinician) -> None:
    with pytest.raises(RuntimeError), transaction.atomic():
        services.result_record(patient=patient, data=psa("0.1", "F1"), actor=clinician)
        raise RuntimeError("the filing transaction failed after the result was written")
    assert not Result.objects.exists()
    assert not DomainEvent.objects.exists()
    assert not EventDelivery.objects.exists()


def test_a_correction_and_a_deletion_are_events_of_their_own(patient, clinician) -> None:
    services.result_record(patient=patient, data=psa("0.1", "F1"), actor=clinician)
    services.result_record(patient=patient, data=psa("0.1", "F1"), actor=clinician)  # repeat
    services.result_record(
        patient=patient, data=psa("0.2", "F1", status="corrected"), actor=clinician
    )
    services.result_record(
        patient=patient, data=psa("0.2", "F1", status="deleted"), actor=clinician
    )
    kinds = list(DomainEvent.objects.order_by("id").values_list("kind", flat=True))
    assert kinds == [Kind.RESULT_RECORDED, Kind.RESULT_CORRECTED, Kind.RESULT_DELETED]


def test_a_consumer_that_raises_leaves_the_ack_aa_and_succeeds_when_retried(flaky) -> None:
    PatientFactory(
        nhs_number="9990000018",
        mrn="RXX1234567",
        family_name="Tester",
        date_of_birth=dt.date(1958, 2, 14),
    )
    flaky.failing = {"26L0045123"}  # the sample's filler order number
    ack = services_receive(sample_bytes("oru_r01_psa.hl7"))
    assert b"MSA|AA|" in ack, "stored and filed: the consumer's bug is not the lab's problem"
    assert Result.objects.count() == 1
    [delivery] = deliveries()
    assert delivery.done_at is None and delivery.attempts == 1
    assert delivery.last_error == "RuntimeError: the consumer has a bug"
    assert delivery.next_attempt_at > timezone.now()
    assert all(d.done_at for d in EventDelivery.objects.exclude(consumer="tests.flaky")), (
        "the other consumers are not held back"
    )

    assert events.events_consume() == 0, "not due again yet"
    flaky.failing = set()  # fixed and deployed
    with time_machine.travel(timezone.now() + dt.timedelta(seconds=BACKOFF_S[0] + 1)):
        assert events.events_consume() == 1
    [delivery] = deliveries()
    assert delivery.done_at is not None and delivery.attempts == 2
    assert flaky.consumed == [(Kind.RESULT_RECORDED, "26L0045123")]


def services_receive(raw: bytes) -> bytes:
    from rms.inbound import receive

    return receive(raw=raw, channel="mllp")


def test_a_failed_event_holds_that_patients_later_events_for_that_consumer_only(
    team, clinician, flaky
) -> None:
    first, second = PatientFactory(teams=[team]), PatientFactory(teams=[team])
    flaky.failing = {"A1"}
    services.result_record(patient=first, data=psa("0.1", "A1"), actor=clinician)
    services.result_record(
        patient=first, data=psa("0.2", "A2", taken=TAKEN + dt.timedelta(days=1)), actor=clinician
    )
    services.result_record(patient=second, data=psa("0.3", "B1"), actor=clinician)
    assert flaky.consumed == [(Kind.RESULT_RECORDED, "B1")], "A2 waits for A1; B1 does not"
    a1, a2, b1 = deliveries()
    assert (a1.attempts, a2.attempts, b1.attempts) == (1, 0, 1)

    flaky.failing = set()
    with time_machine.travel(timezone.now() + dt.timedelta(seconds=BACKOFF_S[0] + 1)):
        assert events.events_consume() == 2
    assert flaky.consumed == [
        (Kind.RESULT_RECORDED, "B1"),
        (Kind.RESULT_RECORDED, "A1"),
        (Kind.RESULT_RECORDED, "A2"),
    ]


def test_a_patient_held_behind_a_failure_never_crowds_another_out_of_a_pass(
    team, clinician, flaky
) -> None:
    first, second = PatientFactory(teams=[team]), PatientFactory(teams=[team])
    flaky.failing = {"A0", "B1"}
    for n in range(12):
        when = TAKEN + dt.timedelta(days=n)
        services.result_record(patient=first, data=psa("0.1", f"A{n}", taken=when), actor=clinician)
    services.result_record(patient=second, data=psa("0.3", "B1"), actor=clinician)
    assert flaky.consumed == []

    flaky.failing = {"A0"}  # B1's bug is fixed; A0's is not
    with time_machine.travel(timezone.now() + dt.timedelta(seconds=BACKOFF_S[0] + 1)):
        # A pass of five: the first patient's eleven waiting results must not fill it.
        assert events.events_consume(batch=5) == 1
    assert flaky.consumed == [(Kind.RESULT_RECORDED, "B1")]


def test_a_burst_of_one_patients_events_is_consumed_in_order(patient, clinician, flaky) -> None:
    flaky.failing = {"F0"}
    # The clock stands still while the burst is filed: on a loaded machine the 30 filings
    # could outlast F0's first backoff, and a ring among them would retry it (and fail it
    # again) before the test means to.
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        for n in range(30):
            when = TAKEN + dt.timedelta(days=n)
            services.result_record(
                patient=patient, data=psa("0.1", f"F{n}", taken=when), actor=clinician
            )
    flaky.failing = set()
    with time_machine.travel(start + dt.timedelta(seconds=BACKOFF_S[0] + 1)):
        assert events.events_consume() == 30
    assert [fon for _, fon in flaky.consumed] == [f"F{n}" for n in range(30)]


def test_a_run_that_reached_every_due_delivery_does_not_look_again(
    patient, clinician, flaky, monkeypatch
) -> None:
    # A ring's run takes what is due and stops: the events committed after its look rang
    # the doorbell themselves. Looking again at once for them was a pass for every one or
    # two events under a steady feed (bench/inbound.py's worker CPU a message).
    from rms.events import record as record_module

    monkeypatch.setattr(record_module.doorbell, "send", lambda: None)
    for n in range(3):
        services.result_record(patient=patient, data=psa("0.1", f"F{n}"), actor=clinician)
    pending = EventDelivery.objects.filter(done_at__isnull=True)
    assert pending.count() == 9, "three events, each for monitoring, PKB and the test's"
    with CaptureQueriesContext(connection) as queries:
        assert events.events_consume() == 9
    looks = [q for q in queries.captured_queries if "ROW_NUMBER()" in q["sql"].upper()]
    assert len(looks) == 1
    assert not pending.exists()
    assert [fon for _, fon in flaky.consumed] == ["F0", "F1", "F2"]


def test_retries_back_off(patient, clinician, flaky) -> None:
    flaky.failing = {"F1"}
    services.result_record(patient=patient, data=psa("0.1", "F1"), actor=clinician)
    tried_at = timezone.now()
    waits = []
    for _ in range(3):
        [delivery] = deliveries()
        waits.append(round((delivery.next_attempt_at - tried_at).total_seconds()))
        tried_at = delivery.next_attempt_at + dt.timedelta(seconds=1)
        with time_machine.travel(tried_at, tick=False):
            assert events.events_consume() == 0
    assert waits == [BACKOFF_S[0], BACKOFF_S[1], BACKOFF_S[2]]


def test_ringing_again_does_not_raise_a_breach_twice(team, clinician) -> None:
    patient = PatientFactory(teams=[team])
    plan_services.plan_start(
        patient=patient,
        pathway=Pathway.objects.get(code="prostate-post-prostatectomy"),
        anchor_date=dt.date(2025, 1, 15),
        actor=clinician,
    )
    services.result_record(
        patient=patient,
        data=psa("0.21", "P1", taken=TAKEN.replace(month=8, day=2)),
        actor=clinician,
    )
    services.result_record(patient=patient, data=psa("0.24", "P2"), actor=clinician)
    breaches = WorkItem.objects.filter(patient=patient, kind=WorkItem.Kind.THRESHOLD_BREACH)
    assert breaches.count() == 1
    before = list(EventDelivery.objects.values_list("pk", "attempts", "done_at"))
    # The sweep, and a doorbell rung twice, find nothing left to do.
    assert events.events_consume() == 0
    assert events.events_consume() == 0
    assert breaches.count() == 1
    assert list(EventDelivery.objects.values_list("pk", "attempts", "done_at")) == before


def test_a_lost_doorbell_is_made_good_by_the_sweep(patient, clinician, flaky) -> None:
    # The event committed but its ring never arrived (Redis restarted): the row says so.
    with transaction.atomic():
        services.result_record(patient=patient, data=psa("0.1", "F1"), actor=clinician)
        lost = [entry for entry in transaction.get_connection().run_on_commit]
        transaction.get_connection().run_on_commit = []
    assert lost, "the doorbell was to ring on commit"
    assert flaky.consumed == []
    assert EventDelivery.objects.filter(done_at__isnull=True).count() == 3
    from rms.tasks import events_consume

    assert events_consume() == 3
    assert flaky.consumed == [(Kind.RESULT_RECORDED, "F1")]


def test_the_sweep_runs_on_beat(settings) -> None:
    tasks = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert "rms.tasks.events_consume" in tasks


def test_the_pkb_bridge_takes_a_result_only_after_monitoring_has(patient, clinician) -> None:
    def broken(event: DomainEvent) -> None:
        raise RuntimeError("monitoring is broken")

    events.register_consumer("careplans.monitoring", [Kind.RESULT_RECORDED], broken)
    try:
        services.result_record(patient=patient, data=psa("0.1", "F1"), actor=clinician)
    finally:
        from careplans import receivers

        events.register_consumer(
            "careplans.monitoring", receivers.RESULT_EVENTS, receivers.result_event
        )
    pkb = EventDelivery.objects.get(consumer="pkb_bridge.share")
    # A breach monitoring would raise holds its evidence back from PKB: the bridge waits.
    assert (pkb.done_at, pkb.attempts) == (None, 0)
    with time_machine.travel(timezone.now() + dt.timedelta(seconds=BACKOFF_S[0] + 1)):
        assert events.events_consume() == 2
    pkb.refresh_from_db()
    assert pkb.done_at is not None


def test_consumed_events_are_purged_after_the_keeping_time_and_pending_ones_kept(
    patient, clinician, flaky, settings
) -> None:
    from rms.tasks import events_purge

    flaky.failing = {"F2"}
    services.result_record(patient=patient, data=psa("0.1", "F1"), actor=clinician)
    services.result_record(patient=patient, data=psa("0.2", "F2"), actor=clinician)
    with time_machine.travel(timezone.now() + dt.timedelta(days=settings.EVENTS_KEEP_DAYS - 1)):
        assert events_purge() == 0, "kept for the keeping time"
    with time_machine.travel(timezone.now() + dt.timedelta(days=settings.EVENTS_KEEP_DAYS + 1)):
        assert events_purge() == 1
    [kept] = DomainEvent.objects.all()
    assert kept.payload == {"version": 1, "status": "final"}
    assert Result.objects.get(pk=kept.subject_id).filler_order_number == "F2", "still pending"
    assert EventDelivery.objects.filter(event=kept).count() == 3
    assert not EventDelivery.objects.exclude(event=kept).exists()
