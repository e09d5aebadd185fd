"""PSA kinetics: doubling time from a log-linear fit.

PSA-DT = ln 2 / k where PSA grows as PSA0 * e^(k t) (peers-and-clinical-rules.md 5.3). The fit
is valid only over the roughly exponential segment: fitting every point predicted progression
worse than first-and-last (Svatek 2006), so only the most recent unbroken run of rises is used.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable
from decimal import Decimal

from careplans.rules.common import (
    decimal_text,
    format_date,
    format_number,
    format_value,
    make_key,
    mention,
    plural,
    readings,
    require_decimal,
    require_int,
    require_units,
    stamp,
    stamps,
    subject,
    trailing_run,
)
from careplans.rules.types import Finding, Point

RULE = "doubling_time"
DAYS_PER_MONTH = 30.4375  # 365.25 / 12: the mean Gregorian month


def doubling_time(
    points: Iterable[Point],
    *,
    max_months: Decimal | int | float | str,
    min_points: int = 3,
    min_value: Decimal | int | float | str | None = None,
    units: str,
) -> Finding:
    """Breached when the doubling time fitted over the most recent run of rising points is
    positive and below ``max_months``.

    The run is the longest suffix in which each point is higher than the one before, of at
    least ``min_points`` points; censored values ("<0.01") are left out, since a limit is not a
    value to take a logarithm of. ln(value) is fitted against time by least squares. The key is
    the first point of the run, so later rising results refine the same breach.

    ``min_value`` leaves out results below it: after prostatectomy the doubling time is a
    measure of a recurrence (PSA at or above 0.2), not of noise in values near the detection
    limit, where a rise from 0.03 to 0.06 "doubles" in weeks.
    """
    limit = require_decimal("max_months", max_months, positive=True)
    min_points = require_int("min_points", min_points, minimum=2)
    floor = None if min_value is None else require_decimal("min_value", min_value)
    units = require_units("units", units)

    every = readings(points, units)
    measured = [
        item for item in every if not item.censored and (floor is None or item.value >= floor)
    ]
    rising = trailing_run(measured, lambda earlier, later: later.value > earlier.value)
    # A logarithm needs a positive value; in a rising run only the first point can be 0.
    run = [item for item in rising if item.value > 0]
    name = subject(measured)
    details: dict[str, object] = {
        "max_months": decimal_text(limit),
        "min_points": min_points,
        "min_value": decimal_text(floor),
        "units": units,
        "points_used": len(run),
        "censored_left_out": len(every) - len(measured),
        "evidence_at": stamps(run),
        "slope_per_day": None,
        "intercept": None,
        "fit_origin_at": None,
        "r_squared": None,
        "doubling_time_months": None,
    }
    evidence = tuple(item.point for item in run)

    def quiet(explanation: str) -> Finding:
        return Finding(
            breached=False,
            rule=RULE,
            explanation=explanation,
            evidence=evidence,
            key="",
            details=details,
        )

    if not measured:
        return quiet("No measurable results, so there is no doubling time to fit.")
    newest = measured[-1]
    if len(rising) < 2 and len(measured) >= 2:
        before = measured[-2]
        return quiet(
            f"{name} {format_value(newest.point)} on {format_date(newest.point.at)} is not higher "
            f"than the result before it ({mention(before.point, beside=newest.point)}), so there "
            "is no rising run to fit a doubling time to."
        )
    if len(run) < min_points:
        since = f" since {format_date(run[0].point.at)}" if run else ""
        return quiet(
            f"Only {plural(len(run), f'rising {name} result')} at the end of the series{since}; "
            f"a doubling time needs at least {min_points}."
        )

    origin = run[0].point.at
    days = [(item.point.at - origin).total_seconds() / 86400 for item in run]
    if days[-1] == days[0]:
        return quiet(
            f"The rising {name} results were all taken at the same time, so no doubling time "
            "can be fitted."
        )
    logs = [math.log(float(item.value)) for item in run]
    slope, intercept = statistics.linear_regression(days, logs)
    r_squared = statistics.correlation(days, logs) ** 2
    months = math.log(2) / slope / DAYS_PER_MONTH if slope > 0 else None
    details |= {
        "slope_per_day": slope,
        "intercept": intercept,
        "fit_origin_at": stamp(origin),
        "r_squared": r_squared,
        "doubling_time_months": months,
    }
    first, last = run[0], run[-1]
    fit = (
        f"fitted over {len(run)} rising results from {format_value(first.point)} on "
        f"{format_date(first.point.at)} to {format_value(last.point)} on "
        f"{format_date(last.point.at)} (r\u00b2 {r_squared:.2f})"
    )
    if months is None:
        return quiet(f"The {name} trend {fit} is not rising, so there is no doubling time.")
    limit_text = f"{format_number(limit)} months"
    if months < float(limit):
        return Finding(
            breached=True,
            rule=RULE,
            explanation=f"{name} doubling time is {months:.1f} months, below {limit_text}, {fit}.",
            evidence=evidence,
            key=make_key(RULE, origin),
            details=details,
        )
    return quiet(f"{name} doubling time is {months:.1f} months, not below {limit_text}, {fit}.")
