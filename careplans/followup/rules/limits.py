"""Absolute limits: a value at or above (or below) a line, optionally confirmed.

Post-prostatectomy biochemical recurrence is PSA >= 0.2 ng/mL confirmed by a second >= 0.2
(AUA 2007, Cookson et al.): ``absolute_limit(threshold=0.2, confirmations=2,
repeat_after_days=42)``. PSA persistence after prostatectomy is PSA >= 0.1 ng/mL 4-8 weeks after
surgery (EAU): ``absolute_limit(threshold=0.1, anchor_at=..., from_day=28, until_day=56)``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta
from decimal import Decimal

from careplans.followup.rules.common import (
    Reading,
    decimal_text,
    format_date,
    format_day,
    format_limit,
    format_value,
    join_words,
    local_date,
    make_key,
    mention,
    not_counted,
    plural,
    readings,
    repeat_date,
    require_anchor,
    require_bool,
    require_choice,
    require_decimal,
    require_int,
    require_interval,
    require_units,
    stamp,
    stamps,
    subject,
    trailing_where,
)
from careplans.followup.rules.types import Finding, Point, RuleConfigError

RULE = "absolute_limit"


def absolute_limit(
    points: Iterable[Point],
    *,
    threshold: Decimal | int | float | str,
    direction: str = "above",
    confirmations: int = 1,
    units: str,
    inclusive: bool = True,
    repeat_after_days: int | None = None,
    repeat_after_months: int | None = None,
    anchor_at: datetime | date | str | None = None,
    from_day: int | None = None,
    until_day: int | None = None,
) -> Finding:
    """Breached when the newest ``confirmations`` points are all at or above (``direction=
    "below"``: at or below) ``threshold``; strictly above/below when ``inclusive`` is false.

    Censored values count only when they settle the question: "<0.01" is never at or above a
    limit, and is at or below any limit from 0.01 up; ">100" is the mirror image. The key is the
    time of the first point of the unbroken run of qualifying points that ends with the newest,
    so further qualifying results extend the same breach instead of starting new ones.

    Values taken at one time are one sample and never confirm each other. While fewer than
    ``confirmations`` samples qualify, the finding is ``awaiting`` confirmation, with
    ``repeat_by`` the first qualifying value's date plus ``repeat_after_days`` (or
    ``repeat_after_months``). With ``from_day``/``until_day`` only the values taken in that
    window of days after ``anchor_at`` count, and the latest of them is judged (PSA persistence
    at 4-8 weeks after surgery).
    """
    limit = require_decimal("threshold", threshold)
    direction = require_choice("direction", direction, ("above", "below"))
    confirmations = require_int("confirmations", confirmations, minimum=1)
    units = require_units("units", units)
    inclusive = require_bool("inclusive", inclusive)
    repeat_days, repeat_months = require_interval(
        "repeat_after_days", repeat_after_days, "repeat_after_months", repeat_after_months
    )
    anchor = require_anchor("anchor_at", anchor_at)
    window = from_day is not None or until_day is not None
    if window:
        first_day = require_int("from_day", 0 if from_day is None else from_day, minimum=0)
        last_day = None if until_day is None else require_int("until_day", until_day, minimum=0)
        if last_day is not None and last_day < first_day:
            raise RuleConfigError("until_day", "must not be before from_day")

    items = readings(points, units)
    if window and anchor is None:
        # The window is counted from the treatment date, which the caller supplies (a plan's
        # anchor): without one there is nothing the window can hold.
        items = []
    elif window and anchor is not None:
        start = local_date(anchor) + timedelta(days=first_day)
        end = None if last_day is None else local_date(anchor) + timedelta(days=last_day)
        items = [
            item
            for item in items
            if start <= local_date(item.point.at)
            and (end is None or local_date(item.point.at) <= end)
        ]
    above = direction == "above"
    side = (
        ("at or above" if inclusive else "above")
        if above
        else ("at or below" if inclusive else "below")
    )
    other_side = (
        ("below" if inclusive else "at or below")
        if above
        else ("above" if inclusive else "at or above")
    )

    def qualifies(item: Reading) -> bool:
        if above:
            return item.certainly_at_least(limit, inclusive=inclusive)
        return item.certainly_at_most(limit, inclusive=inclusive)

    details: dict[str, object] = {
        "threshold": decimal_text(limit),
        "units": units,
        "direction": direction,
        "inclusive": inclusive,
        "confirmations": confirmations,
        "points_available": len(items),
        "window_days": [from_day, until_day] if window else None,
    }
    if not items:
        return Finding(
            breached=False,
            rule=RULE,
            explanation=f"No results to compare with the limit of {decimal_text(limit)} {units}.",
            evidence=(),
            key="",
            details=details | {"run_length": 0, "points_used": 0, "latest_value": None},
        )

    newest = items[-1]
    run = trailing_where(items, qualifies)
    if window:
        # In a window, only the latest value taken in it is judged.
        run = run[-1:]
    limit_text = format_limit(limit, units, beside=newest.point)
    opening = f"{subject(items)} {format_value(newest.point)} on {format_date(newest.point.at)}"
    details |= {
        "latest_value": decimal_text(newest.value),
        "run_length": len(run),
        "run_started_at": stamp(run[0].point.at) if run else None,
    }

    if not run:
        if newest.censored:
            reason = not_counted(newest.point, as_what=f"{side} {limit_text}")
        else:
            reason = f"is {other_side} {limit_text}"
        return Finding(
            breached=False,
            rule=RULE,
            explanation=f"{opening} {reason}.",
            evidence=(newest.point,),
            key="",
            details=details | {"points_used": 1, "evidence_at": stamps([newest])},
        )

    # The newest point's companions, newest first: "confirmed by 0.21 on 2 Aug 2026".
    companions = [mention(item.point, beside=newest.point) for item in reversed(run[:-1])]
    evidence = tuple(item.point for item in run)
    details |= {"points_used": len(run), "evidence_at": stamps(run)}

    if len(run) < confirmations:
        so_far = f" (with {join_words(companions)})" if companions else ""
        waiting = plural(confirmations - len(run), "more result")
        repeat_by = repeat_date(run[0].point.at, days=repeat_days, months=repeat_months)
        by = f" (repeat by {format_day(repeat_by)})" if repeat_by else ""
        return Finding(
            breached=False,
            rule=RULE,
            explanation=(
                f"{opening} is {side} {limit_text}{so_far}, awaiting confirmation by "
                f"{waiting} {side} {limit_text} on a separate sample{by}."
            ),
            evidence=evidence,
            key=make_key(RULE, run[0].point.at),
            details=details | {"repeat_by": repeat_by.isoformat() if repeat_by else None},
            awaiting=True,
            repeat_by=repeat_by,
        )

    confirming = companions[: confirmations - 1]
    explanation = f"{opening} is {side} {limit_text}"
    if confirming:
        explanation += f", confirmed by {join_words(confirming)}"
    if len(run) > confirmations:
        explanation += f"; {side} {limit_text} since {format_date(run[0].point.at)}"
    return Finding(
        breached=True,
        rule=RULE,
        explanation=explanation + ".",
        evidence=evidence,
        key=make_key(RULE, run[0].point.at),
        details=details,
    )
