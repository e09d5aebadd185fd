"""PSA doubling time: ln 2 / k from a least-squares fit of ln(PSA) over the latest rising run."""

from __future__ import annotations

import json

from careplans.rules import doubling_time
from tests.careplans.rules.series import psa

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
        "PSA doubling time is 2.9 months, below 6 months, fitted over 5 rising results from "
        "0.2 ng/mL on 1 Jan 2026 to 0.8 ng/mL on 1 Jul 2026 (r\u00b2 1.00)."
    )


def test_a_three_month_doubling_time_does_not_breach_a_two_month_limit() -> None:
    finding = doubling_time(DOUBLING_EVERY_3_MONTHS, max_months=2, units="ng/mL")

    assert not finding.breached
    assert finding.key == ""
    assert finding.explanation.startswith("PSA doubling time is 2.9 months, not below 2 months")
    assert finding.details["doubling_time_months"] is not None


def test_a_falling_series_has_no_doubling_time() -> None:
    falling = [psa("1 Jan 2026", "0.8"), psa("1 Apr 2026", "0.5"), psa("1 Jul 2026", "0.3")]

    finding = doubling_time(falling, max_months=6, units="ng/mL")

    assert not finding.breached
    assert finding.details["doubling_time_months"] is None
    assert finding.explanation == (
        "PSA 0.3 ng/mL on 1 Jul 2026 is not higher than the result before it "
        "(0.5 on 1 Apr 2026), so there is no rising run to fit a doubling time to."
    )


def test_only_the_latest_rising_run_is_fitted() -> None:
    # A rise before hormone therapy, a fall on it, then a new rise: only the new rise counts.
    earlier = [psa("1 Jan 2025", "2"), psa("1 Apr 2025", "8"), psa("1 Jul 2025", "1")]
    rising_again = DOUBLING_EVERY_3_MONTHS[2:]

    finding = doubling_time([*earlier, *rising_again], max_months=6, units="ng/mL")

    assert finding.evidence == tuple(rising_again)
    assert finding.details["points_used"] == 3


def test_fewer_rising_results_than_the_minimum_give_no_doubling_time() -> None:
    finding = doubling_time(DOUBLING_EVERY_3_MONTHS[-2:], max_months=6, units="ng/mL")

    assert not finding.breached
    assert finding.explanation == (
        "Only 2 rising PSA results at the end of the series since 15 May 2026; a doubling time "
        "needs at least 3."
    )


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

    from careplans.rules import Point, doubling_time

    def point(month: int, value: str) -> Point:
        return Point(at=datetime(2025, month, 1, tzinfo=UTC), value=Decimal(value), units="ug/L")

    noise = [point(1, "0.02"), point(2, "0.03"), point(3, "0.05")]
    assert doubling_time(noise, max_months=12, units="ug/L").breached
    assert not doubling_time(noise, max_months=12, min_value="0.2", units="ug/L").breached
    recurrence = [*noise, point(5, "0.2"), point(7, "0.4"), point(9, "0.8")]
    found = doubling_time(recurrence, max_months=12, min_value="0.2", units="ug/L")
    assert found.breached
    assert found.details["points_used"] == 3
