"""Trends between results: consecutive rises, and a percentage rise over the previous result or
a baseline."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from decimal import ROUND_DOWN, Decimal

from careplans.followup.rules.common import (
    Reading,
    decimal_text,
    format_date,
    format_number,
    format_value,
    join_words,
    make_key,
    mention,
    not_counted,
    plural,
    readings,
    require_anchor,
    require_choice,
    require_decimal,
    require_int,
    require_units,
    stamp,
    stamps,
    subject,
    trailing_run,
)
from careplans.followup.rules.types import ABOVE, BELOW, Finding, Point, RuleConfigError

CONSECUTIVE_RISES = "consecutive_rises"
PERCENTAGE_RISE = "percentage_rise"


def consecutive_rises(
    points: Iterable[Point],
    *,
    count: int,
    units: str,
    min_rise: Decimal | int | float | str = 0,
) -> Finding:
    """Breached when each of the last ``count`` results rose by more than ``min_rise`` over the
    one before it (``count`` + 1 increasing points at the end).

    Values taken at one time are one sample. A censored value is a limit: "<0.01" after a
    measurable value is a fall and ends a run; a value after "<0.01" has risen by at least its
    distance from 0.01; nothing is known to have risen from ">100". ``min_rise`` sets the least
    meaningful step, so assay noise at the detection limit is not a run of rises. The key is
    the first point of the whole rising run, so a further rise continues the same breach, and a
    new run after a fall is a new breach.
    """
    count = require_int("count", count, minimum=1)
    units = require_units("units", units)
    step = require_decimal("min_rise", min_rise, non_negative=True)

    every = readings(points, units)
    measured = every

    def rose(earlier: Reading, later: Reading) -> bool:
        if later.point.comparator in BELOW or earlier.point.comparator in ABOVE:
            return False
        return later.value - earlier.value > step

    run = trailing_run(measured, rose)
    rises = max(len(run) - 1, 0)
    breached = rises >= count
    details: dict[str, object] = {
        "count": count,
        "min_rise": decimal_text(step),
        "units": units,
        "rises": rises,
        "points_used": len(run),
        "evidence_at": stamps(run),
    }
    name = subject(measured)
    by = f" by more than {format_number(step)} {units}" if step else ""

    if len(run) <= 1:
        if not measured:
            explanation = "No measurable results to look for rises in."
        elif len(measured) == 1:
            explanation = "Only one measurable result, so there is no rise to count."
        else:
            newest, before = measured[-1], measured[-2]
            explanation = (
                f"{name} {format_value(newest.point)} on {format_date(newest.point.at)} has not "
                f"risen{by} over the result before it "
                f"({mention(before.point, beside=newest.point)})."
            )
        return Finding(
            breached=False,
            rule=CONSECUTIVE_RISES,
            explanation=explanation,
            evidence=tuple(item.point for item in run),
            key="",
            details=details,
        )

    first = run[0]
    series = [format_value(first.point)] + [
        mention(item.point, beside=first.point) for item in run[1:]
    ]
    series[0] += f" on {format_date(first.point.at)}"
    listing = join_words(series)
    if breached:
        explanation = f"{name} has risen{by} {plural(rises, 'time')} in a row: {listing}."
        key = make_key(CONSECUTIVE_RISES, first.point.at)
    else:
        explanation = (
            f"{name} has risen{by} {plural(rises, 'time')} in a row, fewer than the "
            f"{count} consecutive rises this rule looks for: {listing}."
        )
        key = ""
    return Finding(
        breached=breached,
        rule=CONSECUTIVE_RISES,
        explanation=explanation,
        evidence=tuple(item.point for item in run),
        key=key,
        details=details,
    )


def percentage_rise(
    points: Iterable[Point],
    *,
    percent: Decimal | int | float | str,
    against: str = "previous",
    baseline: Decimal | int | float | str | None = None,
    anchor_at: datetime | date | str | None = None,
    units: str,
) -> Finding:
    """Breached when the newest point is at least ``percent``% above the reference: the previous
    point, or (``against="baseline"``) ``baseline`` in ``units`` when given, else the first
    point on or after ``anchor_at``. Points before ``anchor_at`` are ignored either way.

    A "<0.01" reference counts as 0.01, so the rise measured is the least the true rise can
    be; a newest "<" value never breaches, and a ">" reference cannot be risen from. Against the
    previous result each breaching result is its own breach; against a baseline the key is the
    first result at or above the line, so later ones continue it.
    """
    percentage = require_decimal("percent", percent, positive=True)
    against = require_choice("against", against, ("previous", "baseline"))
    anchor = require_anchor("anchor_at", anchor_at)
    units = require_units("units", units)
    fixed: Decimal | None = None
    if baseline is not None:
        if against != "baseline":
            raise RuleConfigError("baseline", "is used only when against is 'baseline'")
        fixed = require_decimal("baseline", baseline, positive=True)

    items = readings(points, units, since=anchor)
    since = f" on or after {format_date(anchor)}" if anchor else ""
    details: dict[str, object] = {
        "percent": decimal_text(percentage),
        "against": against,
        "units": units,
        "anchor_at": stamp(anchor) if anchor else None,
        "reference": None,
        "reference_at": None,
        "threshold": None,
        "latest_value": decimal_text(items[-1].value) if items else None,
        "rise_percent": None,
    }

    def quiet(explanation: str, evidence: list[Reading]) -> Finding:
        return Finding(
            breached=False,
            rule=PERCENTAGE_RISE,
            explanation=explanation,
            evidence=tuple(item.point for item in evidence),
            key="",
            details=details | {"points_used": len(evidence), "evidence_at": stamps(evidence)},
        )

    if not items:
        return quiet(f"No results{since} to measure a rise in.", [])
    newest = items[-1]
    opening = f"{subject(items)} {format_value(newest.point)} on {format_date(newest.point.at)}"

    reference: Reading | None = None
    if fixed is not None:
        reference_value = fixed
        reference_text = f"the baseline of {format_number(fixed)} {units}"
        candidates = items
    else:
        if len(items) < 2:
            which = "previous result" if against == "previous" else "baseline result"
            return quiet(
                f"{opening} is the only result{since}; there is no {which} to compare with.", items
            )
        reference = items[-2] if against == "previous" else items[0]
        reference_value = reference.value
        label = "the previous result" if against == "previous" else "the baseline"
        reference_text = f"{label} of {mention(reference.point, beside=newest.point)}"
        candidates = items[1:]
        if reference.point.comparator in ABOVE:
            return quiet(
                f"{opening} cannot be compared: {reference_text} is reported only as above "
                f"{format_number(reference.point.value)}, so a rise from it cannot be measured.",
                [reference, newest],
            )
        if reference_value <= 0:
            return quiet(
                f"{opening} cannot be compared: a percentage rise from {reference_text} "
                "cannot be measured.",
                [reference, newest],
            )

    threshold = reference_value * (1 + percentage / 100)
    # Rounded towards zero so the sentence never says "25% above ... less than 25%".
    change = ((newest.value - reference_value) / reference_value * 100).quantize(
        Decimal("0.1"), rounding=ROUND_DOWN
    )
    details |= {
        "reference": decimal_text(reference_value),
        "reference_at": stamp(reference.point.at) if reference else None,
        "threshold": decimal_text(threshold),
        "rise_percent": None if newest.censored else decimal_text(change),
    }
    used = [reference, newest] if reference else [newest]
    limit_text = f"the {format_number(percentage)}% rise this rule looks for"

    if not newest.certainly_at_least(threshold):
        if newest.censored:
            reason = not_counted(
                newest.point, as_what=f"{format_number(percentage)}% above {reference_text}"
            )
            return quiet(f"{opening} {reason}.", used)
        if change > 0:
            how = f"is {format_number(change)}% above {reference_text}, less than {limit_text}"
        elif change < 0:
            how = f"is {format_number(-change)}% below {reference_text}"
        else:
            how = f"is no higher than {reference_text}"
        return quiet(f"{opening} {how}.", used)

    # Against the previous result the newest is the breach; against a baseline it is the first
    # result over the line since the baseline, so a run of high results is one breach.
    if against == "previous":
        first = newest
    else:
        first = next(item for item in candidates if item.certainly_at_least(threshold))
    explanation = (
        f"{opening} is {format_number(change)}% above {reference_text}, at least {limit_text}"
    )
    if first is not newest:
        reached = format_date(first.point.at)
        explanation += f"; the rise first reached {format_number(percentage)}% on {reached}"
    used = [reference] if reference else []
    used += [first] if first is newest else [first, newest]
    moments = [reference.point.at] if reference else []
    return Finding(
        breached=True,
        rule=PERCENTAGE_RISE,
        explanation=explanation + ".",
        evidence=tuple(item.point for item in used),
        key=make_key(PERCENTAGE_RISE, *moments, first.point.at),
        details=details
        | {
            "points_used": len(used),
            "evidence_at": stamps(used),
            "first_breach_at": stamp(first.point.at),
        },
    )
