"""A percentage change within a time window: "weight down 5% in a month".

Written for measurements a patient records often (weight, entered in PKB), where what matters
is how far the newest value has moved from the highest (or lowest) value of the weeks before
it, not from the single previous entry: a slow loss over many entries is the warning sign.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from decimal import ROUND_DOWN, Decimal

from careplans.followup.rules.common import (
    Reading,
    decimal_text,
    format_date,
    format_number,
    format_value,
    make_key,
    mention,
    readings,
    require_choice,
    require_decimal,
    require_int,
    require_units,
    stamps,
    subject,
)
from careplans.followup.rules.types import Finding, Point

PERCENT_CHANGE = "percent_change"


def percent_change(
    points: Iterable[Point],
    *,
    percent: Decimal | int | float | str,
    window_days: int,
    direction: str = "down",
    units: str,
) -> Finding:
    """Breached when the newest point is at least ``percent``% below (``direction="down"``)
    the highest, or above (``"up"``) the lowest, point of the ``window_days`` before it.

    Censored values ("<5", ">200") are left out: a limit is not a measurement. The key is the
    reference point (the peak a loss is measured from), so further losses from the same peak
    continue one breach rather than raise one each.
    """
    percentage = require_decimal("percent", percent, positive=True)
    window = require_int("window_days", window_days, minimum=1)
    direction = require_choice("direction", direction, ("down", "up"))
    units = require_units("units", units)

    measured = [item for item in readings(points, units) if not item.censored]
    details: dict[str, object] = {
        "percent": decimal_text(percentage),
        "window_days": window,
        "direction": direction,
        "units": units,
        "reference": None,
        "reference_at": None,
        "change_percent": None,
    }
    words = "fall" if direction == "down" else "rise"

    def quiet(explanation: str, used: list[Reading]) -> Finding:
        return Finding(
            breached=False,
            rule=PERCENT_CHANGE,
            explanation=explanation,
            evidence=tuple(item.point for item in used),
            key="",
            details=details | {"evidence_at": stamps(used)},
        )

    if not measured:
        return quiet("No measurable results to look for a change in.", [])
    newest = measured[-1]
    opening = f"{subject(measured)} {format_value(newest.point)} on {format_date(newest.point.at)}"
    start = newest.point.at - timedelta(days=window)
    earlier = [item for item in measured[:-1] if item.point.at >= start]
    if not earlier:
        return quiet(
            f"{opening} has no earlier result within {window} days to compare with.", [newest]
        )
    if direction == "down":
        reference = max(earlier, key=lambda item: (item.value, item.point.at))
    else:
        reference = min(earlier, key=lambda item: (item.value, -item.point.at.timestamp()))
    if reference.value <= 0:
        return quiet(f"{opening} cannot be compared with a reference of zero or less.", [])
    change = (newest.value - reference.value) / reference.value * 100
    # Rounded towards zero so the sentence never claims more change than there was.
    shown = abs(change).quantize(Decimal("0.1"), rounding=ROUND_DOWN)
    details |= {
        "reference": decimal_text(reference.value),
        "reference_at": reference.point.at.isoformat(),
        "change_percent": decimal_text(change.quantize(Decimal("0.1"), rounding=ROUND_DOWN)),
    }
    moved = -change if direction == "down" else change
    against = (
        f"the {'highest' if direction == 'down' else 'lowest'} result of the {window} days "
        f"before it ({mention(reference.point, beside=newest.point)})"
    )
    used = [reference, newest]
    if moved < percentage:
        how = "below" if change < 0 else "above"
        return quiet(
            f"{opening} is {format_number(shown)}% {how} {against}, less than the "
            f"{format_number(percentage)}% {words} this rule looks for.",
            used,
        )
    return Finding(
        breached=True,
        rule=PERCENT_CHANGE,
        explanation=(
            f"{opening} is {format_number(shown)}% {'below' if direction == 'down' else 'above'} "
            f"{against}: at least the {format_number(percentage)}% {words} within {window} "
            "days this rule looks for."
        ),
        evidence=tuple(item.point for item in used),
        key=make_key(PERCENT_CHANGE, reference.point.at),
        details=details | {"evidence_at": stamps(used)},
    )
