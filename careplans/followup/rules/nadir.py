"""Rises above the nadir: Phoenix, Stuttgart, PCWG3.

- Phoenix (Roach et al., RTOG-ASTRO consensus, IJROBP 2006;65:965-974): failure after
  radiotherapy is a PSA at or above nadir + 2 ng/mL, dated "at call", not backdated:
  ``rise_above_nadir(rise=2)``. Failure less than 18 months after radiotherapy is a high-risk
  feature (EAU biochemical recurrence risk groups): ``failure_within_months=18``.
- Stuttgart (Blana et al. 2009), after HIFU or focal therapy: nadir + 1.2 ng/mL.
- PCWG3 (Scher et al., JCO 2016;34:1402-1418), castration-resistant progression: PSA at least
  25% and at least 2 ng/mL above the nadir, confirmed by a second value at least 3 weeks later,
  with castrate testosterone: ``castration_resistance``.

A breach is found wherever it happened in the series (it stays a breach when later values fall:
a clinician must see it); its key names the nadir and the first failing value.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from dateutil.relativedelta import relativedelta

from careplans.followup.rules.common import (
    Reading,
    decimal_text,
    format_date,
    format_day,
    format_limit,
    format_number,
    format_value,
    local_date,
    make_key,
    mention,
    not_counted,
    readings,
    repeat_date,
    require_anchor,
    require_decimal,
    require_int,
    require_units,
    stamp,
    stamps,
    subject,
)
from careplans.followup.rules.types import Finding, Point, RuleConfigError

RULE = "rise_above_nadir"
CASTRATION = "castration_resistance"


@dataclass
class _Scan:
    """Where a walk through the series ended: the nadir, a first failing value (``pending``),
    and the value that confirmed it (``confirmed``), if any."""

    nadir: Reading | None = None
    pending: Reading | None = None
    confirmed: Reading | None = None


def _threshold(nadir: Reading, rise: Decimal, percent: Decimal | None) -> Decimal:
    line = nadir.value + rise
    if percent is not None:
        line = max(line, nadir.value * (1 + percent / 100))
    return line


def _scan(
    items: Sequence[Reading],
    *,
    rise: Decimal,
    percent: Decimal | None,
    confirmations: int,
    confirm_after: timedelta,
) -> _Scan:
    """Walk the series oldest first. The nadir is the lowest value so far (an undetectable
    "<0.01" counts as 0.01); the first value at or above the line over it is a failure, which
    with ``confirmations`` of 2 needs a second failing value ``confirm_after`` or more later; a
    value below the line before that ends the failure and may be a new nadir."""
    scan = _Scan()
    for item in items:
        if scan.nadir is None:
            scan.nadir = item
            continue
        line = _threshold(scan.nadir, rise, percent)
        failing = item.certainly_at_least(line)
        if scan.pending is None:
            if failing:
                scan.pending = item
                if confirmations <= 1:
                    scan.confirmed = item
                    return scan
            elif item.value < scan.nadir.value and item.point.comparator not in (">", ">="):
                scan.nadir = item
            continue
        if failing:
            if item.point.at - scan.pending.point.at >= confirm_after:
                scan.confirmed = item
                return scan
        else:
            scan.pending = None
            if item.value < scan.nadir.value and item.point.comparator not in (">", ">="):
                scan.nadir = item
    return scan


def rise_above_nadir(
    points: Iterable[Point],
    *,
    rise: Decimal | int | float | str,
    anchor_at: datetime | date | str | None = None,
    units: str,
    min_percent: Decimal | int | float | str | None = None,
    confirmations: int = 1,
    confirm_after_days: int = 0,
    repeat_after_days: int | None = None,
    failure_within_months: int | None = None,
) -> Finding:
    """Breached when a value is at least ``rise`` (and, with ``min_percent``, at least that
    percentage) above the nadir: the lowest earlier value on or after ``anchor_at``.

    With ``confirmations=2`` the failure needs a second failing value ``confirm_after_days`` or
    more after the first; until then the finding is ``awaiting`` (``repeat_by`` the first
    value's date plus ``repeat_after_days``). With ``failure_within_months`` only a failure
    first seen less than that many calendar months after ``anchor_at`` is a breach (early
    failure after radiotherapy).
    """
    return _nadir_rule(
        RULE,
        points,
        rise=rise,
        anchor_at=anchor_at,
        units=units,
        min_percent=min_percent,
        confirmations=confirmations,
        confirm_after_days=confirm_after_days,
        repeat_after_days=repeat_after_days,
        failure_within_months=failure_within_months,
    )


def castration_resistance(
    points: Iterable[Point],
    *,
    units: str,
    rise: Decimal | int | float | str = 2,
    min_percent: Decimal | int | float | str = 25,
    confirm_after_days: int = 21,
    repeat_after_days: int | None = 21,
    anchor_at: datetime | date | str | None = None,
    castrate_test: str,
    castrate_below: Decimal | int | float | str,
    castrate_units: str,
    castrate_within_days: int = 183,
    related: Mapping[str, Sequence[Point]] | None = None,
) -> Finding:
    """PCWG3 PSA progression on androgen deprivation: at least ``min_percent``% and ``rise``
    above the nadir, confirmed ``confirm_after_days`` or more later, with castrate testosterone
    (the latest ``castrate_test`` value on or before the confirming PSA, within
    ``castrate_within_days``, below ``castrate_below``). Confirmed PSA progression with no
    testosterone to show castration stays ``awaiting`` (the item asks for one); with a
    testosterone that is not castrate it is not castration resistance (another rule raises the
    testosterone)."""
    below = require_decimal("castrate_below", castrate_below, positive=True)
    within = require_int("castrate_within_days", castrate_within_days, minimum=1)
    t_units = require_units("castrate_units", castrate_units)
    if not isinstance(castrate_test, str) or not castrate_test.strip():
        raise RuleConfigError("castrate_test", "must name the testosterone test")
    psa = _nadir_rule(
        CASTRATION,
        points,
        rise=rise,
        anchor_at=anchor_at,
        units=units,
        min_percent=min_percent,
        confirmations=2,
        confirm_after_days=confirm_after_days,
        repeat_after_days=repeat_after_days,
        failure_within_months=None,
    )
    if not psa.breached:
        return psa
    confirming = psa.evidence[-1]
    testosterone = [
        item
        for item in readings(
            (related or {}).get(castrate_test.upper(), ()),
            t_units,
        )
        if item.point.at <= confirming.at
        and item.point.at >= confirming.at - timedelta(days=within)
    ]
    details = dict(psa.details) | {
        "castrate_test": castrate_test,
        "castrate_below": decimal_text(below),
        "castrate_units": t_units,
        "testosterone": None,
        "testosterone_at": None,
    }
    if not testosterone:
        return Finding(
            breached=False,
            rule=CASTRATION,
            explanation=(
                f"{psa.explanation.rstrip('.')}; no testosterone in the {within} days before the "
                f"confirming PSA shows castration (below {format_number(below)} {t_units}): "
                "check testosterone to confirm castration-resistant progression."
            ),
            evidence=psa.evidence,
            key=psa.key,
            details=details,
            awaiting=True,
            # The repeat asked for when the first value crossed the line still stands.
            repeat_by=repeat_date(psa.evidence[1].at, days=repeat_after_days, months=None)
            or local_date(confirming.at),
        )
    latest = testosterone[-1]
    details |= {
        "testosterone": f"{latest.point.comparator}{decimal_text(latest.value)}",
        "testosterone_at": stamp(latest.point.at),
    }
    castrate = latest.certainly_at_most(below, inclusive=False)
    shown = mention(latest.point, beside=latest.point)
    if not castrate:
        return Finding(
            breached=False,
            rule=CASTRATION,
            explanation=(
                f"{psa.explanation.rstrip('.')}; but testosterone {shown} is not castrate "
                f"(below {format_number(below)} {t_units}), so this is not castration-resistant "
                "progression."
            ),
            evidence=psa.evidence,
            key="",
            details=details,
        )
    return Finding(
        breached=True,
        rule=CASTRATION,
        explanation=(
            f"{psa.explanation.rstrip('.')}, with castrate testosterone ({shown}): "
            "castration-resistant progression (PCWG3)."
        ),
        evidence=(*psa.evidence, latest.point),
        key=psa.key,
        details=details,
    )


def _nadir_rule(
    rule: str,
    points: Iterable[Point],
    *,
    rise: Decimal | int | float | str,
    anchor_at: datetime | date | str | None,
    units: str,
    min_percent: Decimal | int | float | str | None,
    confirmations: int,
    confirm_after_days: int,
    repeat_after_days: int | None,
    failure_within_months: int | None,
) -> Finding:
    rise = require_decimal("rise", rise, positive=True)
    anchor = require_anchor("anchor_at", anchor_at)
    units = require_units("units", units)
    percent = (
        None if min_percent is None else require_decimal("min_percent", min_percent, positive=True)
    )
    confirmations = require_int("confirmations", confirmations, minimum=1)
    if confirmations > 2:
        raise RuleConfigError("confirmations", "must be 1 or 2")
    after = require_int("confirm_after_days", confirm_after_days, minimum=0)
    repeat_days = (
        None
        if repeat_after_days is None
        else require_int("repeat_after_days", repeat_after_days, minimum=1)
    )
    within = (
        None
        if failure_within_months is None
        else require_int("failure_within_months", failure_within_months, minimum=1)
    )

    items = readings(points, units, since=anchor)
    since = f" on or after {format_date(anchor)}" if anchor else ""
    details: dict[str, object] = {
        "rise": decimal_text(rise),
        "min_percent": decimal_text(percent),
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
            rule=rule,
            explanation=explanation,
            evidence=tuple(item.point for item in items),
            key="",
            details=details,
        )

    scan = _scan(
        items,
        rise=rise,
        percent=percent,
        confirmations=confirmations,
        confirm_after=timedelta(days=after),
    )
    nadir = scan.nadir or items[0]  # set by the scan: there are two or more items
    newest = items[-1]
    threshold = _threshold(nadir, rise, percent)
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
    if percent is not None:
        rise_text += f" and {format_number(percent)}%"
    threshold_text = format_limit(threshold, units, beside=newest.point)
    plain_rise = format_limit(rise, units, beside=newest.point)
    line_text = (
        f"nadir + {plain_rise} = {threshold_text}"
        if percent is None
        else f"the line is {threshold_text}"
    )

    if scan.pending is None:
        if newest.censored and newest.point.comparator in ("<", "<="):
            reason = not_counted(newest.point, as_what=f"a rise of {rise_text} above the nadir")
            explanation = f"{opening} {reason} of {nadir_text}."
        elif newest is nadir or newest.value <= nadir.value:
            # The newest is a new low: said against the lowest result before it.
            earlier = min(items[:-1], key=lambda item: item.value)
            earlier_text = mention(earlier.point, beside=newest.point)
            if earlier.censored:
                earlier_text += (
                    f" (taken as {format_limit(earlier.value, units, beside=newest.point)})"
                )
            explanation = (
                f"{opening} is not above the lowest earlier result{since} ({earlier_text}), "
                "so there is no rise above the nadir."
            )
        else:
            explanation = (
                f"{opening} is less than {rise_text} above the nadir of {nadir_text} ({line_text})."
            )
        return Finding(
            breached=False,
            rule=rule,
            explanation=explanation,
            evidence=(nadir.point, newest.point),
            key="",
            details=details,
        )

    first = scan.pending
    details |= {"first_breach_at": stamp(first.point.at)}
    first_text = f"{format_value(first.point)} on {format_date(first.point.at)}"
    if scan.confirmed is None:
        repeat_by = repeat_date(first.point.at, days=repeat_days, months=None)
        by = f" (repeat by {format_day(repeat_by)})" if repeat_by else ""
        return Finding(
            breached=False,
            rule=rule,
            explanation=(
                f"{subject(items)} {first_text} is at least {rise_text} above the nadir of "
                f"{nadir_text} ({line_text}), awaiting confirmation by a second "
                f"value at or above the line at least {after} days later{by}."
            ),
            evidence=(nadir.point, first.point),
            key=make_key(rule, nadir.point.at, first.point.at),
            details=details
            | {
                "evidence_at": stamps([nadir, first]),
                "repeat_by": repeat_by.isoformat() if repeat_by else None,
            },
            awaiting=True,
            repeat_by=repeat_by,
        )

    used = [nadir, first] if scan.confirmed is first else [nadir, first, scan.confirmed]
    details |= {"evidence_at": stamps(used)}
    explanation = (
        f"{subject(items)} {first_text} is at least {rise_text} above the nadir of {nadir_text} "
        f"({line_text})"
    )
    if scan.confirmed is not first:
        explanation += f", confirmed by {mention(scan.confirmed.point, beside=first.point)}"
    if within is not None and anchor is None:
        # How early a failure is counts from the treatment date the caller supplies.
        return Finding(
            breached=False,
            rule=rule,
            explanation=f"{explanation}; with no treatment date, how early it came is unknown.",
            evidence=tuple(item.point for item in used),
            key="",
            details=details,
        )
    if within is not None and anchor is not None:
        limit = local_date(anchor) + relativedelta(months=within)
        early = local_date(first.point.at) < limit
        details |= {"failure_within_months": within, "early": early}
        if not early:
            return Finding(
                breached=False,
                rule=rule,
                explanation=(
                    f"{explanation}; this failure came {within} months or more after "
                    f"{format_date(anchor)}, so it is not an early failure."
                ),
                evidence=tuple(item.point for item in used),
                key="",
                details=details,
            )
        explanation += (
            f"; failure within {within} months of {format_date(anchor)} (before "
            f"{format_day(limit)}) is early failure, a high-risk feature"
        )
    return Finding(
        breached=True,
        rule=rule,
        explanation=explanation + ".",
        evidence=tuple(item.point for item in used),
        key=make_key(rule, nadir.point.at, first.point.at),
        details=details,
    )
