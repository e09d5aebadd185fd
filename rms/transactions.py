"""Work that runs once the current transaction commits, at most once per transaction.

``run_once_on_commit(key, fn)`` is ``transaction.on_commit(fn)`` for doorbells: ringing the
filer or the PKB dispatcher after a transaction that stored ten rows should ring once, not ten
times (each ring is a Celery message).

How "already scheduled in this transaction" is known without reading Django's list of pending
callbacks (``connection.run_on_commit``, not a public interface): each key's pending callback is
held here only by a weak reference, and Django holds the only strong one, in its list. When the
transaction (or the savepoint the callback was registered in) rolls back, Django drops the
callback and the weak reference dies with it, so the next call schedules it again; when the
callback runs it marks itself spent. Connections are per thread, so the register is too.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Hashable

from django.db import DEFAULT_DB_ALIAS, transaction


class _Pending:
    """One scheduled run of ``fn``; spent once it has started."""

    __slots__ = ("__weakref__", "fn", "spent")

    def __init__(self, fn: Callable[[], object]) -> None:
        self.fn = fn
        self.spent = False

    def __call__(self) -> None:
        self.spent = True
        self.fn()


_local = threading.local()


def _register() -> dict[tuple[str, Hashable], weakref.ref[_Pending]]:
    register: dict[tuple[str, Hashable], weakref.ref[_Pending]] | None = getattr(
        _local, "pending", None
    )
    if register is None:
        register = _local.pending = {}
    return register


def run_once_on_commit(
    key: Hashable, fn: Callable[[], object], *, using: str | None = None, robust: bool = True
) -> None:
    """Run ``fn`` after the current transaction on ``using`` commits, unless a call with the
    same ``key`` has already scheduled it in this transaction. Outside a transaction ``fn``
    runs now, as with ``transaction.on_commit``. ``robust`` (the default) logs an exception
    from ``fn`` instead of raising it into the code that committed."""
    alias = using or DEFAULT_DB_ALIAS
    register = _register()
    reference = register.get((alias, key))
    pending = reference() if reference is not None else None
    if pending is not None and not pending.spent:
        return
    pending = _Pending(fn)
    register[(alias, key)] = weakref.ref(pending)
    transaction.on_commit(pending, using=alias, robust=robust)
