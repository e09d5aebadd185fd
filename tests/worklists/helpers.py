"""Raising work items in tests, through the service as everything else does."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rms.services import system_user
from worklists import services
from worklists.keys import CauseScope
from worklists.models import WorkItem


@dataclass(frozen=True)
class ExampleKey:
    """A cause of the tests' own: the worklists take any raiser's typed key."""

    text: str

    def render(self) -> str:
        return self.text

    @staticmethod
    def scope(prefix: str) -> CauseScope:
        return CauseScope(prefix)


_count = iter(range(1, 1_000_000))


def raise_item(patient: Any = None, **overrides: Any) -> WorkItem:
    n = next(_count)
    values: dict[str, Any] = {
        "kind": WorkItem.Kind.THRESHOLD_BREACH,
        "key": ExampleKey(f"test:{n}"),
        "title": f"PSA above 0.2 ug/L ({n})",
        "explanation": "PSA 0.24 ug/L on 10 Nov 2026 is above the limit of 0.2 ug/L.",
        "source": "rule:1",
        "actor": system_user(),
        "patient": patient,
        **overrides,
    }
    item, _ = services.work_item_raise(**values)
    return item
