"""When a scheduled test is next due: pure date arithmetic over a test's schedule grid.

A schedule is a list of phases for one test, each counted in calendar months from the anchor
(treatment) date. A phase "from ``from_month`` until ``until_month`` every ``every_months``"
gives the grid points ``from_month + every_months``, ``from_month + 2 * every_months``, ... up
to and including ``until_month`` (blank: for ever). EAU post-treatment PSA (3, 6, 12 months,
then 6-monthly to 3 years, then yearly) is::

    from 0 until 6 every 3; from 6 until 36 every 6; from 36 every 12

which gives the grid 3, 6, 12, 18, 24, 30, 36, 48, 60, ... months.

The due dates stay on the grid (docs: the "Schedules (the grid)" section of the clinical
vocabulary): a result counts for the grid point nearest its collection date (the later one on
a tie) and the test is next due at the grid point after it, so a test taken late or early
neither drifts the schedule nor shortens it. With no result yet, the test is due at the first
grid point on or after the plan's start, so a plan started long after treatment is not overdue
on its first day. After the last point of a schedule that ends, nothing is due.

The anchor itself counts as a point for "nearest" (it is not a due date): a result nearer the
treatment date than the first grid point (a PSA 4 to 6 weeks after surgery, taken to look for
persistent disease) counts for no scheduled test, and the first grid test is still due. So does
the start of a phase that has no test there (after a gap, or a test added to a plan this
month): a result nearest it leaves the phase's first test due.

No ORM and no clock: the caller passes the steps (pathway or plan rows, or anything with the
same attributes), the anchor, the date of the latest result that counts and the plan's start.
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


# Scheduled tests that are scans or endoscopies (reports, not blood values), by the codes the
# pathways and the radiology and endoscopy systems use (OBR-4): never called blood tests.
NOT_BLOOD_TESTS = frozenset(
    {
        "CT",
        "CT_CAP",
        "CTCAP",
        "MRI",
        "COLONOSCOPY",
        "SIGMOIDOSCOPY",
        "ENDOSCOPY",
        "ULTRASOUND",
        "BONE_SCAN",
        "CXR",
    }
)
_NOT_BLOOD_PREFIXES = ("CT_", "MRI_", "MR", "PET", "NM", "US_", "XR")


def is_blood_test(test_code: str) -> bool:
    """Whether a scheduled test is a blood test (PSA, CEA...) rather than a scan or an
    endoscopy (``CT_CAP``, ``COLONOSCOPY``, ``MRI``), by its code in any case."""
    code = test_code.strip().upper()
    return code not in NOT_BLOOD_TESTS and not code.startswith(_NOT_BLOOD_PREFIXES)


def due_after(
    steps: Iterable[Step], *, anchor: date, last: date | None, start: date | None = None
) -> date | None:
    """The grid date the test is next due, or None when its schedule has ended (or has no
    steps).

    ``last`` is the collection date of the latest result that counts (None: none yet; one
    from before the anchor does not count): the test is next due at the grid point after the
    one it counts for. With no result (or one that counts for no grid point), the test is due
    at the first grid point on or after ``start``, the date the plan started (None: the
    anchor).
    """
    phases = _phases(steps)
    if not phases:
        return None
    floor = max(start or anchor, anchor)
    if last is not None and last >= anchor:
        counted, is_grid = _nearest(phases, anchor, last)
        if is_grid or counted > 0:
            # The grid point after the one the result counts for (or, for a result nearest
            # the start of a phase that has no test there, the phase's first grid point).
            points = grid_months(phases, through=_horizon(phases, counted))
            after = [m for m in points if m > counted]
            return _on(anchor, after[0]) if after else None
    # No result yet, or only one nearer the treatment than the first grid point (which counts
    # for no grid test): the first grid point on or after the plan's start.
    reach = _months_between(anchor, floor)
    for month in grid_months(phases, through=_horizon(phases, reach)):
        if _on(anchor, month) >= floor:
            return _on(anchor, month)
    return None


def grid_months(steps: Iterable[Step], *, through: int) -> list[int]:
    """The schedule's grid points (months since the anchor), in order, up to ``through``."""
    points: set[int] = set()
    for step in _phases(steps):
        end = through if step.until_month is None else min(step.until_month, through)
        month = step.from_month + step.every_months
        while month <= end:
            points.add(month)
            month += step.every_months
    return sorted(points)


def step_on[S: Step](steps: Iterable[S], *, anchor: date, day: date) -> S | None:
    """The step a due date belongs to: the phase whose grid has ``day`` on it, else the phase
    in force on ``day`` (by whole calendar months since the anchor); None when ``day`` is
    before the anchor or outside every phase."""
    if day < anchor:
        return None
    phases = _phases(steps)
    month = _months_between(anchor, day)
    if _on(anchor, month) == day:
        owners = [
            step
            for step in phases
            if month > step.from_month
            and (month - step.from_month) % step.every_months == 0
            and (step.until_month is None or month <= step.until_month)
        ]
        if owners:
            return owners[-1]
    return _phase_at(phases, month)


def _nearest(phases: Sequence[Step], anchor: date, day: date) -> tuple[int, bool]:
    """The point (month) a result taken on ``day`` counts for, nearest by days, the later on
    a tie, and whether it is a grid point. The anchor (month 0) and the start of a phase that
    has no test there (a test added to a plan this month, a phase after a gap) are points
    too, of no test: a result nearer one of them than any grid point counts for no test."""
    grid = set(grid_months(phases, through=_horizon(phases, _months_between(anchor, day))))
    points = sorted(grid | {0} | {step.from_month for step in phases})
    best, distance = 0, (day - anchor).days
    for month in points:
        gap = abs((_on(anchor, month) - day).days)
        if gap <= distance:
            best, distance = month, gap
        elif _on(anchor, month) > day:
            break
    return best, best in grid


def _phases[S: Step](steps: Iterable[S]) -> list[S]:
    ordered: Sequence[S] = sorted(steps, key=lambda step: step.from_month)
    codes = {step.test_code.casefold() for step in ordered}
    if len(codes) > 1:
        raise ValueError(f"due_after takes the steps of one test, not {sorted(codes)}")
    for step in ordered:
        if step.every_months < 1:
            raise ValueError(f"every_months must be at least 1, not {step.every_months}")
    return list(ordered)


def _horizon(phases: Sequence[Step], month: int) -> int:
    """A month far enough past ``month`` (and past the start of every phase) that the grid
    points around it, and the next one after it, are all generated."""
    latest_start = max(step.from_month for step in phases)
    return max(month, latest_start) + 2 * max(step.every_months for step in phases) + 1


def _phase_at[S: Step](phases: Sequence[S], month: int) -> S | None:
    """The phase that month ``month`` falls in; where phases overlap, the later-starting one."""
    found: S | None = None
    for step in phases:
        if step.from_month <= month and (step.until_month is None or month < step.until_month):
            found = step
    return found


def _on(anchor: date, month: int) -> date:
    return anchor + relativedelta(months=month)


def _months_between(anchor: date, day: date) -> int:
    """Whole calendar months from ``anchor`` to ``day`` (``day`` not before ``anchor``)."""
    delta = relativedelta(day, anchor)
    return delta.years * 12 + delta.months
