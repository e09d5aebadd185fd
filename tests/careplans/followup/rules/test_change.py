"""percent_change: the newest value against the peak (or trough) of the window before it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from careplans.followup.rules import RuleConfigError, evaluate
from careplans.followup.rules.change import percent_change
from careplans.followup.rules.types import Point

START = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


def kg(*values: str, every_days: int = 7) -> list[Point]:
    return [
        Point(at=START + timedelta(days=every_days * n), value=Decimal(v), units="kg")
        for n, v in enumerate(values)
    ]


def test_a_six_percent_loss_from_the_months_peak_breaches() -> None:
    finding = percent_change(kg("80", "79", "75.2"), percent=5, window_days=30, units="kg")
    assert finding.breached
    assert "6% below the highest result of the 30 days before it" in finding.explanation
    assert finding.details["reference"] == "80"


def test_a_smaller_loss_does_not() -> None:
    finding = percent_change(kg("80", "79", "77"), percent=5, window_days=30, units="kg")
    assert not finding.breached
    assert "3.7% below" in finding.explanation


def test_a_peak_outside_the_window_does_not_count() -> None:
    finding = percent_change(kg("80", "75", every_days=40), percent=5, window_days=30, units="kg")
    assert not finding.breached


def test_further_losses_from_the_same_peak_are_one_breach() -> None:
    first = percent_change(kg("80", "75"), percent=5, window_days=30, units="kg")
    later = percent_change(kg("80", "75", "74"), percent=5, window_days=30, units="kg")
    assert first.key == later.key != ""


def test_a_rise_is_looked_for_when_asked() -> None:
    finding = evaluate(
        "percent_change",
        kg("70", "74"),
        {"percent": 5, "window_days": 30, "direction": "up", "units": "kg"},
    )
    assert finding.breached


def test_bad_parameters_are_named() -> None:
    with pytest.raises(RuleConfigError, match="direction"):
        percent_change(kg("80"), percent=5, window_days=30, direction="sideways", units="kg")
    with pytest.raises(RuleConfigError, match="window_days"):
        percent_change(kg("80"), percent=5, window_days=0, units="kg")
