"""When a scheduled test is next due: pure date arithmetic over a test's schedule steps.

A schedule is a list of phases for one test, each counted in calendar months from the anchor
(treatment) date: from ``from_month`` (inclusive) until ``until_month`` (exclusive; blank for
ever), one test every ``every_months``. EAU post-treatment PSA (3, 6, 12 months, then 6-monthly
to 3 years, then yearly) is::

    from 0 until 6 every 3; from 6 until 36 every 6; from 36 every 12

No ORM and no clock: the caller passes the steps (pathway or plan rows, or anything with the
same attributes), the anchor and the date of the latest result that counts.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from typing import Protocol

from dateutil.relativedelta import relativedelta


class Step(Protocol):
    """What ``due_after`` reads from a schedule step (``careplans.models.ScheduleStep`` fits)."""

    @property
    def test_code(self) -> str: ...

    @property
    def from_month(self) -> int: ...

    @property
    def until_month(self) -> int | None: ...

    @property
    def every_months(self) -> int: ...


def due_after(steps: Iterable[Step], *, anchor: date, last: date | None) -> date | None:
    """The date the test is next due, or None when its schedule has ended (or has no steps).

    With no result since the anchor, the test is first due one interval of the first phase
    after the anchor. Otherwise it is due one interval after ``last``, the interval being that
    of the phase ``last`` falls in (by whole calendar months since the anchor). A result taken
    a few days early therefore keeps its own phase's interval: the conservative choice, as it
    asks for the next test sooner rather than later.
    """
    phases = _phases(steps)
    if not phases:
        return None
    end = _end_month(phases)
    if last is None or last < anchor:
        # Counting from the anchor as if a result had been taken on it gives the first due date.
        last = anchor
    month = _months_between(anchor, last)
    phase = _phase_at(phases, month)
    if phase is None:
        later = [step for step in phases if step.from_month > month]
        if not later:
            return None
        # ``last`` falls in a gap between phases (or before the first one): the next phase's
        # first test is one interval into it, as the plan's first test is one interval after
        # the anchor.
        nxt = later[0]
        due = anchor + relativedelta(months=nxt.from_month + nxt.every_months)
    else:
        due = last + relativedelta(months=phase.every_months)
    if end is not None and due > anchor + relativedelta(months=end):
        return None
    return due


def step_on[S: Step](steps: Iterable[S], *, anchor: date, day: date) -> S | None:
    """The step in force on ``day`` (by whole calendar months since the anchor), or None when
    ``day`` is before the anchor or outside every phase."""
    if day < anchor:
        return None
    return _phase_at(_phases(steps), _months_between(anchor, day))


def _phases[S: Step](steps: Iterable[S]) -> list[S]:
    ordered: Sequence[S] = sorted(steps, key=lambda step: step.from_month)
    codes = {step.test_code.casefold() for step in ordered}
    if len(codes) > 1:
        raise ValueError(f"due_after takes the steps of one test, not {sorted(codes)}")
    for step in ordered:
        if step.every_months < 1:
            raise ValueError(f"every_months must be at least 1, not {step.every_months}")
    return list(ordered)


def _end_month(phases: Sequence[Step]) -> int | None:
    """The month the whole schedule ends (None: never)."""
    if any(step.until_month is None for step in phases):
        return None
    return max(step.until_month for step in phases if step.until_month is not None)


def _phase_at[S: Step](phases: Sequence[S], month: int) -> S | None:
    """The phase that month ``month`` falls in; where phases overlap, the later-starting one."""
    found: S | None = None
    for step in phases:
        if step.from_month <= month and (step.until_month is None or month < step.until_month):
            found = step
    return found


def _months_between(anchor: date, day: date) -> int:
    """Whole calendar months from ``anchor`` to ``day`` (``day`` not before ``anchor``)."""
    delta = relativedelta(day, anchor)
    return delta.years * 12 + delta.months
