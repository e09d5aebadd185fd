"""Absolute limits: a value at or above (or below) a line, optionally confirmed.

Post-prostatectomy biochemical recurrence is PSA >= 0.2 ng/mL confirmed by a second >= 0.2
(AUA; peers-and-clinical-rules.md 5.1): ``absolute_limit(threshold=0.2, confirmations=2)``.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from careplans.rules.common import (
    Reading,
    decimal_text,
    format_date,
    format_limit,
    format_value,
    join_words,
    make_key,
    mention,
    not_counted,
    plural,
    readings,
    require_bool,
    require_choice,
    require_decimal,
    require_int,
    require_units,
    stamp,
    stamps,
    subject,
    trailing_where,
)
from careplans.rules.types import Finding, Point

RULE = "absolute_limit"


def absolute_limit(
    points: Iterable[Point],
    *,
    threshold: Decimal | int | float | str,
    direction: str = "above",
    confirmations: int = 1,
    units: str,
    inclusive: bool = True,
) -> Finding:
    """Breached when the newest ``confirmations`` points are all at or above (``direction=
    "below"``: at or below) ``threshold``; strictly above/below when ``inclusive`` is false.

    Censored values count only when they settle the question: "<0.01" is never at or above a
    limit, and is at or below any limit from 0.01 up; ">100" is the mirror image. The key is the
    time of the first point of the unbroken run of qualifying points that ends with the newest,
    so further qualifying results extend the same breach instead of starting new ones.
    """
    limit = require_decimal("threshold", threshold)
    direction = require_choice("direction", direction, ("above", "below"))
    confirmations = require_int("confirmations", confirmations, minimum=1)
    units = require_units("units", units)
    inclusive = require_bool("inclusive", inclusive)

    items = readings(points, units)
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
        return Finding(
            breached=False,
            rule=RULE,
            explanation=(
                f"{opening} is {side} {limit_text}{so_far}, awaiting confirmation by "
                f"{waiting} {side} {limit_text}."
            ),
            evidence=evidence,
            key="",
            details=details,
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
