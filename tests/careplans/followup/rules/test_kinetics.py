"""PSA doubling time by the MSKCC method: ln 2 / k from a least-squares fit of ln(PSA) over all
qualifying values of the episode (at least 3 values over at least 3 months); "PSA-DT of 1 year
or less" (EAU biochemical recurrence risk groups) is inclusive."""

from __future__ import annotations

import json
from decimal import Decimal

from careplans.followup.rules import doubling_time
from tests.careplans.followup.rules.series import psa

# Doubling every ~3 months, sampled every ~1.5 months.
DOUBLING_EVERY_3_MONTHS = [
    psa("1 Jan 2026", "0.2"),
    psa("15 Feb 2026", "0.28"),
    psa("1 Apr 2026", "0.4"),
    psa("15 May 2026", "0.57"),
    psa("1 Jul 2026", "0.8"),
]


def test_a_psa_doubling_every_three_months_has_a_doubling_time_of_three_months() -> None:
    finding = doubling_time(DOUBLING_EVERY_3_MONTHS, max_months=6, units="ng/mL")

    assert finding.breached
    assert abs(finding.details["doubling_time_months"] - 3.0) <= 0.1
    assert finding.details["r_squared"] > 0.99
    assert finding.details["points_used"] == 5
    assert finding.evidence == tuple(DOUBLING_EVERY_3_MONTHS)
    assert finding.key == "doubling_time/2026-01-01T09:00:00+00:00"
    assert finding.explanation == (
        "PSA doubling time is 2.9 months, 6 months or less, fitted over 5 values "
        "(0.2, 0.28, 0.4, 0.57, 0.8) from 1 Jan 2026 to 1 Jul 2026 (r\u00b2 1.00)."
    )


def test_a_three_month_doubling_time_does_not_breach_a_two_month_limit() -> None:
    finding = doubling_time(DOUBLING_EVERY_3_MONTHS, max_months=2, units="ng/mL")

    assert not finding.breached
    assert finding.key == ""
    assert finding.explanation.startswith("PSA doubling time is 2.9 months, more than 2 months")
    assert finding.details["doubling_time_months"] is not None


def test_a_falling_series_has_no_doubling_time() -> None:
    falling = [psa("1 Jan 2026", "0.8"), psa("1 Apr 2026", "0.5"), psa("1 Jul 2026", "0.3")]

    finding = doubling_time(falling, max_months=6, units="ng/mL")

    assert not finding.breached
    assert finding.details["doubling_time_months"] is None
    assert finding.explanation.endswith("is not rising, so there is no doubling time.")


def test_a_dip_inside_a_rising_episode_does_not_discard_the_episode() -> None:
    # MSKCC: all values of the episode are fitted. A dip (0.3 after 0.4) inside a rise that
    # doubles about every 3 months must not shrink the fit to the two values after the dip,
    # which would say "too few values" and miss the recurrence.
    series = [*DOUBLING_EVERY_3_MONTHS[:3], psa("1 May 2026", "0.3"), *DOUBLING_EVERY_3_MONTHS[3:]]

    finding = doubling_time(series, max_months=12, units="ng/mL")

    assert finding.breached
    assert finding.details["points_used"] == 6
    assert finding.details["doubling_time_months"] < 12


def test_fewer_values_than_the_minimum_give_no_doubling_time() -> None:
    finding = doubling_time(DOUBLING_EVERY_3_MONTHS[-2:], max_months=6, units="ng/mL")

    assert not finding.breached
    assert finding.explanation == (
        "Only 2 PSA values in this episode; a doubling time needs at least 3."
    )


def test_three_values_over_less_than_three_months_give_no_doubling_time() -> None:
    finding = doubling_time(DOUBLING_EVERY_3_MONTHS[:3], max_months=12, units="ng/mL")

    # 1 Jan to 1 Apr 2026 is 90 days, less than 3 mean months (91.3 days).
    assert not finding.breached
    assert "less than the 3 months a doubling time needs" in finding.explanation


def test_a_doubling_time_of_exactly_twelve_months_is_twelve_months_or_less() -> None:
    from datetime import timedelta

    from careplans.followup.rules import DAYS_PER_MONTH, Point

    start = DOUBLING_EVERY_3_MONTHS[0].at
    # Exactly doubling in 12 mean months: 0.2, 0.4, 0.8 at 0, 12 and 24 months.
    series = [
        Point(at=start + timedelta(days=12 * DAYS_PER_MONTH * k), value=value, units="ng/mL")
        for k, value in enumerate([Decimal("0.2"), Decimal("0.4"), Decimal("0.8")])
    ]

    finding = doubling_time(series, max_months=12, units="ng/mL")

    assert finding.breached
    assert "12.0 months, 12 months or less" in finding.explanation


def test_undetectable_values_are_left_out_of_the_fit() -> None:
    series = [psa("1 Oct 2025", "<0.01"), *DOUBLING_EVERY_3_MONTHS]

    finding = doubling_time(series, max_months=6, units="ng/mL")

    assert finding.details["points_used"] == 5
    assert finding.details["censored_left_out"] == 1


def test_the_fit_is_reported_as_plain_numbers() -> None:
    finding = doubling_time(DOUBLING_EVERY_3_MONTHS, max_months=6, units="ng/mL")

    details = json.loads(json.dumps(finding.details))
    assert details["slope_per_day"] > 0
    assert details["fit_origin_at"] == "2026-01-01T09:00:00+00:00"
    assert set(details) >= {"intercept", "r_squared", "doubling_time_months", "max_months"}


def test_results_below_min_value_are_left_out_of_the_fit() -> None:
    from datetime import UTC, datetime
    from decimal import Decimal

    from careplans.followup.rules import Point, doubling_time

    def point(month: int, value: str) -> Point:
        return Point(at=datetime(2025, month, 1, tzinfo=UTC), value=Decimal(value), units="ug/L")

    noise = [point(1, "0.02"), point(3, "0.03"), point(5, "0.05")]
    assert doubling_time(noise, max_months=12, units="ug/L").breached
    assert not doubling_time(noise, max_months=12, min_value="0.2", units="ug/L").breached
    recurrence = [*noise, point(5, "0.2"), point(7, "0.4"), point(9, "0.8")]
    found = doubling_time(recurrence, max_months=12, min_value="0.2", units="ug/L")
    assert found.breached
    assert found.details["points_used"] == 3
