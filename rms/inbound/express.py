"""Filing a message of new results in one read and one write (PostgreSQL, filing mode).

Most of what a lab's feed sends is new reports for a patient we know. ``receive`` offers
each ORU^R01 here first; this files it with two statements and no transaction of their own:

1. one read: the patients the message's NHS number or MRN name (as ``match_patient`` reads
   them) and the ids the new rows will take, sent (pipeline mode) before the reports are
   extracted and checked, so that PostgreSQL runs it meanwhile;
2. one write, committed on its own (a single statement is atomic): the message, stored
   ``processed`` with its acknowledgement, its results, their observations, the change log's
   "created" entries and the results' events with their deliveries, all or nothing. The
   statement first reads and locks every result filed under the reports' keys (as
   ``results_lock_for_filing`` does); if there is one, or the message is stored already, it
   writes nothing.

Anything else returns ``None`` before writing, or having written nothing, and ``receive``
takes the general path, which gives it its answer: a message that does not parse or is
refused, a patient not matched or held, a filler order number filed already (a correction,
a resend, another sender's or another patient's), a report withdrawn before we had it, a
message with no results yet, two reports under one key, a report dated before the patient's
birth, a change log with an actor set (a person's request), a statement that failed (a
concurrent writer of the same result). The rows written are the rows the general path
writes for the same message (``tests/rms/inbound/test_express.py`` compares them column by
column): the acknowledgement still means "stored and filed", and the results' events are
consumed after commit as before.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import psycopg
from auditlog.context import auditlog_disabled
from auditlog.models import LogEntry
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connection, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Model
from django.db.models.signals import post_save, pre_save
from django.utils import timezone
from psycopg.types.json import Jsonb

from rms import audit
from rms.events import consumers
from rms.events.record import doorbell as events_doorbell
from rms.events.record import ring_on_commit
from rms.hl7 import Hl7Error, build_ack, extract_patient, extract_results
from rms.hl7.parse import ParsedMessage
from rms.inbound import filing
from rms.inbound.matching import MatchStatus, match_patient
from rms.models import DomainEvent, EventDelivery, InboundMessage, Patient, Result
from rms.services import results as results_

Status = InboundMessage.Status


def enabled() -> bool:
    """Whether ``receive`` tries this path: PostgreSQL, acknowledging after filing, and not
    turned off (``INBOUND_EXPRESS``)."""
    return (
        connection.vendor == "postgresql"
        and settings.INBOUND_ACK_AFTER == "filing"
        and settings.INBOUND_EXPRESS
    )


# Fields whose value Django sends as it is on the instance (``get_db_prep_save`` changes
# nothing of a value already of the field's type): read straight off the instance.
_AS_IS = frozenset(
    {
        "AutoField",
        "BigAutoField",
        "BigIntegerField",
        "BooleanField",
        "CharField",
        "ForeignKey",
        "IntegerField",
        "PositiveBigIntegerField",
        "PositiveIntegerField",
        "PositiveSmallIntegerField",
        "SmallIntegerField",
        "TextField",
    }
)

_UNSET = object()


@dataclass(frozen=True, slots=True)
class _Column:
    column: str
    attname: str
    how: str  # "stamped", "as_is", "iso", "text", "json" or "django"
    field: Any
    call_default: bool
    default: Any
    # The default as it goes into a row, worked out once where it needs no connection (a
    # constant default of a column not prepared by Django): else ``_UNSET``.
    ready: Any


class _Table:
    """A model's columns as one statement writes them: names and each row's values as
    Django's own insert would send them (``pre_save``, ``get_db_prep_save``), in their JSON
    or text form, which PostgreSQL reads back with the column's own type."""

    def __init__(self, model: type[Model], *, with_pk: bool) -> None:
        quote = connection.ops.quote_name
        self.fields = [f for f in model._meta.concrete_fields if with_pk or not f.primary_key]
        self.name = quote(model._meta.db_table)
        self.columns = ", ".join(quote(str(f.column)) for f in self.fields)
        # What each field's value needs, worked out once: a time stamped now (auto_now),
        # read as it is, a time or a date in ISO form, a UUID's text, a JSON structure, or
        # else Django's own preparing of it. And, for rows built from values (``row``), its
        # default as Django's ``get_default`` gives it: called a row where the default is a
        # callable (a UUID, a time, a fresh dict), else worked out once (a constant, or the
        # None or "" of a field without one).
        self.plan: list[_Column] = []
        for f in self.fields:
            kind = f.get_internal_type()
            if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False):
                how = "stamped"
            elif kind in _AS_IS:
                how = "as_is"
            elif kind in ("DateTimeField", "DateField"):
                how = "iso"
            elif kind == "UUIDField":
                how = "text"
            elif kind == "JSONField":
                how = "json"
            else:
                how = "django"
            call = f.has_default() and callable(f.default)
            default = f.get_default if call else f.get_default()
            if call or how in ("stamped", "django"):
                ready = _UNSET
            else:
                ready = default if how == "as_is" else _json_value(default)
            self.plan.append(
                _Column(
                    column=str(f.column),
                    attname=f.attname,
                    how=how,
                    field=f,
                    call_default=call,
                    default=default,
                    ready=ready,
                )
            )

    def stamp(self, instance: Model) -> None:
        """Set the times ``auto_now`` and ``auto_now_add`` set as Django saves."""
        for c in self.plan:
            if c.how == "stamped":
                c.field.pre_save(instance, True)

    def values(self, instance: Model, db: BaseDatabaseWrapper) -> dict[str, Any]:
        row: dict[str, Any] = {}
        for c in self.plan:
            if c.how == "as_is":
                row[c.column] = getattr(instance, c.attname)
                continue
            if c.how == "stamped":
                # Stamped once (``stamp``, or as the row was built): the change log's entry
                # and the row carry the same time.
                value = getattr(instance, c.attname) or c.field.pre_save(instance, True)
            elif c.how == "django":
                value = c.field.get_db_prep_save(c.field.pre_save(instance, True), db)
            else:
                value = getattr(instance, c.attname)
            row[c.column] = _json_value(value)
        return row

    def row(
        self, given: dict[str, Any], db: BaseDatabaseWrapper, without: tuple[str, ...] = ()
    ) -> dict[str, Any]:
        """A row from its fields' values by attribute name (``patient_id``), the others
        taking their defaults, as ``values`` gives it for an instance built with the same
        values: without building the instance. The times ``auto_now`` stamps must be given.
        ``without``: columns passed apart."""
        row: dict[str, Any] = {}
        for c in self.plan:
            if c.column in without:
                continue
            if c.attname in given:
                value = given[c.attname]
            elif c.ready is not _UNSET:
                row[c.column] = c.ready
                continue
            elif c.how == "stamped":
                raise KeyError(f"{c.attname} is stamped as the row is saved: give its time")
            elif c.call_default:
                value = c.default()
            else:
                value = c.default
            if c.how == "as_is":
                row[c.column] = value
                continue
            if c.how == "django":
                value = c.field.get_db_prep_save(value, db)
            row[c.column] = _json_value(value)
        return row

    def rows_json(
        self,
        rows: Sequence[dict[str, Any]],
        db: BaseDatabaseWrapper,
        *,
        without: tuple[str, ...] = (),
    ) -> str:
        """``row`` of each of ``rows``, as ``as_json`` gives instances."""
        return json.dumps([self.row(given, db, without) for given in rows], cls=DjangoJSONEncoder)

    def row_json(
        self, given: dict[str, Any], db: BaseDatabaseWrapper, *, without: tuple[str, ...] = ()
    ) -> str:
        """``row`` of ``given`` as a JSON object."""
        return json.dumps(self.row(given, db, without), cls=DjangoJSONEncoder)

    def many(self, key: str) -> str:
        """``SELECT`` of the rows in the JSON parameter ``key`` (``as_json``), in order, if
        the message was stored. One text parameter a table: adapting each value as its own
        array element cost more than all the rest of the statement."""
        return (
            f"SELECT {self.columns} FROM json_populate_recordset(NULL::{self.name}, "  # noqa: S608
            f"%({key})s::json) WITH ORDINALITY AS u "
            "WHERE EXISTS (SELECT 1 FROM message) ORDER BY u.ordinality"
        )

    def as_json(self, instances: Sequence[Model], db: BaseDatabaseWrapper) -> str:
        """``instances`` as a JSON array of objects by column."""
        return json.dumps(
            [self.values(instance, db) for instance in instances], cls=DjangoJSONEncoder
        )


def _json_value(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, Jsonb):
        return value.obj
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, Decimal | uuid.UUID):
        return str(value)
    return value


_tables: dict[str, _Table] = {}
_sql: dict[str, str] = {}


def _prepare() -> None:
    if _tables:
        return
    _tables.update(
        message=_Table(InboundMessage, with_pk=True),
        result=_Table(Result, with_pk=True),
        observation=_Table(results_.Observation, with_pk=False),
        entry=_Table(LogEntry, with_pk=False),
        event=_Table(DomainEvent, with_pk=True),
        delivery=_Table(EventDelivery, with_pk=False),
    )
    t = _tables
    patient_columns = ", ".join(_PATIENT_FIELDS)
    # Each identifier by its own unique index (an OR of the two would scan the table).
    _sql["read"] = f"""
SELECT ids.message_id, ids.result_ids, ids.event_ids, {patient_columns}
FROM (
    SELECT nextval(pg_get_serial_sequence('rms_inboundmessage', 'id')) AS message_id,
        ARRAY(SELECT nextval(pg_get_serial_sequence('rms_result', 'id'))
              FROM generate_series(1, %(reports)s)) AS result_ids,
        ARRAY(SELECT nextval(pg_get_serial_sequence('rms_domainevent', 'id'))
              FROM generate_series(1, %(reports)s)) AS event_ids
) ids
LEFT JOIN LATERAL (
    SELECT {patient_columns} FROM rms_patient WHERE nhs_number = NULLIF(%(nhs_number)s, '')
    UNION
    SELECT {patient_columns} FROM rms_patient WHERE mrn = %(mrn)s AND mrn <> ''
) p ON true
"""  # noqa: S608
    # Table and column names come from the models; every value is a parameter. "clash" is
    # what results_lock_for_filing locks: the results under the reports' keys, and the
    # patient's under their filler order numbers from any sender, by two index lookups (an
    # OR of the two would scan the table). The message is stored only if there is none; the
    # rest only if the message was stored.
    message = t["message"]
    write = f"""
WITH clash AS (
    SELECT id FROM rms_result
    WHERE id IN (
        SELECT r.id
        FROM unnest(%(sources)s::varchar[], %(fillers)s::varchar[]) AS k (source, filler)
        JOIN rms_result r ON r.source_system = k.source AND r.filler_order_number = k.filler
        UNION ALL
        SELECT r.id FROM rms_result r
        WHERE r.patient_id = %(patient_id)s
            AND r.filler_order_number = ANY(%(fillers)s::varchar[])
    )
    ORDER BY id
    FOR UPDATE
), message AS (
    INSERT INTO {message.name} ({message.columns})
    SELECT {message.columns.replace('"raw"', "%(raw)s::bytea")}
    FROM json_populate_record(NULL::{message.name}, %(m)s::json)
    WHERE NOT EXISTS (SELECT 1 FROM clash)
    ON CONFLICT (sending_application, sending_facility, control_id)
        WHERE NOT (control_id = '') DO NOTHING
    RETURNING id
), result AS (
    INSERT INTO {t["result"].name} ({t["result"].columns}) {t["result"].many("r")}
), observation AS (
    INSERT INTO {t["observation"].name} ({t["observation"].columns}) {t["observation"].many("o")}
), entry AS (
    INSERT INTO {t["entry"].name} ({t["entry"].columns}) {t["entry"].many("l")}
), event AS (
    INSERT INTO {t["event"].name} ({t["event"].columns}) {t["event"].many("e")}
), delivery AS (
    INSERT INTO {t["delivery"].name} ({t["delivery"].columns}) {t["delivery"].many("d")}
)
SELECT count(*) FROM message
"""  # noqa: S608
    # On one line: psycopg keeps its parsing of a statement of up to 4 KiB.
    _sql["write"] = " ".join(write.split())


def _listened_to() -> bool:
    """Whether a receiver other than the change log's own listens to the saves of the rows
    this path writes without saving them (it writes the change log's entries itself)."""
    for model in (
        InboundMessage,
        Result,
        results_.Observation,
        LogEntry,
        DomainEvent,
        EventDelivery,
    ):
        for signal in (pre_save, post_save):
            # ModelSignal caches each sender's receivers: a dictionary lookup.
            sync, asynchronous = signal._live_receivers(model)
            if asynchronous or any(r.__module__ != "auditlog.receivers" for r in sync):
                return True
    return False


def _cursor(db: BaseDatabaseWrapper) -> psycopg.Cursor[Any]:
    """A cursor binding its parameters on the server, so that the two statements are
    prepared once a connection and only their values travel (Django's cursors bind on the
    client: each statement would be parsed and planned again). Used inside Django's
    ``wrap_database_errors``: an error is Django's, and a connection that failed is closed
    by ``close_old_connections`` as after any query of Django's."""
    db.ensure_connection()
    return psycopg.Cursor(db.connection)


# What matching reads of a patient (``match_patient`` and ``before_birth``).
_PATIENT_FIELDS = ["id", "nhs_number", "mrn", "family_name", "date_of_birth"]


def _new_reports(msg: ParsedMessage) -> list[results_.ResultInput] | None:
    """The message's reports, if each is new to the feed as far as the message alone can
    tell (not withdrawn, one a key, valid), else None."""
    try:
        inputs = [filing.result_input(msg, group) for group in extract_results(msg)]
    except Hl7Error:
        return None
    if not inputs or any(data is None or data.status in Result.WITHDRAWN for data in inputs):
        return None
    reports: list[results_.ResultInput] = [data for data in inputs if data is not None]
    keys = {(data.source_system, data.filler_order_number) for data in reports}
    if len(keys) != len(reports):
        return None
    try:
        for data in reports:
            results_.validate_result(data)
    except ValidationError:
        return None
    return reports


def file_new_results(msg: ParsedMessage, *, stored: dict[str, Any]) -> str | None:
    """File ``msg`` (a parsed ORU^R01 whose sender has been checked) if every report in it
    is new for a patient matched outright; returns the acknowledgement, or ``None`` with
    nothing written. ``stored``: the message row's fields as ``receive`` stores them."""
    if auditlog_disabled.get() or _listened_to():
        # The change log is off, or something listens to the rows' saves (auditlog's
        # set_actor, for a person's request, stamps the entries): the general path's saves
        # send the signals.
        return None
    try:
        identity = filing.matching_identity(extract_patient(msg))
    except Hl7Error:
        return None
    # One report an OBR (``extract_results``): the read can be sent before they are read.
    sent = sum(1 for segment in msg.segments if segment.name == "OBR")
    if not sent:
        return None
    _prepare()
    # The thread's connection, looked up once (each use of ``connection`` looks it up).
    db = connections[DEFAULT_DB_ALIAS]
    with db.wrap_database_errors, _cursor(db) as cursor:
        # The read is sent now and runs in PostgreSQL while the reports are read and checked
        # here (pipeline mode); its rows are taken after. A message that goes no further
        # leaves only unused numbers of three sequences, as a failed insert does.
        with cursor.connection.pipeline():
            cursor.execute(
                _sql["read"],
                {
                    "reports": sent,
                    "nhs_number": identity.nhs_number or "",
                    "mrn": identity.mrn or "",
                },
                prepare=True,
            )
            # Meanwhile, all that does not need the read's rows.
            reports = _new_reports(msg)
            if reports is None or len(reports) != sent:
                return None
            ack = build_ack(msg, "AA")
            results = [_unsaved_result(data) for data in reports]
        rows = cursor.fetchall()
    message_id, result_ids, event_ids = rows[0][:3]
    candidates = [Patient.from_db(db.alias, _PATIENT_FIELDS, row[3:]) for row in rows if row[3]]
    match = match_patient(identity, candidates=candidates)
    if match.status is not MatchStatus.MATCHED or match.patient is None:
        return None
    patient = match.patient
    if any(results_.before_birth(patient, data.observed_at) for data in reports):
        return None
    for result, result_id in zip(results, result_ids, strict=True):
        result.pk = result_id
        result.patient_id = patient.pk
        result.last_message_id = message_id
    return _write(db, ack, stored, patient, reports, results, message_id, event_ids)


def _unsaved_result(data: results_.ResultInput) -> Result:
    """A new report's result, but for its id, its patient and its message."""
    result = Result(
        source_system=data.source_system,
        filler_order_number=data.filler_order_number,
        sender=data.sender,
    )
    results_.apply_result_header(result, data)
    return result


def _write(
    db: BaseDatabaseWrapper,
    ack: str,
    stored: dict[str, Any],
    patient: Patient,
    reports: list[results_.ResultInput],
    results: list[Result],
    message_id: int,
    event_ids: list[int],
) -> str | None:
    now = timezone.now()
    # Stored, then processed: as the general path's two writes stamp them.
    received_at = timezone.now()
    message = {
        **stored,
        "id": message_id,
        "status": Status.PROCESSED,
        "patient_id": patient.pk,
        "error": "",
        "ack_code": "AA",
        "ack": ack,
        "attempts": 1,
        "received_at": received_at,
        "processed_at": max(now, received_at),
    }
    observations: list[dict[str, Any]] = []
    t = _tables
    for result in results:  # the times auto_now sets, before the change log reads them
        t["result"].stamp(result)
    for result, data in zip(results, reports, strict=True):
        observations.extend(results_.observation_values(result.pk, data, version=1))
    entries = audit.created_entry_values(results, actor=None)
    for values in entries:  # as rows: the ids of the content type and of no actor
        values["content_type_id"] = values.pop("content_type").pk
        values["actor_id"] = values.pop("actor")
    names = [consumer.name for consumer in consumers(DomainEvent.Kind.RESULT_RECORDED)]
    # The events and their deliveries as ``rms.events.event_record`` writes them, built as
    # rows without model instances (the rows are compared with the general path's).
    events = [
        {
            "id": event_id,
            "kind": DomainEvent.Kind.RESULT_RECORDED,
            "subject_id": result.pk,
            "patient_id": patient.pk,
            "payload": {"version": result.version, "status": result.status},
            "created_at": now,
        }
        for result, event_id in zip(results, event_ids, strict=True)
    ]
    deliveries = [
        {
            "event_id": event_id,
            "consumer": name,
            "patient_id": patient.pk,
            "next_attempt_at": now,
        }
        for event_id in event_ids
        for name in names
    ]
    params: dict[str, Any] = {
        "sources": [data.source_system for data in reports],
        "fillers": [data.filler_order_number for data in reports],
        "patient_id": patient.pk,
    }
    params["m"] = t["message"].row_json(message, db, without=("raw",))
    params["raw"] = bytes(stored["raw"])
    params.update(
        r=t["result"].as_json(results, db),
        o=t["observation"].rows_json(observations, db),
        l=t["entry"].rows_json(entries, db),
        e=t["event"].rows_json(events, db),
        d=t["delivery"].rows_json(deliveries, db),
    )
    try:
        # Inside a caller's transaction (a test's, an import's) a failed statement must not
        # take the transaction with it: a savepoint there, nothing around it otherwise.
        guard = transaction.atomic() if db.in_atomic_block else contextlib.nullcontext()
        with guard, db.wrap_database_errors, _cursor(db) as cursor:
            cursor.execute(_sql["write"], params, prepare=True)
            row = cursor.fetchone()
            written = bool(row and row[0])
            if written and names:
                # Committed already (autocommit): the consumers' doorbell rings now; in a
                # caller's transaction, at its commit.
                if db.in_atomic_block:
                    ring_on_commit()
                else:
                    events_doorbell.ring()
    except DatabaseError:
        # A concurrent writer of the same result (the unique key) or a deadlock: nothing
        # was written, and the general path reads what is there now.
        return None
    return ack if written else None
