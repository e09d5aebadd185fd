"""Who consumes which kinds of event. Filled by the apps' ``AppConfig.ready``."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from rms.models import DomainEvent

Handler = Callable[[DomainEvent], None]


@dataclass(frozen=True)
class Consumer:
    name: str
    kinds: frozenset[str]
    handler: Handler
    # Consumers whose delivery of the same event must be done before this one's.
    after: frozenset[str] = frozenset()


_consumers: dict[str, Consumer] = {}


def register_consumer(
    name: str, kinds: Iterable[str], handler: Handler, *, after: Iterable[str] = ()
) -> None:
    """Register (or replace) the consumer ``name`` for ``kinds``. A handler is called once per
    event, after the event's transaction commits, inside a transaction of its own; it must
    read the record as it is now (later events may have changed it already). Raising rolls
    back what it wrote and retries the event later; that patient's later events wait for this
    consumer, and no other consumer waits, except one registered ``after`` it, which takes an
    event only once the consumers it names are done with it."""
    _consumers[name] = Consumer(
        name=name, kinds=frozenset(kinds), handler=handler, after=frozenset(after)
    )


def unregister_consumer(name: str) -> None:
    _consumers.pop(name, None)


def consumers(kind: str | None = None) -> list[Consumer]:
    return [c for c in _consumers.values() if kind is None or kind in c.kinds]
