"""NHS numbers: normalising, validating (Modulus 11) and displaying.

NHS Data Dictionary, "NHS NUMBER": ten digits, the tenth a Modulus 11 check digit over the
first nine with weights 10..2; a check value of 11 is 0 and a check value of 10 makes the
number invalid. Stored and sent without spaces, shown as 3-3-4.

Modulus 11 alone accepts ``0000000000``; no issued range starts below 010 100 0000 (the
lowest CHI number), so anything under that is refused too. Other ranges are not refused:
PKB's own published examples use numbers outside England's issued ranges.
"""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError

_SEPARATORS = re.compile(r"[\s-]")
LOWEST_ISSUED = 101_000_000  # 010 100 0000


def normalise(value: str) -> str:
    """Strip the spaces and hyphens people type; nothing else is changed."""
    return _SEPARATORS.sub("", value or "")


def check_digit(first_nine: str) -> int | None:
    """The Modulus 11 check digit for nine digits, or None where no valid number exists."""
    total = sum(
        int(digit) * weight for digit, weight in zip(first_nine, range(10, 1, -1), strict=True)
    )
    check = 11 - total % 11
    if check == 11:
        return 0
    if check == 10:
        return None
    return check


def invalid_reason(value: str) -> str | None:
    """Why ``value`` is not a valid NHS number, or None if it is one."""
    number = normalise(value)
    if not number:
        return "An NHS number is required."
    if not number.isdigit():
        return "An NHS number has digits only."
    if len(number) != 10:
        return f"An NHS number has 10 digits; this has {len(number)}."
    expected = check_digit(number[:9])
    if expected is None or expected != int(number[9]):
        return "This is not a valid NHS number: its check digit does not match."
    if int(number) < LOWEST_ISSUED:
        return "This is not a valid NHS number: no numbers are issued in that range."
    return None


def is_valid(value: str) -> bool:
    return invalid_reason(value) is None


def validate_nhs_number(value: str) -> None:
    """Django validator: raises ValidationError naming the reason."""
    reason = invalid_reason(value)
    if reason:
        raise ValidationError(reason, code="invalid_nhs_number")


def display(value: str) -> str:
    """``9434765919`` → ``943 476 5919``; anything else is returned unchanged."""
    number = normalise(value)
    if len(number) != 10:
        return value
    return f"{number[:3]} {number[3:6]} {number[6:]}"
