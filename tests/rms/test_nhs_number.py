from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from rms import nhs_number


@pytest.mark.parametrize("value", ["9434765919", "9990000018", "943 476 5919", "943-476-5919"])
def test_it_accepts_valid_numbers(value: str) -> None:
    assert nhs_number.is_valid(value)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("9434765910", "check digit does not match"),
        ("0000000000", "no numbers are issued in that range"),
        ("123456789", "has 10 digits; this has 9"),
        ("94347659190", "has 10 digits; this has 11"),
        ("943476591A", "digits only"),
        ("ABCDEFGHIJ", "digits only"),
        ("", "is required"),
    ],
)
def test_it_refuses_invalid_numbers_and_says_why(value: str, reason: str) -> None:
    assert not nhs_number.is_valid(value)
    assert reason in (nhs_number.invalid_reason(value) or "")
    with pytest.raises(ValidationError):
        nhs_number.validate_nhs_number(value)


def test_a_check_value_of_ten_makes_every_tenth_digit_invalid() -> None:
    # 000000001 weighs 2 → 11 - 2 = 9; find nine digits whose check value is 10.
    first_nine = next(
        f"{n:09d}"
        for n in range(101_000_00, 999_999_999)
        if nhs_number.check_digit(f"{n:09d}") is None
    )
    assert all(not nhs_number.is_valid(first_nine + str(d)) for d in range(10))


def test_it_shows_numbers_three_three_four() -> None:
    assert nhs_number.display("9434765919") == "943 476 5919"
    assert nhs_number.display("943 476 5919") == "943 476 5919"
    assert nhs_number.display("12345") == "12345"
