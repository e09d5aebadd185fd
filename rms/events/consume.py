"""Consuming events after commit: each delivery once, retried with backoff, in order per
patient and consumer.

Each delivery is taken in a short transaction of its own: the row is locked (``skip_locked``,
so many workers share the work without taking the same one), the consumer runs in a
savepoint, and the row is marked done, or failed with the error and the time of its next
try, in the same transaction as what the consumer wrote. A consumer's work and its "done" are
committed together, so a repeated ring (a lost ACK from Redis, the sweep) never does it twice.
"""

from __future__ import annotations

import datetime as dt
import logging
import math

from django.core.exceptions import ImproperlyConfigured
from django.db import connection, transaction
from django.db.models import Exists, F, OuterRef, Window
from django.db.models.functions import FirstValue, RowNumber
from django.utils import timezone

from rms.events.registry import Consumer, consumers
from rms.models import DomainEvent, EventDelivery

logger = logging.getLogger("rms.events")

# Seconds before the next try after the n-th failure (the last repeats): a bug is fixed and
# deployed in hours, a deadlock or a restart clears in seconds.
BACKOFF_S = (5, 30, 120, 600, 1800, 3600)


def backoff(attempts: int) -> dt.timedelta:
    return dt.timedelta(seconds=BACKOFF_S[min(max(attempts, 1), len(BACKOFF_S)) - 1])


def _earlier_pending() -> Exists:
    # A patient's earlier event not yet consumed by this consumer holds the later ones.
    return Exists(
        EventDelivery.objects.filter(
            consumer=OuterRef("consumer"),
            patient_id=OuterRef("patient_id"),
            done_at__isnull=True,
            event_id__lt=OuterRef("event_id"),
        )
    )


def _first_pending(after: frozenset[str]) -> Exists:
    # A consumer registered ``after`` others takes an event once they are done with it.
    return Exists(
        EventDelivery.objects.filter(
            event_id=OuterRef("event_id"), consumer__in=after, done_at__isnull=True
        )
    )


# How many of one patient's pending events a consumer may take in one pass: the first is
# due when it is; the ones after it wait for it (``_lock`` checks), and are taken in the same
# pass once it is done, so a burst of one patient's results is not one pass an event.
LOOKAHEAD = 25


def _due(now: dt.datetime, batch: int) -> list[tuple[int, str, int | None]]:
    """The deliveries to try now: for each consumer and patient (a queue) the first
    ``LOOKAHEAD`` pending ones, when the first of them is due (one failing and waiting for
    its retry holds the patient's later events back without filling the pass); the queues'
    firsts, oldest event first, then their seconds, and so on."""
    queue = [F("consumer"), F("patient_id")]
    in_order = F("event_id").asc()
    return list(
        EventDelivery.objects.filter(done_at__isnull=True)
        .annotate(
            place=Window(RowNumber(), partition_by=queue, order_by=in_order),
            head_due_at=Window(
                FirstValue("next_attempt_at"), partition_by=queue, order_by=in_order
            ),
        )
        .filter(place__lte=LOOKAHEAD, head_due_at__lte=now, next_attempt_at__lte=now)
        # Every queue's first before any queue's second: a queue whose first fails again
        # (and holds the rest) never pushes another patient's first out of the pass.
        .order_by("place", "event_id", "pk")
        .values_list("pk", "consumer", "patient_id")[:batch]
    )


class _Failed(Exception):
    pass


# The delivery's lock on PostgreSQL, as one fixed statement: the same conditions as the ORM's
# query below (not done; no earlier event of the patient's pending for this consumer; the
# consumers it runs after done with this event), with its event, without building and
# compiling a query each delivery (about half a delivery's CPU when it was).
_EVENT_FIELDS = list(DomainEvent._meta.concrete_fields)
_EVENT_COLUMNS = ["id", "patient_id", "kind", "subject_id", "payload", "created_at"]
if [f.column for f in _EVENT_FIELDS] != _EVENT_COLUMNS:  # the statement below names them
    raise ImproperlyConfigured("rms.events: DomainEvent's columns changed; update _LOCK_SQL")
_LOCK_SQL = """
    SELECT d.attempts, e.id, e.patient_id, e.kind, e.subject_id, e.payload, e.created_at
    FROM rms_eventdelivery d JOIN rms_domainevent e ON e.id = d.event_id
    WHERE d.id = %s AND d.done_at IS NULL
      AND NOT EXISTS (
        SELECT 1 FROM rms_eventdelivery p
        WHERE p.consumer = d.consumer AND p.patient_id = d.patient_id
          AND p.done_at IS NULL AND p.event_id < d.event_id)
      AND NOT EXISTS (
        SELECT 1 FROM rms_eventdelivery f
        WHERE f.event_id = d.event_id AND f.consumer = ANY(%s) AND f.done_at IS NULL)
    FOR UPDATE OF d SKIP LOCKED"""
_DONE_SQL = "UPDATE rms_eventdelivery SET attempts = %s, done_at = %s, lag_s = %s WHERE id = %s"


def _lock(pk: int, consumer: Consumer | None) -> tuple[int, DomainEvent] | None:
    """The delivery ``pk``'s attempts and event, locked, when it may run now; else None."""
    after = sorted(consumer.after) if consumer is not None else []
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(_LOCK_SQL, [pk, after])
            row = cursor.fetchone()
        if row is None:
            return None
        names = [str(f.attname) for f in _EVENT_FIELDS]
        values = [
            f.from_db_value(v, None, connection) if hasattr(f, "from_db_value") else v
            for f, v in zip(_EVENT_FIELDS, row[1:], strict=True)
        ]
        return int(row[0]), DomainEvent.from_db(connection.alias, names, values)
    waiting = EventDelivery.objects.select_for_update(skip_locked=True, of=("self",))
    waiting = waiting.filter(pk=pk, done_at__isnull=True).exclude(_earlier_pending())
    if after:
        waiting = waiting.exclude(_first_pending(frozenset(after)))
    delivery = waiting.select_related("event").first()
    return None if delivery is None else (delivery.attempts, delivery.event)


def _deliver(pk: int, consumer: Consumer | None) -> bool | None:
    """True when consumed now, False when it failed (and will be retried), None when another
    worker has it, or it waits for an earlier event of the patient's or another consumer."""
    # One transaction for the lock, the handler and "done" (a handler's failure rolls all of
    # it back and is recorded in a second one): the fewest round trips a delivery.
    try:
        with transaction.atomic():
            locked = _lock(pk, consumer)
            if locked is None:
                return None
            attempts, event = locked
            try:
                if consumer is None:
                    raise LookupError(f"no consumer for delivery {pk} is registered")
                consumer.handler(event)
            except Exception as exc:
                raise _Failed(attempts + 1) from exc
            done_at = timezone.now()
            lag_s = (done_at - event.created_at).total_seconds()
            with connection.cursor() as cursor:
                cursor.execute(_DONE_SQL, [attempts + 1, done_at, lag_s, pk])
            return True
    except _Failed as failed:
        error = failed.__cause__
        attempts = int(failed.args[0])
        # Only the error's type and text: never the record's values (docs/security.md).
        EventDelivery.objects.filter(pk=pk, done_at__isnull=True).update(
            attempts=attempts,
            last_error=f"{type(error).__name__}: {error}"[:2000],
            next_attempt_at=timezone.now() + backoff(attempts),
        )
        logger.warning(
            "Event delivery %s failed in consumer %s (attempt %s): %s",
            pk,
            consumer.name if consumer else "?",
            attempts,
            type(error).__name__,
        )
        return False


# A run of one patient's deliveries for one consumer, locked and checked in one statement:
# each row's event kind and time, whether an earlier event of the patient's outside the run
# is still pending for the consumer, and whether a consumer it runs after still has the event.
_RUN_SQL = """
    SELECT d.id, e.kind, e.created_at,
      EXISTS (
        SELECT 1 FROM rms_eventdelivery p
        WHERE p.consumer = d.consumer AND p.patient_id = d.patient_id
          AND p.done_at IS NULL AND p.event_id < d.event_id AND NOT (p.id = ANY(%(ids)s))),
      EXISTS (
        SELECT 1 FROM rms_eventdelivery f
        WHERE f.event_id = d.event_id AND f.consumer = ANY(%(after)s) AND f.done_at IS NULL)
    FROM rms_eventdelivery d JOIN rms_domainevent e ON e.id = d.event_id
    WHERE d.id = ANY(%(ids)s) AND d.done_at IS NULL
    ORDER BY d.event_id
    FOR UPDATE OF d SKIP LOCKED"""
_RUN_DONE_SQL = """
    UPDATE rms_eventdelivery d
    SET attempts = d.attempts + 1, done_at = %(now)s, lag_s = u.lag_s
    FROM unnest(%(ids)s::bigint[], %(lags)s::float8[]) AS u (id, lag_s)
    WHERE d.id = u.id"""


def _pass_over(
    due: list[tuple[int, str, int | None]], registered: dict[str, Consumer]
) -> tuple[set[int], set[int]]:
    """Mark done, a run at a time, the due deliveries their consumer has nothing to do with
    (``Consumer.idle``: a patient on no plan, not shared with PKB), without calling the
    handler: what a patient's burst of results costs the consumers when none of them acts on
    it. A run stops at the first delivery that must wait (an earlier event of the patient's
    still pending, a consumer it runs after not done with the event, a row another worker
    holds) or go through its handler (a kind the consumer is not idle for). Returns the
    deliveries done, and those left for the next pass (after a stop; the delivery that must
    go through its handler is not among them): the next pass passes them over once what
    stopped the run has moved."""
    runs: dict[tuple[str, int], list[int]] = {}
    for pk, name, patient_id in due:  # each queue's deliveries in event order
        consumer = registered.get(name)
        if consumer is not None and consumer.idle is not None and patient_id is not None:
            runs.setdefault((name, patient_id), []).append(pk)
    done: set[int] = set()
    later: set[int] = set()
    if not runs:
        return done, later
    idle: dict[str, set[int]] = {}
    for name in {name for name, _ in runs}:
        idle_fn = registered[name].idle
        patients = {patient_id for key, patient_id in runs if key == name}
        idle[name] = set(idle_fn(patients)) if idle_fn is not None else set()
    # Consumers that others run after go first, so that a pass can clear both.
    for (name, patient_id), ids in sorted(
        runs.items(), key=lambda run: len(registered[run[0][0]].after)
    ):
        if patient_id in idle[name]:
            taken, left = _pass_over_run(registered[name], ids)
            done |= taken
            later |= left
    return done, later


def _pass_over_run(consumer: Consumer, ids: list[int]) -> tuple[set[int], set[int]]:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_RUN_SQL, {"ids": ids, "after": sorted(consumer.after)})
        rows = cursor.fetchall()
        now = timezone.now()
        taken: list[int] = []
        lags: list[float] = []
        handle = None  # the delivery that stopped the run because it needs its handler
        for expected, (pk, kind, created_at, held, waiting) in zip(ids, rows, strict=False):
            if pk != expected or held or waiting:
                break
            if kind not in consumer.idle_kinds:
                handle = pk
                break
            taken.append(pk)
            lags.append((now - created_at).total_seconds())
        if taken:
            cursor.execute(_RUN_DONE_SQL, {"now": now, "ids": taken, "lags": lags})
    return set(taken), set(ids[len(taken) :]) - {handle}


def events_consume(*, batch: int = 200) -> int:
    """Run every delivery that is due, oldest event first; returns how many were consumed.
    Safe to run in many workers at once and to repeat: a delivery is done once."""
    consumed = 0
    while True:
        registered = {consumer.name: consumer for consumer in consumers()}
        due = _due(timezone.now(), batch)
        passed, later = (
            _pass_over(due, registered) if connection.vendor == "postgresql" else (set(), set())
        )
        outcomes = [
            _deliver(pk, registered.get(name))
            for pk, name, _ in due
            if pk not in passed and pk not in later
        ]
        consumed += outcomes.count(True) + len(passed)
        if not passed and True not in outcomes:
            # A pass that moved nothing (all taken by others, or failed) ends the run; a
            # failure is tried again at its time, by the sweep.
            return consumed
        # Look again only for what this pass could not reach: deliveries held behind one it
        # has just done (of the same patient, or of a consumer that goes first), or more due
        # than one pass takes. An event committed after this pass's look rang the doorbell
        # (at most a quarter of a second later, ``rms.events.record``): the next ring's run
        # takes it with the others that came meanwhile. Looking again at once for one or two
        # new events instead cost a worker more CPU a message than filing it (bench/inbound.py,
        # ``worker_cpu_ms_per_message``), on the cores the listener and the database share.
        if not (later or None in outcomes or _truncated(due, batch)):
            return consumed


def _truncated(due: list[tuple[int, str, int | None]], batch: int) -> bool:
    """Whether ``_due`` may have left due deliveries out: the batch is full, or a patient's
    queue reached ``LOOKAHEAD``."""
    if len(due) >= batch:
        return True
    queues: dict[tuple[str, int | None], int] = {}
    for _, name, patient_id in due:
        queues[name, patient_id] = queues.get((name, patient_id), 0) + 1
    return any(count >= LOOKAHEAD for count in queues.values())


def lag_p95(*, since: dt.datetime) -> dict[str, float]:
    """The 95th percentile of the lag from an event's commit to its consumption, by consumer,
    over the deliveries done since ``since``."""
    recent = EventDelivery.objects.filter(done_at__gte=since, lag_s__isnull=False).order_by()
    if connection.vendor == "postgresql":
        # In the database: at the inbound benchmark's rate a five-minute window is ~10^5 rows.
        sql, params = recent.values("consumer", "lag_s").query.sql_with_params()
        percentile_sql = "percentile_disc(0.95) WITHIN GROUP (ORDER BY lag_s)"
        # The inner query is Django's own SQL with its parameters kept apart.
        query = f"SELECT consumer, {percentile_sql} FROM ({sql}) AS r GROUP BY consumer"  # noqa: S608
        with connection.cursor() as cursor:
            cursor.execute(query, params)
            return {consumer: float(lag) for consumer, lag in cursor.fetchall()}
    lags: dict[str, list[float]] = {}
    for consumer, lag in recent.values_list("consumer", "lag_s").iterator():
        lags.setdefault(consumer, []).append(lag or 0.0)
    return {consumer: percentile(values, 95) for consumer, values in lags.items()}


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile (0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(math.ceil(pct / 100 * len(ordered)) - 1, 0)]


def events_purge(*, before: dt.datetime, batch: int = 5000) -> int:
    """Delete the events written before ``before`` that every consumer has consumed, with
    their deliveries; returns how many. A pending or failing one is kept. Safe to repeat."""
    purged = 0
    while True:
        ids = list(
            DomainEvent.objects.filter(created_at__lt=before)
            .exclude(
                Exists(EventDelivery.objects.filter(event=OuterRef("pk"), done_at__isnull=True))
            )
            .order_by("pk")
            .values_list("pk", flat=True)[:batch]
        )
        if not ids:
            return purged
        with transaction.atomic():
            EventDelivery.objects.filter(event_id__in=ids).delete()
            purged += DomainEvent.objects.filter(pk__in=ids).delete()[0]
