"""Writing result series the way a clinic letter does: ``psa("10 Nov 2026", "0.24")``."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from careplans.followup.rules import Point

LONDON = ZoneInfo("Europe/London")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def on(day: str, clock: str = "09:00") -> datetime:
    """ "10 Nov 2026" (and "09:00") as an aware London time: clinics take blood in local time."""
    number, month, year = day.split()
    hour, minute = clock.split(":")
    return datetime(
        int(year), _MONTHS.index(month) + 1, int(number), int(hour), int(minute), tzinfo=LONDON
    )


def psa(day: str, value: str, units: str = "ng/mL", *, clock: str = "09:00") -> Point:
    """A PSA result; "<0.01" gives an undetectable one."""
    comparator = value[0] if value[0] in "<>" else ""
    return Point(
        at=on(day, clock),
        value=Decimal(value.lstrip("<>")),
        comparator=comparator,
        units=units,
        label="PSA",
    )
