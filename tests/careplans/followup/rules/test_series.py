"""A ``Series`` shared by the rules evaluated for one result gives each rule exactly what the
plain list of points gives it: the same findings, the same unit errors, the same points."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from careplans.followup.rules import Point, Series, UnitError, evaluate, unusable
from careplans.followup.rules.common import readings
from tests.careplans.followup.rules.series import on, psa

START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)

# Every rule type, in the units of the series, in other convertible units, in units that never
# convert, and from an anchor that leaves out some points.
CONFIGS: list[tuple[str, dict[str, Any]]] = [
    ("absolute_limit", {"threshold": "0.2", "confirmations": 2, "units": "ng/mL"}),
    ("absolute_limit", {"threshold": "200", "direction": "below", "units": "ng/L"}),
    ("absolute_limit", {"threshold": "1", "units": "mmol/L"}),
    ("rise_above_nadir", {"rise": "2", "units": "ug/L"}),
    ("rise_above_nadir", {"rise": "0.5", "units": "ng/mL", "anchor_at": "2026-01-20"}),
    ("consecutive_rises", {"count": 2, "units": "ng/mL"}),
    ("consecutive_rises", {"count": 3, "min_rise": "10", "units": "ng/L"}),
    ("doubling_time", {"max_months": 12, "units": "ng/mL"}),
    ("doubling_time", {"max_months": 6, "min_value": "0.2", "units": "ug/L"}),
    ("percentage_rise", {"percent": 50, "units": "ng/mL"}),
    ("percentage_rise", {"percent": 25, "against": "baseline", "units": "ng/mL"}),
    (
        "percentage_rise",
        {"percent": 25, "against": "baseline", "anchor_at": "2026-01-20", "units": "ng/L"},
    ),
    ("percent_change", {"percent": 5, "window_days": 30, "units": "ng/mL"}),
    ("percent_change", {"percent": 20, "window_days": 60, "direction": "up", "units": "pg/mL"}),
]


def outcome(rule_type: str, points: Any, params: dict[str, Any]) -> tuple[str, Any]:
    try:
        return "finding", evaluate(rule_type, points, params)
    except UnitError as exc:
        return "unit error", (str(exc), exc.units)


points_strategy = st.lists(
    st.builds(
        lambda days, value, comparator, units: Point(
            at=START + timedelta(days=days),
            value=value,
            comparator=comparator,
            units=units,
            label="PSA",
        ),
        # Few distinct days, so results often share a time (the order must still not matter).
        st.integers(min_value=0, max_value=40),
        st.decimals(min_value=0, max_value=50, places=3, allow_nan=False, allow_infinity=False),
        st.sampled_from(["", "", "", "<", ">", "<=", ">="]),
        # Mostly readable units, sometimes a unit that cannot be converted.
        st.sampled_from(["ng/mL", "ng/mL", "ng/mL", "ug/L", "ng/L", "mmol/L", ""]),
    ),
    max_size=12,
)


@settings(max_examples=300, deadline=None)
@given(
    points=points_strategy,
    order=st.permutations(range(len(CONFIGS))),
)
def test_every_rule_finds_the_same_on_a_shared_series_as_on_the_plain_points(
    points: list[Point], order: list[int]
) -> None:
    series = Series(points)
    # One series for every rule, in any order: what one rule converted never changes another's.
    for index in order:
        rule_type, params = CONFIGS[index]
        plain = outcome(rule_type, list(points), params)
        shared = outcome(rule_type, series, params)
        assert shared == plain, (rule_type, params)
        if plain[0] == "finding":
            # The very points given, not copies (charts find a reading's result by identity).
            assert all(a is b for a, b in zip(shared[1].evidence, plain[1].evidence, strict=True))


def test_a_unit_error_before_the_anchor_does_not_stop_a_rule_that_starts_after_it() -> None:
    points = [
        psa("2 Jan 2026", "0.10", units="mmol/L"),
        psa("2 Feb 2026", "0.10"),
        psa("2 Mar 2026", "2.70"),
    ]
    series = Series(points)
    from_anchor = {"rise": "2", "units": "ng/mL", "anchor_at": "2026-01-20"}
    whole = {"rise": "2", "units": "ng/mL"}
    # The first result cannot be read in ng/mL (it is in mmol/L): it is set aside, named with
    # its reason, and the rest of the series is still judged (one bad point never silences a
    # rule) ...
    assert evaluate("rise_above_nadir", series, whole) == evaluate(
        "rise_above_nadir", points, whole
    )
    assert evaluate("rise_above_nadir", points, whole).breached
    (set_aside,) = unusable(series, "ng/mL")
    assert set_aside.point == points[0]
    assert set_aside.error.units == "mmol/L"
    assert [item.point for item in unusable(points, "ng/mL")] == [set_aside.point]
    # ... and from the anchor on, the breach is found on the same evidence.
    finding = evaluate("rise_above_nadir", series, from_anchor)
    assert finding == evaluate("rise_above_nadir", points, from_anchor)
    assert finding.breached
    assert finding.evidence == (points[1], points[2])


def test_each_rule_is_handed_a_list_of_its_own() -> None:
    series = Series([psa("2 Jan 2026", "0.10"), psa("2 Feb 2026", "0.20")])
    first = readings(series, "ng/mL")
    first.clear()
    assert [item.value for item in readings(series, "ng/mL")] == [Decimal("0.10"), Decimal("0.20")]
    assert [item.value for item in readings(series, "ng/L")] == [Decimal("100"), Decimal("200")]


def test_a_series_holds_the_points_given_oldest_first() -> None:
    newer, older = psa("2 Feb 2026", "0.20"), psa("2 Jan 2026", "0.10")
    series = Series([newer, older])
    assert list(series) == [older, newer]
    assert series[0] is older and series[-1] is newer and len(series) == 2
    assert [item.point for item in readings(series, "ng/mL", since=on("1 Feb 2026"))] == [newer]
