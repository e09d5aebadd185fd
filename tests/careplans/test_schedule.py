from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pytest

from careplans.schedule import due_after


@dataclass(frozen=True)
class Step:
    from_month: int
    until_month: int | None
    every_months: int
    test_code: str = "PSA"


# EAU after radical treatment: 3, 6, 12 months, then 6-monthly to 3 years, then yearly.
EAU = [Step(0, 6, 3), Step(6, 36, 6), Step(36, None, 12)]
# CEA 6-monthly to 3 years, then yearly to 5 years.
CEA = [Step(0, 36, 6, "CEA"), Step(36, 60, 12, "CEA")]
ANCHOR = date(2024, 1, 15)


def test_it_makes_the_first_test_due_one_first_phase_interval_after_the_anchor():
    assert due_after(EAU, anchor=ANCHOR, last=None) == date(2024, 4, 15)


@pytest.mark.parametrize(
    ("last", "due"),
    [
        (date(2024, 4, 15), date(2024, 7, 15)),  # month 3 -> 6
        (date(2024, 7, 15), date(2025, 1, 15)),  # month 6 -> 12
        (date(2025, 1, 15), date(2025, 7, 15)),  # month 12 -> 18
        (date(2026, 7, 15), date(2027, 1, 15)),  # month 30 -> 36
        (date(2027, 1, 15), date(2028, 1, 15)),  # month 36 -> 48, yearly from 3 years
        (date(2031, 1, 15), date(2032, 1, 15)),  # yearly for ever
    ],
)
def test_it_follows_the_eau_schedule_from_the_latest_result(last, due):
    assert due_after(EAU, anchor=ANCHOR, last=last) == due


def test_it_keeps_the_shorter_interval_for_a_result_taken_just_before_a_phase_ends():
    # 5 months 28 days after the anchor is still the 3-monthly phase.
    assert due_after(EAU, anchor=ANCHOR, last=date(2024, 7, 12)) == date(2024, 10, 12)


def test_it_counts_calendar_months_at_the_end_of_a_month():
    steps = [Step(0, None, 1)]
    assert due_after(steps, anchor=date(2024, 1, 31), last=None) == date(2024, 2, 29)


def test_it_includes_a_test_due_on_the_last_month_of_the_schedule():
    assert due_after(CEA, anchor=ANCHOR, last=date(2028, 1, 15)) == date(2029, 1, 15)


def test_it_returns_none_when_the_schedule_has_ended():
    assert due_after(CEA, anchor=ANCHOR, last=date(2029, 1, 15)) is None


def test_it_returns_none_when_the_next_test_would_fall_after_the_schedule_ends():
    assert due_after(CEA, anchor=ANCHOR, last=date(2028, 11, 1)) is None


def test_it_ignores_a_result_from_before_the_anchor():
    assert due_after(EAU, anchor=ANCHOR, last=date(2023, 12, 1)) == date(2024, 4, 15)


def test_it_returns_none_without_steps():
    assert due_after([], anchor=ANCHOR, last=None) is None


def test_it_takes_steps_in_any_order():
    assert due_after(list(reversed(EAU)), anchor=ANCHOR, last=date(2024, 7, 15)) == date(
        2025, 1, 15
    )


def test_it_starts_a_later_phase_one_interval_into_it_after_a_gap():
    steps = [Step(0, 6, 3), Step(12, None, 6)]
    assert due_after(steps, anchor=ANCHOR, last=date(2024, 8, 1)) == date(2025, 7, 15)


def test_it_refuses_steps_of_more_than_one_test():
    with pytest.raises(ValueError, match="one test"):
        due_after([Step(0, None, 3), Step(0, None, 6, "CEA")], anchor=ANCHOR, last=None)
