"""Writing an event, in the caller's transaction, and ringing the consumers after commit."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from rms.doorbell import Doorbell
from rms.events.registry import consumers
from rms.models import DomainEvent, EventDelivery


def _send_ring() -> None:
    from rms.tasks import events_consume

    events_consume.delay()


# At most four rings a second (and a trailing one): publishing a Celery task costs the
# listener more CPU than filing a message, and a ring's pass takes every event then pending,
# so a quarter of a second adds that much to the lag and nothing to the work.
doorbell = Doorbell(lambda: _send_ring(), what="events", interval=0.25)


def _ring() -> None:
    doorbell.ring()


def ring_on_commit() -> None:
    """Ring the consumers' doorbell once the current transaction commits (once per
    transaction). A ring lost on the way is made good by beat's sweep."""
    if any(entry[1] is _ring for entry in connection.run_on_commit):
        return
    transaction.on_commit(_ring, robust=True)


def event_record(
    *,
    kind: DomainEvent.Kind,
    subject_id: int,
    patient_id: int | None,
    payload: dict[str, Any] | None = None,
) -> DomainEvent:
    """Write the event and one pending delivery per consumer of its kind, in the caller's
    transaction (rolled back with the change), and ring the consumers on commit. Not for
    repeating: each call is one more thing that happened."""
    now = timezone.now()
    names = [consumer.name for consumer in consumers(kind)]
    payload = payload or {}
    if names and connection.vendor == "postgresql":
        event = _record_in_one_statement(kind, subject_id, patient_id, payload, now, names)
    else:
        event = DomainEvent.objects.create(
            kind=kind,
            subject_id=subject_id,
            patient_id=patient_id,
            payload=payload,
            created_at=now,
        )
        EventDelivery.objects.bulk_create(
            EventDelivery(event=event, consumer=name, patient_id=patient_id, next_attempt_at=now)
            for name in names
        )
    if names:
        ring_on_commit()
    return event


# The event and its deliveries in one round trip (PostgreSQL): the filing of every result
# writes one, on the acknowledgement's path. The deliveries' ids follow the consumers' order,
# as bulk_create's would.
_RECORD_SQL = """
WITH event AS (
    INSERT INTO rms_domainevent (patient_id, kind, subject_id, payload, created_at)
    VALUES (%(patient_id)s, %(kind)s, %(subject_id)s, %(payload)s, %(now)s)
    RETURNING id
)
INSERT INTO rms_eventdelivery
    (event_id, consumer, patient_id, attempts, last_error, next_attempt_at)
SELECT event.id, consumer.name, %(patient_id)s, 0, '', %(now)s
FROM event, unnest(%(consumers)s::text[]) WITH ORDINALITY AS consumer (name, position)
ORDER BY consumer.position
RETURNING event_id
"""


def _record_in_one_statement(
    kind: str,
    subject_id: int,
    patient_id: int | None,
    payload: dict[str, Any],
    now: dt.datetime,
    names: list[str],
) -> DomainEvent:
    from psycopg.types.json import Jsonb

    params: dict[str, Any] = {
        "patient_id": patient_id,
        "kind": str(kind),
        "subject_id": subject_id,
        "payload": Jsonb(payload),
        "now": now,
        "consumers": names,
    }
    with connection.cursor() as cursor:
        cursor.execute(_RECORD_SQL, params)
        event_id = cursor.fetchone()[0]
    event = DomainEvent(
        id=event_id,
        kind=kind,
        subject_id=subject_id,
        patient_id=patient_id,
        payload=payload,
        created_at=now,
    )
    event._state.adding = False
    event._state.db = connection.alias
    return event
