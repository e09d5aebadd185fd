"""Writing an event, in the caller's transaction, and ringing the consumers after commit."""

from __future__ import annotations

from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from rms.doorbell import Doorbell
from rms.events.registry import consumers
from rms.models import DomainEvent, EventDelivery


def _send_ring() -> None:
    from rms.tasks import events_consume

    events_consume.delay()


doorbell = Doorbell(lambda: _send_ring(), what="events")


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
    event = DomainEvent.objects.create(
        kind=kind,
        subject_id=subject_id,
        patient_id=patient_id,
        payload=payload or {},
        created_at=now,
    )
    interested = consumers(kind)
    if interested:
        EventDelivery.objects.bulk_create(
            EventDelivery(
                event=event,
                consumer=consumer.name,
                patient_id=event.patient_id,
                next_attempt_at=now,
            )
            for consumer in interested
        )
        ring_on_commit()
    return event
