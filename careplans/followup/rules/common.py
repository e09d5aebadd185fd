"""What every rule shares: ordering, units, censored values, wording, keys and parameter checks."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, overload
from zoneinfo import ZoneInfo

from dateutil.relativedelta import relativedelta

from careplans.followup.rules.types import ABOVE, BELOW, Point, RuleConfigError, UnitError
from careplans.followup.rules.units import normalise_units

# Explanations are read by UK clinicians: a result taken at 00:30 BST on 1 Jul is "1 Jul".
DISPLAY_TIME_ZONE = ZoneInfo("Europe/London")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@dataclass(frozen=True)
class Reading:
    """A point with its number in the rule's units (the limit, for a censored value)."""

    point: Point
    value: Decimal

    @property
    def censored(self) -> bool:
        return self.point.censored

    def certainly_at_least(self, limit: Decimal, *, inclusive: bool = True) -> bool:
        """True only when the true value is known to be >= ``limit`` (> when not inclusive).

        "<0.01" is never at or above anything: the lab says only that it is below 0.01.
        ">100" is above ``limit`` whenever 100 is at least ``limit``.
        """
        comparator = self.point.comparator
        if comparator in BELOW:
            return False
        if comparator == ">":
            return self.value >= limit
        return self.value >= limit if inclusive else self.value > limit

    def certainly_at_most(self, limit: Decimal, *, inclusive: bool = True) -> bool:
        """The mirror of ``certainly_at_least``: "<0.01" is at or below anything from 0.01 up."""
        comparator = self.point.comparator
        if comparator in ABOVE:
            return False
        if comparator == "<":
            return self.value <= limit
        return self.value <= limit if inclusive else self.value < limit


def _order(point: Point) -> tuple[datetime, Decimal, str, str, str]:
    # Ties in time are broken by the other fields so the input order never changes a Finding.
    return (point.at, point.value, point.comparator, point.units, point.label)


def _in_order(points: list[Point]) -> list[Point]:
    """``points`` oldest first (sorted in place when they are not already)."""
    # Points usually come oldest first, each at its own time: then the order is already the
    # one ``_order`` gives, and sorting (a key tuple per point) is skipped.
    if any(points[i].at >= points[i + 1].at for i in range(len(points) - 1)):
        points.sort(key=_order)
    return points


def _convert(ordered: Sequence[Point], units: str) -> tuple[list[Reading], list[Unusable]]:
    """Points already in order, in ``units``, one reading a sample; and the points that cannot be
    converted (set aside, each with its reason, never silently dropped)."""
    # A series has one or two spellings of its units: each converts once, not once a point.
    # The power of ten is that of 1 converted (normalise_units raises UnitError).
    shifts: dict[str, int | UnitError] = {}
    result: list[Reading] = []
    unusable: list[Unusable] = []
    for p in ordered:
        shift = shifts.get(p.units)
        if shift is None:
            try:
                shift = normalise_units(Decimal(1), p.units, units).adjusted()
            except UnitError as exc:
                shift = exc
            shifts[p.units] = shift
        if isinstance(shift, UnitError):
            unusable.append(Unusable(p, shift))
            continue
        reading = Reading(p, p.value.scaleb(shift) if shift else p.value)
        if result and result[-1].point.at == p.at:
            # Two reports with one collection time are one sample (a duplicate report, or the
            # same specimen run twice): they neither confirm each other nor make a rise. The
            # sample reads as the higher of them, the cautious reading for a limit.
            result[-1] = max(result[-1], reading, key=_sample_weight)
            continue
        result.append(reading)
    return result, unusable


@dataclass(frozen=True)
class Unusable:
    """A point set aside by a rule: its units cannot be compared with the rule's."""

    point: Point
    error: UnitError


def _sample_weight(reading: Reading) -> tuple[int, Decimal]:
    # A measured value outranks a limit; ">100" outranks "<0.01"; then the higher number.
    comparator = reading.point.comparator
    rank = 2 if comparator == "" else 1 if comparator in ABOVE else 0
    return rank, reading.value


def readings(
    points: Iterable[Point], units: str, *, since: datetime | None = None
) -> list[Reading]:
    """The points on or after ``since``, oldest first, in ``units``, one reading a sample.

    A point whose units cannot be converted is left out (``unusable`` lists them, and the
    caller raises an item naming each): one unreadable point never stops a rule from judging
    the rest of the series. A ``Series`` answers from the conversion it made before.
    """
    if isinstance(points, Series):
        return points.readings(units, since=since)
    return _convert(_in_order([p for p in points if since is None or p.at >= since]), units)[0]


def unusable(points: Iterable[Point], units: str) -> list[Unusable]:
    """The points that cannot be converted to ``units``, each with its reason."""
    if isinstance(points, Series):
        return points.unusable(units)
    return _convert(_in_order(list(points)), units)[1]


class Series(Sequence[Point]):
    """One test's points, put in order once, with each conversion to a rule's units made once
    and shared: monitoring evaluates several rules on the same points for every result filed,
    and each rule would otherwise sort and convert them all again (``readings``).

    Read-only after it is made; the ``Point``s are the ones given (charts find a reading's
    observation by identity). Made for one evaluation: it holds the conversions it made.
    """

    __slots__ = ("_converted", "_points")

    def __init__(self, points: Iterable[Point]) -> None:
        self._points: tuple[Point, ...] = tuple(_in_order(list(points)))
        # Units -> the series in them (one reading a sample), and the points set aside.
        self._converted: dict[str, tuple[list[Reading], list[Unusable]]] = {}

    def _conversion(self, units: str) -> tuple[list[Reading], list[Unusable]]:
        if units not in self._converted:
            self._converted[units] = _convert(self._points, units)
        return self._converted[units]

    def readings(self, units: str, *, since: datetime | None = None) -> list[Reading]:
        """What ``readings(points, units, since=since)`` gives for these points (a new list)."""
        converted = self._conversion(units)[0]
        if since is None:
            return list(converted)
        # Oldest first, so the readings on or after ``since`` are a tail.
        start = bisect_left([item.point.at for item in converted], since)
        return converted[start:]

    def unusable(self, units: str) -> list[Unusable]:
        return list(self._conversion(units)[1])

    def __len__(self) -> int:
        return len(self._points)

    @overload
    def __getitem__(self, index: int) -> Point: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[Point]: ...
    def __getitem__(self, index: int | slice) -> Point | Sequence[Point]:
        return self._points[index]

    def __iter__(self) -> Iterator[Point]:
        return iter(self._points)


def trailing_run(
    items: Sequence[Reading], joins: Callable[[Reading, Reading], bool]
) -> list[Reading]:
    """The longest suffix of ``items`` in which ``joins(earlier, later)`` holds for each pair."""
    if not items:
        return []
    start = len(items) - 1
    while start > 0 and joins(items[start - 1], items[start]):
        start -= 1
    return list(items[start:])


def trailing_where(items: Sequence[Reading], test: Callable[[Reading], bool]) -> list[Reading]:
    """The longest suffix of ``items`` in which every item passes ``test`` (maybe empty)."""
    start = len(items)
    while start > 0 and test(items[start - 1]):
        start -= 1
    return list(items[start:])


def local_date(at: datetime) -> date:
    """The UK calendar date of a moment: intervals in days and months count from it."""
    return at.astimezone(DISPLAY_TIME_ZONE).date()


def repeat_date(at: datetime, *, days: int | None, months: int | None) -> date | None:
    """When a value taken at ``at`` should be repeated: ``days`` or calendar ``months`` after it."""
    if days is None and months is None:
        return None
    day = local_date(at)
    if months is not None:
        return day + relativedelta(months=months)
    return day + timedelta(days=days or 0)


def require_interval(
    days_name: str, days: Any, months_name: str, months: Any
) -> tuple[int | None, int | None]:
    """An optional interval given in days or in calendar months, not both."""
    if days is not None and months is not None:
        raise RuleConfigError(days_name, f"give {days_name} or {months_name}, not both")
    return (
        None if days is None else require_int(days_name, days, minimum=1),
        None if months is None else require_int(months_name, months, minimum=1),
    )


# Wording ------------------------------------------------------------------------------------


def format_date(at: datetime) -> str:
    """ "10 Nov 2026": UK order, no leading zero, the month by name so it cannot be misread."""
    local = at.astimezone(DISPLAY_TIME_ZONE)
    return f"{local.day} {_MONTHS[local.month - 1]} {local.year}"


def format_day(day: date) -> str:
    """A calendar date as ``format_date`` writes a moment: "21 Aug 2024"."""
    return f"{day.day} {_MONTHS[day.month - 1]} {day.year}"


def format_number(value: Decimal) -> str:
    """A number as a person writes it: 0.24, 200, 2.5 (no exponent, no trailing zeros).

    Observations are stored with six decimal places, so "0.240000" is the lab's 0.24.
    """
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def format_value(point: Point, *, with_units: bool = True) -> str:
    """The lab's value as reported: "<0.01 ng/mL", "0.24 ng/mL", or "0.24" without units."""
    text = f"{point.comparator}{format_number(point.value)}"
    return f"{text} {point.units}" if with_units and point.units else text


def format_limit(value: Decimal, units: str, *, beside: Point) -> str:
    """A number in the rule's units, with the units only where they differ from ``beside``'s."""
    text = format_number(value)
    return text if beside.units == units else f"{text} {units}"


def mention(point: Point, *, beside: Point) -> str:
    """ "0.21 on 2 Aug 2026": a point, with units only where they differ from ``beside``'s."""
    return (
        f"{format_value(point, with_units=point.units != beside.units)} on {format_date(point.at)}"
    )


def subject(items: Sequence[Reading]) -> str:
    """What the explanation is about: the newest point's label, "Result" when there is none."""
    return (items[-1].point.label if items else "") or "Result"


def join_words(words: Sequence[str]) -> str:
    """ "a", "a and b", "a, b and c"."""
    if len(words) <= 1:
        return "".join(words)
    return f"{', '.join(words[:-1])} and {words[-1]}"


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    return f"{count} {singular if count == 1 else plural_form or singular + 's'}"


def not_counted(point: Point, *, as_what: str) -> str:
    """Why a censored value cannot show a breach: "is reported only as below 0.01, so ..."."""
    side = "below" if point.comparator in BELOW else "above"
    return (
        f"is reported only as {side} {format_number(point.value)}, "
        f"so it does not count as {as_what}"
    )


# Keys and details ---------------------------------------------------------------------------


def stamp(at: datetime) -> str:
    """A time as ISO 8601 in UTC, so the same instant always gives the same text."""
    return at.astimezone(UTC).isoformat()


def make_key(rule: str, *moments: datetime) -> str:
    """The identity of a breach: the rule and the times of the points that started it."""
    return "/".join([rule, *(stamp(moment) for moment in moments)])


def decimal_text(value: Decimal | None) -> str | None:
    return None if value is None else format_number(value)


def stamps(items: Iterable[Reading]) -> list[str]:
    return [stamp(item.point.at) for item in items]


# Parameter checks: the rules call these themselves, so a rule called directly is checked as
# strictly as one loaded from JSON by ``evaluate``. -------------------------------------------


def require_decimal(
    name: str, value: Any, *, positive: bool = False, non_negative: bool = False
) -> Decimal:
    """A parameter as a Decimal; JSON numbers (int, float) and numeric strings are accepted."""
    if isinstance(value, bool) or not isinstance(value, Decimal | int | float | str):
        raise RuleConfigError(name, f"must be a number, not {value!r}")
    try:
        # str() first: Decimal(0.2) would carry the float's binary error into the limit.
        number = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except InvalidOperation:
        raise RuleConfigError(name, f"must be a number, not {value!r}") from None
    if not number.is_finite():
        raise RuleConfigError(name, f"must be a finite number, not {value!r}")
    if positive and number <= 0:
        raise RuleConfigError(name, f"must be greater than 0, not {format_number(number)}")
    if non_negative and number < 0:
        raise RuleConfigError(name, f"must not be negative, not {format_number(number)}")
    return number


def require_int(name: str, value: Any, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise RuleConfigError(name, f"must be a whole number, not {value!r}")
    if value < minimum:
        raise RuleConfigError(name, f"must be at least {minimum}, not {value}")
    return value


def require_bool(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise RuleConfigError(name, f"must be true or false, not {value!r}")
    return value


def require_choice(name: str, value: Any, choices: Sequence[str]) -> str:
    if value not in choices:
        raise RuleConfigError(
            name, f"must be one of {join_words([repr(c) for c in choices])}, not {value!r}"
        )
    return str(value)


def require_units(name: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise RuleConfigError(name, f"must name the units the rule is written in, not {value!r}")
    return value


def require_anchor(name: str, value: Any) -> datetime | None:
    """An aware datetime, or None. A date (or "YYYY-MM-DD") means the start of that day in
    London: a treatment date is a UK calendar date, and results that day count."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value.strip())
        except ValueError:
            try:
                value = datetime.fromisoformat(value.strip())
            except ValueError:
                raise RuleConfigError(
                    name, f"must be an ISO 8601 date or date-time, not {value!r}"
                ) from None
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise RuleConfigError(name, "must include a time zone (UTC offset)")
        return value
    if isinstance(value, date):
        return datetime.combine(value, time.min, tzinfo=DISPLAY_TIME_ZONE)
    raise RuleConfigError(name, f"must be a date or an aware date-time, not {value!r}")
