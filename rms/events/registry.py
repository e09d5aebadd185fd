"""Who consumes which kinds of event. Filled by the apps' ``AppConfig.ready``."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass

from rms.models import DomainEvent

Handler = Callable[[DomainEvent], None]
# Of these patients, those for whom the consumer has nothing to do now (one query a pass).
Idle = Callable[[Collection[int]], Collection[int]]


@dataclass(frozen=True)
class Consumer:
    name: str
    kinds: frozenset[str]
    handler: Handler
    # Consumers whose delivery of the same event must be done before this one's.
    after: frozenset[str] = frozenset()
    # The patients whose events of ``idle_kinds`` the handler would do nothing with now (a
    # patient on no plan, not shared): passed over in bulk, without calling the handler.
    idle: Idle | None = None
    idle_kinds: frozenset[str] = frozenset()


_consumers: dict[str, Consumer] = {}


def register_consumer(
    name: str,
    kinds: Iterable[str],
    handler: Handler,
    *,
    after: Iterable[str] = (),
    idle: Idle | None = None,
    idle_kinds: Iterable[str] = (),
) -> None:
    """Register (or replace) the consumer ``name`` for ``kinds``. A handler is called once per
    event, after the event's transaction commits, inside a transaction of its own; it must
    read the record as it is now (later events may have changed it already). Raising rolls
    back what it wrote and retries the event later; that patient's later events wait for this
    consumer, and no other consumer waits, except one registered ``after`` it, which takes an
    event only once the consumers it names are done with it.

    ``idle``: given patient ids, those for whom the handler would do nothing with an event of
    ``idle_kinds`` now; a run of such a patient's events is marked done in one statement, in
    order, without calling the handler (``rms.events.consume``). It must answer exactly what
    the handler would decide, read as it is now."""
    _consumers[name] = Consumer(
        name=name,
        kinds=frozenset(kinds),
        handler=handler,
        after=frozenset(after),
        idle=idle,
        idle_kinds=frozenset(idle_kinds) if idle is not None else frozenset(),
    )


def unregister_consumer(name: str) -> None:
    _consumers.pop(name, None)


def consumers(kind: str | None = None) -> list[Consumer]:
    """The consumers of ``kind`` (of every kind: None), each after the consumers it runs
    ``after``: an event's deliveries are written in this order, so a pass, which takes an
    event's deliveries in the order they were written, reaches a consumer that waits for
    another once that other is done, rather than a pass later."""
    chosen = [c for c in _consumers.values() if kind is None or kind in c.kinds]
    return sorted(chosen, key=lambda c: _depth(c.name, frozenset()))


def _depth(name: str, seen: frozenset[str]) -> int:
    """How many consumers stand before ``name`` in its longest chain of ``after``."""
    consumer = _consumers.get(name)
    if consumer is None or name in seen:  # not registered, or a cycle: nothing to wait for
        return 0
    return max((1 + _depth(first, seen | {name}) for first in consumer.after), default=0)
