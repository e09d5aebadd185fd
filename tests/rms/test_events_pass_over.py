"""Passing over events a consumer has nothing to do with (``Consumer.idle``, PostgreSQL): a
patient's run of such events is marked done in one statement, in order, without calling the
handler; everything else is delivered one at a time as before, and the guarantees hold
(in order per patient and consumer; a failure holds that patient's later events; a consumer
registered ``after`` another waits for it).

The consumer here is the test's own, registered like the apps' (the edge the events module
serves); the events are real rows, consumed by ``events_consume``.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Iterator
from typing import Any

import pytest
from django.db.models import F

from rms import events
from rms.events.record import event_record
from rms.models import DomainEvent, EventDelivery
from tests.factories import PatientFactory

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(
        "postgres" not in os.environ.get("DATABASE_URL", ""),
        reason="the pass-over runs on PostgreSQL; SQLite delivers one at a time",
    ),
]
Kind = DomainEvent.Kind
NAME = "tests.idle"


class Recorder:
    """A consumer that is idle for the patients in ``idle_for`` (for results only, as the
    PKB bridge is for items), fails for the subjects in ``failing``, and records, for each
    event it handles, which of the same patient's deliveries of its own were done then."""

    def __init__(self) -> None:
        self.idle_for: set[int] = set()
        self.failing: set[int] = set()
        self.handled: list[tuple[int, list[int]]] = []
        self.idle_asked: list[set[int]] = []

    def handler(self, event: DomainEvent) -> None:
        if event.subject_id in self.failing:
            raise RuntimeError("the consumer has a bug")
        done = EventDelivery.objects.filter(
            consumer=NAME, patient_id=event.patient_id, done_at__isnull=False
        ).values_list("event__subject_id", flat=True)
        self.handled.append((event.subject_id, sorted(done)))

    def idle(self, patient_ids: Collection[int]) -> set[int]:
        self.idle_asked.append(set(patient_ids))
        return set(patient_ids) & self.idle_for


@pytest.fixture(autouse=True)
def doorbell_lost(monkeypatch: pytest.MonkeyPatch) -> None:
    """The test decides when the consumers run: the doorbell rings nowhere (as when Redis
    restarts), and ``events_consume`` is called as beat's sweep would call it."""
    from rms.events import record as record_module

    monkeypatch.setattr(record_module.doorbell, "send", lambda: None)


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    consumer = Recorder()
    events.register_consumer(
        NAME,
        [Kind.RESULT_RECORDED, Kind.APPOINTMENT_CHANGED],
        consumer.handler,
        idle=consumer.idle,
        idle_kinds=[Kind.RESULT_RECORDED],
    )
    yield consumer
    events.unregister_consumer(NAME)


def record(patient: Any, kind: str, subject: int) -> None:
    event_record(kind=kind, subject_id=subject, patient_id=patient.pk)


def deliveries(patient: Any) -> list[EventDelivery]:
    return list(
        EventDelivery.objects.filter(consumer=NAME, patient_id=patient.pk)
        .select_related("event")
        .order_by("event_id")
    )


def test_an_idle_patients_burst_is_done_in_order_without_the_handler(recorder) -> None:
    patient = PatientFactory()
    recorder.idle_for = {patient.pk}
    for subject in range(1, 31):  # more than one pass's look-ahead of a queue
        record(patient, Kind.RESULT_RECORDED, subject)
    assert events.events_consume() >= 30
    rows = deliveries(patient)
    assert all(row.done_at is not None and row.attempts == 1 for row in rows)
    assert all(row.lag_s is not None and row.lag_s >= 0 for row in rows)
    assert recorder.handled == []
    # In order: each row done no earlier than the one before it.
    times = [row.done_at for row in rows if row.done_at is not None]
    assert len(times) == 30 and times == sorted(times)


def test_a_run_stops_at_an_event_the_consumer_must_handle(recorder) -> None:
    patient = PatientFactory()
    recorder.idle_for = {patient.pk}
    for subject, kind in enumerate(
        [Kind.RESULT_RECORDED, Kind.RESULT_RECORDED, Kind.APPOINTMENT_CHANGED]
        + [Kind.RESULT_RECORDED] * 2,
        start=1,
    ):
        record(patient, kind, subject)
    events.events_consume()
    # The appointment (subject 3) went through the handler, after 1 and 2 and before 4, 5.
    assert recorder.handled == [(3, [1, 2])]
    assert all(row.done_at is not None for row in deliveries(patient))


def test_a_patient_who_is_not_idle_has_every_event_handled(recorder) -> None:
    idle, busy = PatientFactory(), PatientFactory()
    recorder.idle_for = {idle.pk}
    for subject in (1, 2, 3):
        record(busy, Kind.RESULT_RECORDED, subject)
        record(idle, Kind.RESULT_RECORDED, 100 + subject)
    events.events_consume()
    assert [subject for subject, _ in recorder.handled] == [1, 2, 3]
    assert recorder.idle_asked[0] == {idle.pk, busy.pk}, "one question a pass, for everyone"
    assert all(row.done_at is not None for row in deliveries(idle) + deliveries(busy))


def test_a_failed_event_holds_the_idle_events_after_it(recorder) -> None:
    patient = PatientFactory()
    recorder.idle_for = {patient.pk}
    recorder.failing = {1}
    record(patient, Kind.APPOINTMENT_CHANGED, 1)  # handled, and fails
    record(patient, Kind.RESULT_RECORDED, 2)
    record(patient, Kind.RESULT_RECORDED, 3)
    events.events_consume()
    first, second, third = deliveries(patient)
    assert first.done_at is None and first.attempts == 1
    assert second.done_at is None and third.done_at is None, "held behind the failure"

    # Retried once fixed: then the rest pass over, in order.
    recorder.failing = set()
    EventDelivery.objects.filter(pk=first.pk).update(next_attempt_at=F("next_attempt_at") - _hour())
    events.events_consume()
    assert all(row.done_at is not None for row in deliveries(patient))
    assert recorder.handled == [(1, [])]


def test_an_earlier_pending_event_outside_the_run_holds_it(recorder) -> None:
    # The same patient's earlier event, due later (a retry's wait), is not in this pass:
    # the idle events after it are not passed over ahead of it.
    patient = PatientFactory()
    recorder.idle_for = {patient.pk}
    record(patient, Kind.RESULT_RECORDED, 1)
    record(patient, Kind.RESULT_RECORDED, 2)
    first, _ = deliveries(patient)
    EventDelivery.objects.filter(pk=first.pk).update(next_attempt_at=F("next_attempt_at") + _hour())
    events.events_consume()
    assert all(row.done_at is None for row in deliveries(patient))


def test_a_consumer_registered_after_another_waits_for_it(recorder) -> None:
    # A second idle consumer that runs after the first: it passes over an event only once
    # the first is done with it.
    patient = PatientFactory()
    recorder.idle_for = {patient.pk}
    later: list[int] = []
    events.register_consumer(
        "tests.idle_after",
        [Kind.RESULT_RECORDED],
        lambda event: later.append(event.subject_id),
        after=[NAME],
        idle=lambda ids: set(ids),
        idle_kinds=[Kind.RESULT_RECORDED],
    )
    try:
        recorder.failing = {1}
        # Not idle for the first consumer: subject 1 goes through its handler and fails.
        recorder.idle_for = set()
        record(patient, Kind.RESULT_RECORDED, 1)
        events.events_consume()
        after = EventDelivery.objects.get(consumer="tests.idle_after", event__subject_id=1)
        assert after.done_at is None, "waits for the consumer it runs after"
        recorder.failing = set()
        EventDelivery.objects.filter(consumer=NAME).update(
            next_attempt_at=F("next_attempt_at") - _hour()
        )
        events.events_consume()
        after.refresh_from_db()
        assert after.done_at is not None and later == []
    finally:
        events.unregister_consumer("tests.idle_after")


def _hour() -> Any:
    import datetime as dt

    return dt.timedelta(hours=1)
