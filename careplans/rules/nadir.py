"""Rise above nadir: the Phoenix definition of failure after radiotherapy (nadir + 2 ng/mL).

Phoenix dates failure "at call", not backdated (peers-and-clinical-rules.md 5.1): the breach is
the first result at or above nadir + rise, and the key says which nadir and which result.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal

from careplans.rules.common import (
    decimal_text,
    format_date,
    format_limit,
    format_value,
    make_key,
    mention,
    not_counted,
    readings,
    require_anchor,
    require_decimal,
    require_units,
    stamp,
    stamps,
    subject,
)
from careplans.rules.types import Finding, Point

RULE = "rise_above_nadir"


def rise_above_nadir(
    points: Iterable[Point],
    *,
    rise: Decimal | int | float | str,
    anchor_at: datetime | date | str | None = None,
    units: str,
) -> Finding:
    """Breached when the newest point is at least ``rise`` above the nadir: the lowest earlier
    point on or after ``anchor_at`` (the treatment date; points before it are ignored).

    An undetectable "<0.01" is a nadir of 0.01, the limit, so the rise is measured from a
    number the lab actually stood behind; a newest "<" value never breaches. When several points
    share the lowest value the earliest is the nadir, so a later equal value keeps the key.
    """
    rise = require_decimal("rise", rise, positive=True)
    anchor = require_anchor("anchor_at", anchor_at)
    units = require_units("units", units)

    items = readings(points, units, since=anchor)
    since = f" on or after {format_date(anchor)}" if anchor else ""
    details: dict[str, object] = {
        "rise": decimal_text(rise),
        "units": units,
        "anchor_at": stamp(anchor) if anchor else None,
        "points_used": len(items),
        "nadir": None,
        "nadir_at": None,
        "threshold": None,
        "latest_value": decimal_text(items[-1].value) if items else None,
        "first_breach_at": None,
    }
    if len(items) < 2:
        if items:
            explanation = (
                f"{subject(items)} {format_value(items[-1].point)} on "
                f"{format_date(items[-1].point.at)} is the only result{since}, so it is the "
                "nadir so far and there is no rise to measure."
            )
        else:
            explanation = f"No results{since} to measure a rise above the nadir."
        return Finding(
            breached=False,
            rule=RULE,
            explanation=explanation,
            evidence=tuple(item.point for item in items),
            key="",
            details=details,
        )

    newest = items[-1]
    earlier = items[:-1]
    # min() keeps the first of equal values, and ``earlier`` is oldest first: the earliest nadir.
    nadir_index = min(range(len(earlier)), key=lambda index: earlier[index].value)
    nadir = earlier[nadir_index]
    threshold = nadir.value + rise
    details |= {
        "nadir": decimal_text(nadir.value),
        "nadir_at": stamp(nadir.point.at),
        "threshold": decimal_text(threshold),
    }

    opening = f"{subject(items)} {format_value(newest.point)} on {format_date(newest.point.at)}"
    nadir_text = mention(nadir.point, beside=newest.point)
    if nadir.censored:
        nadir_text += f" (taken as {format_limit(nadir.value, units, beside=newest.point)})"
    rise_text = format_limit(rise, units, beside=newest.point)
    threshold_text = format_limit(threshold, units, beside=newest.point)

    if not newest.certainly_at_least(threshold):
        if newest.censored:
            reason = not_counted(newest.point, as_what=f"a rise of {rise_text} above the nadir")
            explanation = f"{opening} {reason} of {nadir_text}."
        elif newest.value <= nadir.value:
            explanation = (
                f"{opening} is not above the lowest earlier result{since} ({nadir_text}), "
                f"so there is no rise above the nadir."
            )
        else:
            explanation = (
                f"{opening} is less than {rise_text} above the nadir of {nadir_text} "
                f"(nadir + {rise_text} = {threshold_text})."
            )
        return Finding(
            breached=False,
            rule=RULE,
            explanation=explanation,
            evidence=(nadir.point, newest.point),
            key="",
            details=details,
        )

    # Every point after the nadir has the same nadir, so the first of them at or above the
    # threshold is when this failure was first visible; later ones are the same failure.
    first = next(item for item in items[nadir_index + 1 :] if item.certainly_at_least(threshold))
    explanation = (
        f"{opening} is at least {rise_text} above the nadir of {nadir_text} "
        f"(nadir + {rise_text} = {threshold_text})"
    )
    if first is not newest:
        explanation += f"; first at or above {threshold_text} on {format_date(first.point.at)}"
    used = [nadir, first] if first is newest else [nadir, first, newest]
    details |= {"first_breach_at": stamp(first.point.at), "evidence_at": stamps(used)}
    return Finding(
        breached=True,
        rule=RULE,
        explanation=explanation + ".",
        evidence=tuple(item.point for item in used),
        key=make_key(RULE, nadir.point.at, first.point.at),
        details=details,
    )
