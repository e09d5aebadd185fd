"""Domain events of the record and their consumers (docs/adr/0002-signals-between-apps.md).

A service that changes the record calls ``event_record`` in its own transaction; the apps
above ``rms`` register a consumer in their ``AppConfig.ready`` and are called after commit,
from a Celery task rung on commit (in-process without a broker) and from beat's sweep:

    events.register_consumer("careplans.monitoring", [DomainEvent.Kind.RESULT_RECORDED], fn)

``rms`` imports none of them: the registry is the agreement.
"""

from __future__ import annotations

from rms.events.consume import events_consume, events_purge, lag_p95
from rms.events.record import event_record
from rms.events.registry import Consumer, consumers, register_consumer, unregister_consumer

__all__ = [
    "Consumer",
    "consumers",
    "event_record",
    "events_consume",
    "events_purge",
    "lag_p95",
    "register_consumer",
    "unregister_consumer",
]
