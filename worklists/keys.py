"""Typed keys: the identity of a work item's cause, as code rather than a string.

A work item is raised once per cause. The app that raises it names the cause with a key class
of its own (a frozen dataclass in that app, or here for the causes the worklists own) that
renders to the stored ``WorkItem.dedupe_key`` and, when the raiser needs it, parses one back.
Nobody else splits a stored key apart: the worklists store and compare the rendered text, and
close items by a ``CauseScope`` (every item of one cause, say every attempt of one message)
that the key class hands out.

The rendered forms are the stored values of earlier releases (``outbound:12:3``,
``breach:4:…``), so no stored row changes.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, fields
from typing import ClassVar, Protocol, runtime_checkable


@runtime_checkable
class WorkItemKey(Protocol):
    """What ``worklists.services`` needs of a key: its stored form."""

    def render(self) -> str: ...


@dataclass(frozen=True)
class CauseScope:
    """Every item of one cause family (the stored keys that start with ``prefix``): what
    the raiser closes or counts. Made by the key classes (``CauseKey.scope``), never written
    by hand."""

    prefix: str

    def __post_init__(self) -> None:
        if not self.prefix.strip() or not self.prefix.endswith(":"):
            # An empty prefix would match every item of every raiser.
            raise ValueError("A cause scope is a non-empty key prefix ending in ':'.")


def _part(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.date):  # dates and datetimes alike
        return value.isoformat()
    return str(value)


def join(*parts: object) -> str:
    """The stored form of a key: its parts joined by ':' (the one separator, here only)."""
    return ":".join(_part(part) for part in parts)


@dataclass(frozen=True)
class CauseKey:
    """A typed key: a frozen dataclass with a ``cause`` name, stored as the cause then its
    fields in order (``outbound:12:3``). A key whose stored form is otherwise overrides
    ``render``."""

    cause: ClassVar[str]

    def render(self) -> str:
        return join(self.cause, *(getattr(self, f.name) for f in fields(self)))

    @classmethod
    def scope(cls, *leading: object) -> CauseScope:
        """The items of this cause whose first fields are ``leading`` (none: all of them)."""
        return CauseScope(join(cls.cause, *leading) + ":")


# ---------------------------------------------------------------------------
# Causes the worklists own: inbound messages held by the core's feed.
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class HeldInboundKey(CauseKey):
    """An inbound message held for an administrator, once per processing attempt."""

    cause: ClassVar[str] = "inbound"
    message_pk: int
    attempt: int
