"""Properties that hold for any series, not just the clinical examples."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from careplans.followup.rules import DAYS_PER_MONTH, Point, absolute_limit, doubling_time, evaluate

START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def point(days: float, value: Decimal, comparator: str = "") -> Point:
    return Point(
        at=START + timedelta(days=days),
        value=value,
        comparator=comparator,
        units="ng/mL",
        label="PSA",
    )


def as_lab_value(value: float) -> Decimal:
    return Decimal(f"{value:.6g}")


@st.composite
def exponential_series(draw: st.DrawFn) -> tuple[float, list[Point]]:
    """v0 * 2^(t/T) with <=1% multiplicative noise at random increasing times.

    The gaps are at least ~0.045 T (so 1% noise cannot turn a rise into a fall) and the span at
    least 1.5 T: with less, 1% noise alone can move any fit of a few points by more than 5%.
    """
    months = draw(st.floats(min_value=1, max_value=60))
    count = draw(st.integers(min_value=3, max_value=10))
    weights = draw(st.lists(st.floats(0.25, 1), min_size=count - 1, max_size=count - 1))
    span = draw(st.floats(min_value=1.5, max_value=4)) * months
    noise = draw(st.lists(st.floats(-0.01, 0.01), min_size=count, max_size=count))
    start_value = draw(st.floats(min_value=0.01, max_value=100))

    offsets = [0.0]
    for weight in weights:
        offsets.append(offsets[-1] + weight / sum(weights) * span)
    points = [
        point(
            offset * DAYS_PER_MONTH,
            as_lab_value(start_value * 2 ** (offset / months) * (1 + wobble)),
        )
        for offset, wobble in zip(offsets, noise, strict=True)
    ]
    return months, points


@settings(max_examples=150, deadline=None)
@given(exponential_series())
def test_the_fitted_doubling_time_of_an_exponential_series_is_its_doubling_time(
    case: tuple[float, list[Point]],
) -> None:
    months, points = case

    finding = doubling_time(points, max_months=1000, min_span_months=0, units="ng/mL")

    assert finding.breached
    assert finding.details["points_used"] == len(points)
    assert math.isclose(finding.details["doubling_time_months"], months, rel_tol=0.05)


values = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("5"), places=2)
comparators = st.sampled_from(["", "", "", "<"])
series = st.lists(
    st.tuples(st.integers(0, 3650), values, comparators),
    min_size=1,
    max_size=12,
    unique_by=lambda item: item[0],
).map(lambda items: [point(day, value, comparator) for day, value, comparator in items])

# Gaps in days and values at or over 0.2: a confirmed breach of "PSA >= 0.2, confirmed".
runs = st.lists(
    st.tuples(st.integers(1, 400), st.decimals("0.2", "5", places=2)), min_size=2, max_size=6
)

STORED_RULES: list[tuple[str, dict[str, Any]]] = [
    ("absolute_limit", {"threshold": "0.2", "confirmations": 2, "units": "ng/mL"}),
    ("rise_above_nadir", {"rise": 2, "units": "ug/L"}),
    ("consecutive_rises", {"count": 2, "units": "ng/mL"}),
    ("doubling_time", {"max_months": 12, "units": "ng/mL"}),
    ("percentage_rise", {"percent": 25, "against": "baseline", "units": "ng/mL"}),
    ("percentage_rise", {"percent": 25, "units": "ng/mL"}),
]


@given(series, st.sampled_from(STORED_RULES), st.randoms(use_true_random=False))
def test_evaluating_the_same_points_twice_gives_the_same_finding(
    points: list[Point], rule: tuple[str, dict[str, Any]], shuffler: Any
) -> None:
    rule_type, params = rule
    shuffled = points[:]
    shuffler.shuffle(shuffled)

    first = evaluate(rule_type, points, params)
    second = evaluate(rule_type, shuffled, params)

    assert second == first
    # A key names a breach, or the value awaiting confirmation; nothing else has one.
    assert bool(first.key) == (first.breached or first.awaiting)


@given(runs, series, st.integers(1, 3650), values, comparators)
def test_an_older_point_before_the_run_does_not_change_an_absolute_limit_key(
    run: list[tuple[int, Decimal]],
    history: list[Point],
    older_by: int,
    older_value: Decimal,
    older_comparator: str,
) -> None:
    # Any history, then a value under the line, then a run of values at or over it.
    under_at = max(p.at for p in history) + timedelta(days=1)
    under = Point(at=under_at, value=Decimal("0.1"), units="ug/L", label="PSA")
    over = []
    at = under.at
    for gap, value in run:
        at += timedelta(days=gap)
        over.append(Point(at=at, value=value, units="ng/mL", label="PSA"))
    points = [*history, under, *over]
    older = Point(
        at=min(p.at for p in points) - timedelta(days=older_by),
        value=older_value,
        comparator=older_comparator,
        units="ng/mL",
    )

    before = absolute_limit(points, threshold="0.2", confirmations=2, units="ng/mL")
    after = absolute_limit([older, *points], threshold="0.2", confirmations=2, units="ng/mL")

    assert before.breached
    assert after.key == before.key == f"absolute_limit/{over[0].at.isoformat()}"


@given(runs)
def test_an_older_value_under_the_line_just_before_the_run_does_not_change_its_key(
    run: list[tuple[int, Decimal]],
) -> None:
    over = []
    day = 0
    for gap, value in run:
        day += gap
        over.append(point(day, value))
    under = point(-30, Decimal("0.19"))

    before = absolute_limit(over, threshold="0.2", confirmations=2, units="ng/mL")
    after = absolute_limit([under, *over], threshold="0.2", confirmations=2, units="ng/mL")

    assert before.breached
    assert after.key == before.key
