from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from careplans.followup.rules.common import format_date, format_number, make_key
from tests.careplans.followup.rules.series import on


def test_dates_read_as_uk_clinicians_write_them() -> None:
    assert format_date(on("2 Aug 2026")) == "2 Aug 2026"
    assert format_date(on("10 Nov 2026")) == "10 Nov 2026"


def test_a_result_taken_just_after_midnight_in_summer_time_has_the_london_date() -> None:
    # 23:30 UTC on 30 Jun is 00:30 BST on 1 Jul.
    assert format_date(datetime(2026, 6, 30, 23, 30, tzinfo=UTC)) == "1 Jul 2026"


def test_numbers_lose_the_trailing_zeros_the_database_adds() -> None:
    assert format_number(Decimal("0.240000")) == "0.24"
    assert format_number(Decimal("2.4E+2")) == "240"
    assert format_number(Decimal("2.000000")) == "2"
    assert format_number(Decimal("0.01")) == "0.01"


def test_a_key_names_the_same_instant_the_same_way_whatever_its_zone() -> None:
    in_london = on("2 Aug 2026")
    in_utc = in_london.astimezone(UTC)
    assert make_key("absolute_limit", in_london) == make_key("absolute_limit", in_utc)
    assert make_key("absolute_limit", in_utc) == "absolute_limit/2026-08-02T08:00:00+00:00"
