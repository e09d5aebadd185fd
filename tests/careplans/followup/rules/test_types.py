from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest

from careplans.followup.rules import Point
from tests.careplans.followup.rules.series import on


def test_a_point_refuses_a_naive_time() -> None:
    with pytest.raises(ValueError, match="aware"):
        Point(at=datetime(2026, 11, 10, 9, 0), value=Decimal("0.24"), units="ng/mL")


def test_a_point_refuses_a_comparator_labs_do_not_send() -> None:
    with pytest.raises(ValueError, match="comparator"):
        Point(at=on("10 Nov 2026"), value=Decimal("0.24"), comparator="~", units="ng/mL")


def test_a_point_refuses_a_float_value() -> None:
    with pytest.raises(ValueError, match="Decimal"):
        Point(at=on("10 Nov 2026"), value=0.24, units="ng/mL")  # type: ignore[arg-type]


def test_a_point_refuses_a_value_that_is_not_a_number() -> None:
    with pytest.raises(ValueError, match="finite"):
        Point(at=on("10 Nov 2026"), value=Decimal("NaN"), units="ng/mL")


def test_only_a_point_with_a_comparator_is_censored() -> None:
    assert Point(at=on("10 Nov 2026"), value=Decimal("0.01"), comparator="<", units="ug/L").censored
    assert not Point(at=on("10 Nov 2026"), value=Decimal("0.01"), units="ug/L").censored
