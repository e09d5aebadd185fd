from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pytest

from careplans.followup.schedule import due_after, grid_months, step_on


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


def test_it_makes_the_first_test_due_at_the_first_grid_point():
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


def test_a_result_taken_just_before_a_grid_point_counts_for_it():
    """EAU grid 3, 6, 12 months: a PSA 3 days before the 6-month point (15 Jul 2024) is the
    6-month test, so the next is the 12-month one (15 Jan 2025). (The schedule used to
    count 3 months from the day it was taken, 12 Oct 2024, drifting off the grid.)"""
    assert due_after(EAU, anchor=ANCHOR, last=date(2024, 7, 12)) == date(2025, 1, 15)


def test_it_counts_calendar_months_at_the_end_of_a_month():
    steps = [Step(0, None, 1)]
    assert due_after(steps, anchor=date(2024, 1, 31), last=None) == date(2024, 2, 29)


def test_it_includes_a_test_due_on_the_last_month_of_the_schedule():
    assert due_after(CEA, anchor=ANCHOR, last=date(2028, 1, 15)) == date(2029, 1, 15)


def test_it_returns_none_when_the_schedule_has_ended():
    assert due_after(CEA, anchor=ANCHOR, last=date(2029, 1, 15)) is None


def test_it_returns_none_for_a_result_counting_for_the_last_grid_point():
    # 1 Nov 2028 is 75 days before the 60-month point (15 Jan 2029), 291 after 48 months.
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


# --- The grid (clinical vocabulary, "Schedules (the grid)") ---------------------------------
# EAU Guidelines on Prostate Cancer, follow-up after treatment with curative intent: PSA at
# 3, 6 and 12 months, then every 6 months until 3 years, then annually.
# NICE NG131 (2019, updated 2021) table 2, active surveillance: PSA every 3 months in year 1,
# every 6 months in years 2 to 4, then every 6 months (MRI at 12 months).
# NICE NG151 (2020) 1.8: CEA at least every 6 months in the first 3 years (then yearly to 5).
AS = [Step(0, 12, 3), Step(12, 48, 6), Step(48, None, 6)]


def _months(steps, through):
    return grid_months(steps, through=through)


def test_the_eau_grid_is_3_6_12_then_6_monthly_to_3_years_then_yearly():
    """EAU: 3, 6, 12, 18, 24, 30, 36 months, then 48, 60."""
    assert _months(EAU, 60) == [3, 6, 12, 18, 24, 30, 36, 48, 60]


def test_the_nice_ng131_active_surveillance_grid():
    """NICE NG131 table 2: 3-monthly in year 1, then 6-monthly."""
    assert _months(AS, 60) == [3, 6, 9, 12, 18, 24, 30, 36, 42, 48, 54, 60]


def test_the_nice_ng151_cea_grid_ends_at_five_years():
    """NICE NG151 1.8: 6-monthly for 3 years, then (vocabulary) yearly to 5 years."""
    assert _months(CEA, 120) == [6, 12, 18, 24, 30, 36, 48, 60]


def test_a_late_test_does_not_drift_the_schedule():
    """EAU: the 6-month PSA (due 15 Jul 2024) taken late on 1 Sep 2024 (48 days after it,
    136 days before the 12-month point) is the 6-month test: the 12-month one stays due on
    15 Jan 2025, not 6 months after the late test (1 Mar 2025)."""
    assert due_after(EAU, anchor=ANCHOR, last=date(2024, 9, 1)) == date(2025, 1, 15)


def test_an_early_test_does_not_shorten_the_schedule():
    """EAU: the 12-month PSA (due 15 Jan 2025) taken early on 1 Dec 2024 (45 days before it,
    139 days after the 6-month point) is the 12-month test: next due at 18 months (15 Jul
    2025), not 6 months after the early test (1 Jun 2025)."""
    assert due_after(EAU, anchor=ANCHOR, last=date(2024, 12, 1)) == date(2025, 7, 15)


def test_a_result_half_way_between_two_grid_points_counts_for_the_later():
    """EAU: 15 Oct 2024 is 92 days after the 6-month point (15 Jul 2024) and 92 days before
    the 12-month point (15 Jan 2025); on a tie the later point counts, so next due is 18
    months (15 Jul 2025)."""
    assert (date(2024, 10, 15) - date(2024, 7, 15)).days == 92
    assert (date(2025, 1, 15) - date(2024, 10, 15)).days == 92
    assert due_after(EAU, anchor=ANCHOR, last=date(2024, 10, 15)) == date(2025, 7, 15)


def test_a_result_one_day_before_half_way_counts_for_the_earlier():
    """EAU: 14 Oct 2024 is 91 days after the 6-month point and 93 before the 12-month one:
    it is the 6-month test, next due at 12 months (15 Jan 2025)."""
    assert due_after(EAU, anchor=ANCHOR, last=date(2024, 10, 14)) == date(2025, 1, 15)


def test_a_result_nearer_the_treatment_than_the_first_point_leaves_the_first_test_due():
    """EAU persistence check 4-8 weeks after prostatectomy: a PSA at 6 weeks (26 Feb 2024,
    42 days after surgery, 49 before the 3-month point) is not the 3-month test, which stays
    due on 15 Apr 2024."""
    assert due_after(EAU, anchor=ANCHOR, last=date(2024, 2, 26)) == date(2024, 4, 15)


def test_a_result_near_the_treatment_leaves_a_late_started_plan_due_at_its_next_grid_point():
    """A persistence PSA 5 weeks after surgery on 10 Mar 2020 counts for no grid point; the
    plan started on 20 May 2024 is first due at 60 months (10 Mar 2025), not at 3 months."""
    assert due_after(
        EAU, anchor=date(2020, 3, 10), last=date(2020, 4, 14), start=date(2024, 5, 20)
    ) == date(2025, 3, 10)


def test_a_plan_started_long_after_treatment_starts_at_the_next_grid_point():
    """EAU grid from surgery on 10 Mar 2020; the plan started on 20 May 2024 (50 months
    later) with no result: not due at 3 months (overdue on day one) but at the first grid
    point on or after the start: 60 months, 10 Mar 2025 (48 months was 10 Mar 2024)."""
    assert due_after(EAU, anchor=date(2020, 3, 10), last=None, start=date(2024, 5, 20)) == date(
        2025, 3, 10
    )


def test_a_result_nearest_the_start_of_a_phase_with_no_test_there_counts_for_none():
    """Phases "0 until 6 every 3" and "12 every 6" (grid 3, 6, 18, 24...): a result on 20
    Jan 2025 (month 12, 5 days after its start, 176 days before 18 months) is not the
    18-month test, which stays due on 15 Jul 2025."""
    steps = [Step(0, 6, 3), Step(12, None, 6)]
    assert due_after(steps, anchor=ANCHOR, last=date(2025, 1, 20)) == date(2025, 7, 15)


def test_a_test_added_this_month_is_first_due_one_interval_on_whatever_its_last_result():
    """A CEA added to a plan in month 14 (from 14 every 3): a CEA of 10 Mar 2025 (month 13,
    5 days before the phase starts on 15 Mar 2025) does not count for the 17-month test,
    due on 15 Jun 2025."""
    steps = [Step(14, None, 3, "CEA")]
    assert due_after(steps, anchor=ANCHOR, last=date(2025, 3, 10)) == date(2025, 6, 15)


def test_a_plan_started_on_a_grid_point_is_due_that_day():
    """The first grid point "on or after" the start: 48 months after 10 Mar 2020."""
    assert due_after(EAU, anchor=date(2020, 3, 10), last=None, start=date(2024, 3, 10)) == date(
        2024, 3, 10
    )


def test_a_plan_started_on_the_day_of_treatment_is_first_due_at_the_first_grid_point():
    assert due_after(EAU, anchor=ANCHOR, last=None, start=ANCHOR) == date(2024, 4, 15)


def test_a_result_before_the_plan_started_still_places_the_schedule():
    """The vocabulary's start rule is for a test with no result yet: a PSA of 15 Mar 2021
    (the 12-month point of surgery on 10 Mar 2020) makes 18 months (10 Sep 2021) due."""
    assert due_after(
        EAU, anchor=date(2020, 3, 10), last=date(2021, 3, 15), start=date(2024, 5, 20)
    ) == date(2021, 9, 10)


@pytest.mark.parametrize(
    ("last", "due"),
    [
        (None, date(2024, 5, 1)),  # first: 3 months
        (date(2024, 11, 20), date(2025, 2, 1)),  # 9-month test 19 days late: 12 stays due
        (date(2025, 2, 1), date(2025, 8, 1)),  # 12 -> 18: 6-monthly from year 2
        (date(2027, 12, 20), date(2028, 8, 1)),  # 43 days early for 48 months: 54 next
        (date(2028, 2, 1), date(2028, 8, 1)),  # 48 -> 54: still 6-monthly after year 4
    ],
)
def test_active_surveillance_follows_the_nice_ng131_grid(last, due):
    """NICE NG131 table 2 from the start of active surveillance on 1 Feb 2024. 20 Dec 2027
    is 43 days before the 48-month point (1 Feb 2028) and 141 days after 42 months (1 Aug
    2027): it counts for 48 months, next due 54 months (1 Aug 2028)."""
    assert due_after(AS, anchor=date(2024, 2, 1), last=last) == due


def test_cea_counts_calendar_months_from_an_end_of_month_operation():
    """NICE NG151 1.8, surgery on 31 Aug 2023: the 6-month point is 29 Feb 2024 (the month
    has no 31st); a CEA on 5 Mar 2024 is that test, next due at 12 months, 31 Aug 2024."""
    anchor = date(2023, 8, 31)
    assert due_after(CEA, anchor=anchor, last=None) == date(2024, 2, 29)
    assert due_after(CEA, anchor=anchor, last=date(2024, 3, 5)) == date(2024, 8, 31)


def test_cea_is_yearly_after_three_years_and_ends_after_five():
    """NICE NG151 / vocabulary: 36 months (31 Aug 2026) -> 48 (31 Aug 2027) -> 60 (31 Aug
    2028) -> nothing more due."""
    anchor = date(2023, 8, 31)
    assert due_after(CEA, anchor=anchor, last=date(2026, 9, 10)) == date(2027, 8, 31)
    assert due_after(CEA, anchor=anchor, last=date(2027, 8, 1)) == date(2028, 8, 31)
    assert due_after(CEA, anchor=anchor, last=date(2028, 8, 20)) is None


def test_a_scan_at_12_and_24_months_only():
    """Colorectal follow-up (vocabulary, NICE NG151): CT chest/abdomen/pelvis at 12 and 24
    months, as the step "from 0 until 24 every 12"; after the 24-month scan nothing is due."""
    ct = [Step(0, 24, 12, "CT_CAP")]
    assert due_after(ct, anchor=ANCHOR, last=None) == date(2025, 1, 15)
    assert due_after(ct, anchor=ANCHOR, last=date(2025, 2, 20)) == date(2026, 1, 15)
    assert due_after(ct, anchor=ANCHOR, last=date(2026, 1, 30)) is None


def test_the_step_of_a_grid_point_is_the_phase_that_made_it():
    """6 months is the last point of "from 0 until 6 every 3", not of the 6-monthly phase
    (whose first point is 12): its grace period is that of the 3-monthly phase."""
    assert step_on(EAU, anchor=ANCHOR, day=date(2024, 7, 15)) == EAU[0]
    assert step_on(EAU, anchor=ANCHOR, day=date(2025, 1, 15)) == EAU[1]
    assert step_on(EAU, anchor=ANCHOR, day=date(2028, 1, 15)) == EAU[2]
