"""The plain values the rules take and give.

No ORM here: the caller turns observations into ``Point``s and a ``Finding`` into a work item,
so the rules can be tested, and reasoned about, alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

# The comparators a lab may put in front of a number (Observation.comparator): "<0.01" is an
# undetectable PSA, ">100" a value above the analyser's range.
BELOW = frozenset({"<", "<="})
ABOVE = frozenset({">", ">="})
COMPARATORS = frozenset({""}) | BELOW | ABOVE


class UnitError(ValueError):
    """A result's units are unknown, or cannot be converted to the rule's units.

    The caller turns this into a work item ("cannot evaluate: unknown unit"); a rule never
    compares numbers whose units it cannot reconcile.
    """

    def __init__(self, message: str, *, units: str) -> None:
        super().__init__(message)
        self.units = units


class RuleConfigError(ValueError):
    """A rule's parameters are missing, unknown or out of range; ``parameter`` names which."""

    def __init__(self, parameter: str, reason: str) -> None:
        super().__init__(f"{parameter}: {reason}")
        self.parameter = parameter
        self.reason = reason


@dataclass(frozen=True, kw_only=True)
class Point:
    """One result of one test for one patient.

    ``value`` is the lab's number; with a comparator it is a limit (``comparator="<"``,
    ``value=0.01`` for "<0.01"). ``at`` must be aware: results cross the clock change and
    arrive from systems in different zones.
    """

    at: datetime
    value: Decimal
    comparator: str = ""
    units: str
    label: str = ""
    # What the point is in the record (an observation's id), so a point set aside can be named
    # in a work item. Not part of the point's value: two reports of one sample compare equal.
    ref: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if self.at.tzinfo is None or self.at.utcoffset() is None:
            raise ValueError("Point.at must be an aware datetime")
        if not isinstance(self.value, Decimal) or not self.value.is_finite():
            raise ValueError(f"Point.value must be a finite Decimal, not {self.value!r}")
        if self.comparator not in COMPARATORS:
            raise ValueError(
                f"Point.comparator must be one of '', <, <=, > or >=, not {self.comparator!r}"
            )

    @property
    def censored(self) -> bool:
        """True when the lab gave only a limit ("<0.01", ">100"), not the value itself."""
        return self.comparator != ""


@dataclass(frozen=True, kw_only=True)
class Finding:
    """What a rule decided about a series, and why.

    ``key`` identifies this breach by its evidence (the rule and the time(s) of the point(s)
    that started it) so the caller raises it once however often the series is evaluated, and a
    breach on new evidence is a new breach; it is "" when nothing is breached or awaited.
    ``details`` holds only JSON-safe values: Decimals as strings (exact), fit results as floats,
    times as ISO 8601 strings in UTC.
    """

    breached: bool
    rule: str
    explanation: str
    evidence: tuple[Point, ...]
    key: str
    details: dict[str, Any] = field(default_factory=dict)
    # A first value over a line that needs confirming: not a breach yet, but the clinician is
    # told, and the test is asked for again by ``repeat_by`` (the rule's confirmation interval
    # after the value). ``key`` names the value awaiting confirmation.
    awaiting: bool = False
    repeat_by: date | None = None
