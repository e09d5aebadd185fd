"""Writing messages into the outbox, in the transaction of the change that caused them.

A message is built once, here, with a fresh MSH-10; the same bytes are sent on every retry.
``seq`` numbers a patient's messages in the order they were queued, under a row lock, so
two transactions for one patient cannot interleave their numbers.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from pkb_bridge import compose, hl7
from pkb_bridge.models import Enrolment, OutboundMessage, PatientSequence
from rms import sql
from rms.doorbell import Doorbell
from rms.transactions import run_once_on_commit

Builder = Callable[[hl7.MessageContext], str]


def _send_dispatchers() -> None:
    from pkb_bridge.tasks import dispatch

    # One dispatcher for each message PKB lets us have in flight (PKB_MAX_IN_FLIGHT): each
    # claims one row at a time, so N of them overlap N patients' messages; the claim keeps
    # them to the cap and to one message of a patient at a time.
    for _ in range(settings.PKB_MAX_IN_FLIGHT):
        dispatch.delay()


# A dispatcher sends until nothing is due, so a ring after each of a burst's commits (a
# cohort's opt-ins, a batch of results) is one ring now and a trailing one at the end of the
# interval, not one each: publishing a Celery task costs a third of a millisecond of our CPU
# or more (a millisecond from a new thread), as much as several of an opt-in's statements
# (bench/pkb_historic.py). In-process tasks ring at once.
dispatch_doorbell = Doorbell(lambda: _send_dispatchers(), what="PKB dispatch", interval=0.25)


def _kick_dispatcher() -> None:
    dispatch_doorbell.ring()


def kick_dispatcher_on_commit() -> None:
    """Ring the doorbell once the transaction commits (once per transaction). If it is lost
    (a crash, Redis down), the sweeper finds the rows within one sweep interval."""
    run_once_on_commit("pkb_bridge.dispatch", _kick_dispatcher)


def _next_seq(enrolment: Enrolment, count: int = 1) -> int:
    """The first of ``count`` consecutive sequence numbers, taken for ``enrolment``'s patient."""
    if connection.vendor == "postgresql":
        return _next_seq_sql(enrolment.patient_id, count)
    sequence = PatientSequence.objects.select_for_update().filter(patient=enrolment.patient).first()
    if sequence is None:
        try:
            with transaction.atomic():
                sequence = PatientSequence.objects.create(patient=enrolment.patient)
        except IntegrityError:
            sequence = PatientSequence.objects.select_for_update().get(patient=enrolment.patient)
        else:
            sequence = PatientSequence.objects.select_for_update().get(pk=sequence.pk)
    first = sequence.last_seq + 1
    sequence.last_seq += count
    sequence.save(update_fields=["last_seq"])
    return first


def _next_seq_sql(patient_id: int, count: int) -> int:
    """``_next_seq`` in one statement: the upsert locks the patient's row (or waits for the
    transaction that is making it) until this transaction ends, as the ORM's path does with
    its locking read, in a fifth of the CPU (bench/pkb_historic.py)."""
    table = connection.ops.quote_name(PatientSequence._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} AS s (patient_id, last_seq) VALUES (%s, %s) "  # noqa: S608
            "ON CONFLICT (patient_id) DO UPDATE SET last_seq = s.last_seq + EXCLUDED.last_seq "
            "RETURNING s.last_seq",
            [patient_id, count],
        )
        (last,) = cursor.fetchone()
    return int(last) - count + 1


@transaction.atomic
def message_enqueue(
    *, enrolment: Enrolment, kind: str, source_ref: str, build: Builder
) -> OutboundMessage | None:
    """Queue one message for PKB, built now with a fresh MSH-10. Returns None (and queues
    nothing) when a message for the same ``source_ref`` is already in this enrolment's
    outbox: repeating an event never sends twice."""
    if OutboundMessage.objects.filter(enrolment=enrolment, source_ref=source_ref).exists():
        return None
    control_id = compose.new_control_id()
    payload = build(compose.context_for(enrolment.team, control_id))
    message = OutboundMessage.objects.create(
        enrolment=enrolment,
        patient=enrolment.patient,
        seq=_next_seq(enrolment),
        kind=kind,
        source_ref=source_ref[:120],
        control_id=control_id,
        payload=payload,
        expected_nhs_number=enrolment.patient.nhs_number or "",
        next_attempt_at=timezone.now(),
    )
    kick_dispatcher_on_commit()
    return message


@dataclass(frozen=True)
class Planned:
    """One message for ``messages_enqueue``."""

    kind: str
    source_ref: str
    build: Builder


@transaction.atomic(savepoint=False)
def messages_enqueue(
    *, enrolment: Enrolment, planned: Sequence[Planned]
) -> list[OutboundMessage | None]:
    """``message_enqueue`` for several messages of one enrolment at once, queued in the order
    given (consecutive ``seq``): one query to skip those already queued, one sequence
    update and one insert, instead of three or four queries each. Returns, in order, each
    message or None where one with the same ``source_ref`` was already queued.

    All or nothing, and inside a caller's transaction (an opt-in's, an import's) part of it,
    without a savepoint of its own (two round trips an opt-in): a failure here fails the
    caller's whole transaction, which no caller catches to carry on."""
    if not planned:
        return []
    refs = [item.source_ref[:120] for item in planned]
    table = connection.ops.quote_name(OutboundMessage._meta.db_table)
    # One fixed statement: building the ORM's query cost an opt-in more than running it.
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT source_ref FROM {table} WHERE enrolment_id = %s "  # noqa: S608
            f"AND source_ref IN ({sql.placeholders(refs)})",
            [enrolment.pk, *refs],
        )
        queued = {ref for (ref,) in cursor.fetchall()}
    fresh: list[OutboundMessage] = []
    results: list[OutboundMessage | None] = []
    for item, ref in zip(planned, refs, strict=True):
        if ref in queued:
            results.append(None)
            continue
        queued.add(ref)  # the same reference twice in one call is queued once, as one by one
        control_id = compose.new_control_id()
        message = OutboundMessage(
            enrolment=enrolment,
            patient=enrolment.patient,
            kind=item.kind,
            source_ref=ref,
            control_id=control_id,
            payload=item.build(compose.context_for(enrolment.team, control_id)),
            expected_nhs_number=enrolment.patient.nhs_number or "",
            next_attempt_at=timezone.now(),
        )
        fresh.append(message)
        results.append(message)
    if not fresh:
        return results
    first = _next_seq(enrolment, count=len(fresh))
    for offset, message in enumerate(fresh):
        message.seq = first + offset
    if connection.vendor == "postgresql":
        _insert_sql(fresh)
    elif connection.features.can_return_rows_from_bulk_insert:
        OutboundMessage.objects.bulk_create(fresh)
    else:  # a backend that cannot give the ids back: the callers link to these rows
        for message in fresh:
            message.save(force_insert=True)
    kick_dispatcher_on_commit()
    return results


def _insert_sql(messages: Sequence[OutboundMessage]) -> None:
    """The rows inserted with the values a save would write, their ids given back
    (PostgreSQL). One fixed statement of one row, run for each in one round trip (psycopg's
    ``executemany``, pipelined), its values bound on the server: Django's cursors bind on
    the client, and quoting the payloads (kilobytes each) into the text and splitting a
    statement of a hundred placeholders cost more of our CPU than the rest of queueing
    them (bench/pkb_historic.py; ``bulk_create`` sends arrays, dearer still)."""
    fields = _insert_fields()
    rows = [[field.pre_save(message, True) for field in fields] for message in messages]
    connection.ensure_connection()
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
        cursor.executemany(_insert_statement(), rows, returning=True)
        ids = []
        while True:
            ids.append(cursor.fetchone()[0])  # type: ignore[index]
            if not cursor.nextset():
                break
    for message, pk in zip(messages, ids, strict=True):
        message.pk = pk
        message._state.adding = False
        message._state.db = connection.alias


@functools.cache
def _insert_fields() -> list[Any]:
    return [field for field in OutboundMessage._meta.concrete_fields if not field.primary_key]


@functools.cache
def _insert_statement() -> str:
    quote = connection.ops.quote_name
    fields = _insert_fields()
    columns = ", ".join(quote(str(field.column)) for field in fields)
    values = ", ".join(["%s"] * len(fields))
    return (
        f"INSERT INTO {quote(OutboundMessage._meta.db_table)} ({columns}) "  # noqa: S608
        f"VALUES ({values}) RETURNING id"
    )


@transaction.atomic
def messages_cancel_pending(*, enrolment: Enrolment, reason: str) -> int:
    """Cancel every message of ``enrolment`` not yet sent. A message in flight finishes."""
    return OutboundMessage.objects.filter(
        enrolment=enrolment, status=OutboundMessage.Status.PENDING
    ).update(status=OutboundMessage.Status.CANCELLED, cancelled_reason=reason[:200])
