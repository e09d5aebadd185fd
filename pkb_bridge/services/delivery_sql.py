"""The dispatcher's statements a message on PostgreSQL: the claim and the attempt record.

Each is SQL written out (healthchecks' ``sendalerts`` does the same): built through the ORM
they cost more of our CPU than PKB spends taking the message (bench ``pkb_historic``,
docs/benchmarks.md). The claim's two statements go as one query, bound on the client as
Django binds (``lock_and_claim``); the attempt's record through a cursor that binds its
values on the server, prepared once a connection (as the inbound feed's,
``rms.inbound.express``), so the bytes sent (its ``request_body``) are not escaped into the
text. Values are never spliced into the text by us. ``delivery.message_claim`` and
``delivery._record`` use them on PostgreSQL and keep the ORM's path for SQLite; the rules are
the same on both (``pkb_bridge.services.delivery``'s docstring).
"""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any

import psycopg
from django.db import connection

from pkb_bridge.models import Connection, DeliveryAttempt, Enrolment, OutboundMessage
from rms.models import NhsNumberStatus, Patient

Status = OutboundMessage.Status


def available() -> bool:
    return connection.vendor == "postgresql"


def _cursor() -> psycopg.Cursor[Any]:
    """A cursor binding its values on the server (Django's bind on the client: each
    statement would be parsed and planned again, and a request body escaped into its text).
    Used inside Django's ``wrap_database_errors``, so an error is Django's."""
    connection.ensure_connection()
    return psycopg.Cursor(connection.connection)


@functools.cache
def _message_columns() -> tuple[str, ...]:
    return tuple(str(field.column) for field in OutboundMessage._meta.concrete_fields)


@functools.cache
def _claim_sql() -> str:
    q = connection.ops.quote_name
    message = q(OutboundMessage._meta.db_table)
    enrolment = q(Enrolment._meta.db_table)
    patient = q(Patient._meta.db_table)
    link = q(Connection._meta.db_table)
    returned = ", ".join(f"target.{q(column)}" for column in _message_columns())
    # The eligible head of a queue, as ``delivery._eligible_base`` says it: pending and due,
    # its enrolment active, its patient's NHS number verified, nothing earlier of the patient
    # still open, no rejected registration blocking the patient. The cap and the pause are
    # checked by the UPDATE itself; the connection row's lock is taken by the statement
    # before it in the same transaction, so this statement's snapshot (taken after the
    # lock) sees every claim and every pause committed before it.
    return f"""
        UPDATE {message} AS target
           SET status = %(in_flight)s, in_flight_since = %(now)s, claimed_by = %(worker)s,
               attempts = target.attempts + 1
          FROM {patient} AS person
         WHERE person.id = target.patient_id
           AND target.status = %(pending)s
           AND target.id = (
               SELECT m.id
                 FROM {message} AS m
                 JOIN {enrolment} AS e ON e.id = m.enrolment_id
                 JOIN {patient} AS p ON p.id = m.patient_id
                WHERE m.status = %(pending)s
                  AND m.next_attempt_at <= %(now)s
                  AND e.status = %(active)s
                  AND p.nhs_number_status = %(verified)s
                  AND NOT EXISTS (
                      SELECT 1 FROM {message} AS earlier
                       WHERE earlier.patient_id = m.patient_id AND earlier.seq < m.seq
                         AND earlier.status IN (%(pending)s, %(in_flight)s))
                  AND NOT EXISTS (
                      SELECT 1 FROM {message} AS blocked
                       WHERE blocked.patient_id = m.patient_id
                         AND blocked.status = %(rejected)s AND blocked.kind = %(registration)s)
                ORDER BY m.next_attempt_at, m.id
                LIMIT 1)
           AND (SELECT COUNT(*) FROM {message} AS flying WHERE flying.status = %(in_flight)s)
               < %(cap)s
           AND EXISTS (SELECT 1 FROM {link} AS link WHERE link.name = %(link)s AND NOT link.paused)
        RETURNING {returned}, person.nhs_number, person.nhs_number_status
    """  # noqa: S608 - names from the models' meta; values are parameters


def lock_and_claim(
    *, now: dt.datetime, worker: str, cap: int
) -> tuple[bool | None, OutboundMessage | None]:
    """Lock the connection row and take the next eligible message: two statements sent as
    one query, so one round trip and one transaction (PostgreSQL runs the statements of one
    simple query as a single transaction, committed, without waiting for the disk
    (``_lock_sql``), when the last ends; inside a caller's transaction, as part of it).
    Returns whether the connection is paused (None when it has no row: a test flushed it;
    the caller creates it) and the message taken with its patient's NHS number and status,
    or None when nothing is due, the cap is reached, the connection is paused, or the row
    chosen was changed meanwhile (the caller tells these apart).

    The lock is the first statement and the claim a statement of its own after it: in READ
    COMMITTED each statement reads a snapshot taken when it starts, so the claim, started
    once the lock is held, sees every claim committed before (each holds the lock until it
    commits). One statement doing both would read the snapshot taken before it waited.

    The values are bound on the client, as Django's own cursors bind them (a query of two
    statements cannot be prepared): a simple query is one message each way, where a pipeline
    of two prepared statements took four writes and seven polls (docs/benchmarks.md,
    "Fifteenth round")."""
    params = {
        "now": now,
        "worker": worker,
        "cap": cap,
        "link": "pkb",
        "pending": Status.PENDING.value,
        "in_flight": Status.IN_FLIGHT.value,
        "rejected": Status.REJECTED.value,
        "registration": OutboundMessage.Kind.REGISTRATION.value,
        "active": Enrolment.Status.ACTIVE.value,
        "verified": NhsNumberStatus.VERIFIED.value,
    }
    connection.ensure_connection()
    with connection.wrap_database_errors, psycopg.ClientCursor(connection.connection) as cursor:
        cursor.execute(_lock_and_claim_sql(), params)
        locked = cursor.fetchone()
        cursor.nextset()
        row = cursor.fetchone()
    paused = None if locked is None else bool(locked[0])
    if row is None:
        return paused, None
    columns = _message_columns()
    names = [field.attname for field in OutboundMessage._meta.concrete_fields]
    message = OutboundMessage.from_db(connection.alias, names, list(row[: len(columns)]))
    nhs_number, nhs_number_status = row[len(columns) :]
    # The patient as far as sending reads it; any other field is loaded if asked for.
    message.patient = Patient.from_db(
        connection.alias,
        ["id", "nhs_number", "nhs_number_status"],
        [message.patient_id, nhs_number, nhs_number_status],
    )
    return paused, message


@functools.cache
def _delivered_sql() -> str:
    q = connection.ops.quote_name
    attempt = q(DeliveryAttempt._meta.db_table)
    message = q(OutboundMessage._meta.db_table)
    return f"""
        WITH attempt AS (
            INSERT INTO {attempt} (message_id, started_at, finished_at, outcome, http_status,
                                   ack_code, ack_control_id, ack_text, error_kind, error,
                                   request_body, response_body, worker)
            VALUES (%(id)s, %(started)s, %(finished)s, %(accepted)s, %(http_status)s,
                    %(ack_code)s, %(ack_control_id)s, %(ack_text)s, '', '',
                    %(request_body)s, %(response_body)s, %(worker)s)
        )
        UPDATE {message}
           SET status = %(delivered)s, delivered_at = %(finished)s, ack_code = %(ack_code)s,
               ack_text = %(ack_text)s, last_error = '', in_flight_since = NULL, failures = 0,
               failing_since = NULL
         WHERE id = %(id)s AND status <> %(cancelled)s
    """  # noqa: S608 - names from the models' meta; values are parameters


def delivered(
    *,
    message_id: int,
    started: dt.datetime,
    finished: dt.datetime,
    http_status: int,
    ack: Any,
    request_body: bytes,
    response_body: bytes,
    worker: str,
) -> None:
    """Record an accepted attempt and mark the message delivered, in one statement (so one
    implicit transaction: both or neither). A message cancelled while in flight stays
    cancelled; its attempt is recorded all the same."""
    with connection.wrap_database_errors, _cursor() as cursor:
        cursor.execute(
            _delivered_sql(),
            {
                "id": message_id,
                "started": started,
                "finished": finished,
                "accepted": DeliveryAttempt.Outcome.ACCEPTED.value,
                "http_status": http_status,
                "ack_code": ack.code or "",
                "ack_control_id": (ack.control_id or "")[:64],
                "ack_text": ack.text or "",
                "request_body": request_body,
                "response_body": response_body,
                "worker": worker,
                "delivered": Status.DELIVERED.value,
                "cancelled": Status.CANCELLED.value,
            },
            prepare=True,
        )


@functools.cache
def _lock_and_claim_sql() -> str:
    return f"{_lock_sql()};\n{_claim_sql()}"


@functools.cache
def _lock_sql() -> str:
    table = connection.ops.quote_name(Connection._meta.db_table)
    # set_config(..., true) is SET LOCAL: this transaction (the claim) commits without waiting
    # for the disk. Losing a claim in a database crash only returns the row to pending, to be
    # sent again with the same MSH-10, which a crash mid-send does anyway; and a later
    # synchronous commit (the attempt's record) flushes the claim's WAL before its own, so an
    # attempt recorded is never of a claim lost. The connection row's lock, which serialises
    # the claims of every dispatcher, is then held for the statements alone, not a WAL flush.
    return (
        f"SELECT paused, set_config('synchronous_commit', 'off', true) FROM {table} "  # noqa: S608
        "WHERE name = %(link)s FOR UPDATE"
    )
