"""PSA kinetics: doubling time and velocity, by least squares.

Doubling time follows the MSKCC method (Pound et al. 1999; the MSKCC PSA doubling time
calculator): ln(PSA) is fitted against time by least squares over ALL qualifying values of the
current episode (after prostatectomy, values of at least 0.2 ng/mL), at least three values over
at least three months, and PSA-DT = ln 2 / slope. Svatek et al. (2006) found that fitting every
value predicted progression worse than fitting only the recent exponential segment; we follow
the MSKCC method because it is the one the EAU risk groups (PSA-DT of 1 year or less) and the
nomograms were derived with, and because a segment-only fit lets one dip inside a rising episode
discard the whole rise (a silent miss). A treatment event starts a new episode (the caller
passes only the episode's values), and after radiotherapy the fit starts at the nadir
(``from_nadir``): the start of the current rise.

Velocity is the least-squares slope of PSA against time in ng/mL a year (Connolly et al. 2007
compared the arithmetic, regression and first-and-last methods; regression is the most stable).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable
from datetime import timedelta
from decimal import Decimal
from functools import partial

from careplans.followup.rules.common import (
    Reading,
    decimal_text,
    format_date,
    format_number,
    format_value,
    make_key,
    plural,
    readings,
    require_bool,
    require_decimal,
    require_int,
    require_units,
    stamp,
    stamps,
    subject,
)
from careplans.followup.rules.types import Finding, Point


def _quiet(
    rule: str, evidence: tuple[Point, ...], details: dict[str, object], text: str
) -> Finding:
    return Finding(
        breached=False, rule=rule, explanation=text, evidence=evidence, key="", details=details
    )


RULE = "doubling_time"
VELOCITY = "velocity"
DAYS_PER_MONTH = 30.4375  # 365.25 / 12: the mean Gregorian month
DAYS_PER_YEAR = 365.25


def _used_values(items: list[Reading], *, floor: Decimal | None, from_nadir: bool) -> list[Reading]:
    """The values a fit uses: measured (not censored), at or above ``floor``, and with
    ``from_nadir`` from the (latest) lowest value onwards."""
    measured = [
        item for item in items if not item.censored and (floor is None or item.value >= floor)
    ]
    if from_nadir and measured:
        lowest = min(item.value for item in items)
        # The start of the current rise: the last value at the lowest level (a censored "<0.1"
        # nadir is not a value to fit, so the rise starts at the first measured value after it).
        start = max(i for i, item in enumerate(items) if item.value == lowest)
        start_at = items[start].point.at
        measured = [item for item in measured if item.point.at >= start_at]
    # A logarithm needs a positive value.
    return [item for item in measured if item.value > 0]


def doubling_time(
    points: Iterable[Point],
    *,
    max_months: Decimal | int | float | str,
    min_points: int = 3,
    min_value: Decimal | int | float | str | None = None,
    min_span_months: Decimal | int | float | str = 3,
    from_nadir: bool = False,
    units: str,
) -> Finding:
    """Breached when the PSA doubling time fitted over the episode's qualifying values is
    positive and ``max_months`` or less ("12 months or less" is inclusive).

    Qualifying values: measured (a censored "<0.01" is a limit, not a value to take a logarithm
    of), at least ``min_value`` when given, from the nadir on with ``from_nadir``. The fit needs
    ``min_points`` values spanning at least ``min_span_months``. The key is the first value
    used, so later values refine the same breach.
    """
    limit = require_decimal("max_months", max_months, positive=True)
    min_points = require_int("min_points", min_points, minimum=2)
    floor = None if min_value is None else require_decimal("min_value", min_value)
    span = require_decimal("min_span_months", min_span_months, non_negative=True)
    from_nadir = require_bool("from_nadir", from_nadir)
    units = require_units("units", units)

    every = readings(points, units)
    run = _used_values(every, floor=floor, from_nadir=from_nadir)
    name = subject(every)
    details: dict[str, object] = {
        "max_months": decimal_text(limit),
        "min_points": min_points,
        "min_value": decimal_text(floor),
        "min_span_months": decimal_text(span),
        "from_nadir": from_nadir,
        "units": units,
        "points_used": len(run),
        "values_used": [f"{item.point.comparator}{decimal_text(item.value)}" for item in run],
        "censored_left_out": sum(1 for item in every if item.censored),
        "evidence_at": stamps(run),
        "window": [stamp(run[0].point.at), stamp(run[-1].point.at)] if run else None,
        "slope_per_day": None,
        "intercept": None,
        "fit_origin_at": None,
        "r_squared": None,
        "doubling_time_months": None,
    }
    evidence = tuple(item.point for item in run)

    # ``details`` is filled in further as the fit is made; a quiet finding carries it as it is.
    quiet = partial(_quiet, RULE, evidence, details)

    qualifying = "qualifying " if floor is not None or from_nadir else ""
    floor_text = f" (values of at least {format_number(floor)} {units})" if floor else ""
    if len(run) < min_points:
        return quiet(
            f"Only {plural(len(run), f'{qualifying}{name} value')}{floor_text} in this episode; "
            f"a doubling time needs at least {min_points}."
        )
    origin = run[0].point.at
    days = [(item.point.at - origin).total_seconds() / 86400 for item in run]
    if days[-1] < float(span) * DAYS_PER_MONTH:
        return quiet(
            f"The {len(run)} {qualifying}{name} values span {days[-1] / DAYS_PER_MONTH:.1f} "
            f"months, less than the {format_number(span)} months a doubling time needs."
        )
    logs = [math.log(float(item.value)) for item in run]
    slope, intercept = statistics.linear_regression(days, logs)
    r_squared = statistics.correlation(days, logs) ** 2 if len(set(logs)) > 1 else 0.0
    months = math.log(2) / slope / DAYS_PER_MONTH if slope > 0 else None
    details |= {
        "slope_per_day": slope,
        "intercept": intercept,
        "fit_origin_at": stamp(origin),
        "r_squared": r_squared,
        "doubling_time_months": months,
    }
    first, last = run[0], run[-1]
    values = ", ".join(format_value(item.point, with_units=False) for item in run)
    fit = (
        f"fitted over {len(run)} values ({values}) from {format_date(first.point.at)} to "
        f"{format_date(last.point.at)} (r\u00b2 {r_squared:.2f})"
    )
    if months is None:
        return quiet(f"The {name} trend {fit} is not rising, so there is no doubling time.")
    limit_text = f"{format_number(limit)} months"
    shown = round(months, 1)
    # "12 months or less" is inclusive; a fit landing on the limit is not lost to float error.
    if months <= float(limit) or math.isclose(months, float(limit), rel_tol=1e-9):
        return Finding(
            breached=True,
            rule=RULE,
            explanation=(
                f"{name} doubling time is {shown:.1f} months, {limit_text} or less, {fit}."
            ),
            evidence=evidence,
            key=make_key(RULE, origin),
            details=details,
        )
    return quiet(f"{name} doubling time is {shown:.1f} months, more than {limit_text}, {fit}.")


def velocity(
    points: Iterable[Point],
    *,
    max_per_year: Decimal | int | float | str,
    window_months: int = 24,
    min_points: int = 3,
    min_span_months: Decimal | int | float | str = 6,
    units: str,
) -> Finding:
    """Breached when the PSA velocity, the least-squares slope of the measured values of the
    last ``window_months`` (ending at the newest), is more than ``max_per_year`` units a year
    (D'Amico et al. 2004: more than 2.0 ng/mL a year). Needs ``min_points`` values spanning
    ``min_span_months``. The key is the first value of the window."""
    limit = require_decimal("max_per_year", max_per_year, positive=True)
    window = require_int("window_months", window_months, minimum=1)
    min_points = require_int("min_points", min_points, minimum=2)
    span = require_decimal("min_span_months", min_span_months, non_negative=True)
    units = require_units("units", units)

    measured = [item for item in readings(points, units) if not item.censored]
    name = subject(measured)
    if measured:
        start = measured[-1].point.at - timedelta(days=window * DAYS_PER_MONTH)
        measured = [item for item in measured if item.point.at >= start]
    details: dict[str, object] = {
        "max_per_year": decimal_text(limit),
        "window_months": window,
        "units": units,
        "points_used": len(measured),
        "values_used": [decimal_text(item.value) for item in measured],
        "evidence_at": stamps(measured),
        "velocity_per_year": None,
    }
    evidence = tuple(item.point for item in measured)

    # ``details`` is filled in further as the fit is made; a quiet finding carries it as it is.
    quiet = partial(_quiet, VELOCITY, evidence, details)

    if len(measured) < min_points:
        return quiet(
            f"Only {plural(len(measured), f'{name} value')} in the last {window} months; a "
            f"velocity needs at least {min_points}."
        )
    origin = measured[0].point.at
    years = [(item.point.at - origin).total_seconds() / 86400 / DAYS_PER_YEAR for item in measured]
    if years[-1] * 12 < float(span):
        return quiet(
            f"The {name} values of the last {window} months span less than "
            f"{format_number(span)} months, too short for a velocity."
        )
    slope, _ = statistics.linear_regression(years, [float(item.value) for item in measured])
    details |= {"velocity_per_year": slope}
    fit = (
        f"by least squares over {len(measured)} values from {format_date(origin)} to "
        f"{format_date(measured[-1].point.at)}"
    )
    limit_text = f"{format_number(limit)} {units} a year"
    if slope > float(limit):
        return Finding(
            breached=True,
            rule=VELOCITY,
            explanation=(
                f"{name} velocity is {slope:.2f} {units} a year, more than {limit_text}, {fit}."
            ),
            evidence=evidence,
            key=make_key(VELOCITY, origin),
            details=details,
        )
    return quiet(
        f"{name} velocity is {slope:.2f} {units} a year, not more than {limit_text}, {fit}."
    )
