from __future__ import annotations

from decimal import Decimal

import pytest

from careplans.followup.rules import UnitError, absolute_limit, normalise_units, unusable
from tests.careplans.followup.rules.series import psa


@pytest.mark.parametrize("units", ["ug/L", "ng/mL", "µg/L", "μg/L", "mcg/L", "UG/L", "ng / ml"])
def test_the_spellings_of_micrograms_per_litre_are_the_same_number(units: str) -> None:
    assert normalise_units(Decimal("0.24"), units, "ng/mL") == Decimal("0.24")


def test_nanograms_per_litre_are_a_thousandth_of_micrograms_per_litre() -> None:
    assert normalise_units(Decimal("240"), "ng/L", "ug/L") == Decimal("0.24")
    assert normalise_units(Decimal("0.24"), "ng/mL", "ng/L") == Decimal("240")


@pytest.mark.parametrize(
    ("value", "units", "target", "expected"),
    [
        ("1", "mg/dL", "mg/L", "10"),
        ("1", "mg/dL", "ug/L", "10000"),
        ("500", "pg/mL", "ng/mL", "0.5"),
        ("13.5", "g/dL", "g/L", "135"),
    ],
)
def test_the_table_converts_every_prefix_and_volume_exactly(
    value: str, units: str, target: str, expected: str
) -> None:
    assert normalise_units(Decimal(value), units, target) == Decimal(expected)


def test_molar_units_cannot_be_compared_with_units_by_mass() -> None:
    with pytest.raises(UnitError, match="'mmol/L' is not a mass concentration") as raised:
        normalise_units(Decimal("2.4"), "mmol/L", "ug/L")
    assert raised.value.units == "mmol/L"


def test_a_result_without_units_cannot_be_compared() -> None:
    with pytest.raises(UnitError, match="has no units"):
        normalise_units(Decimal("0.24"), " ", "ng/mL")


def test_identical_units_outside_the_table_compare_unchanged() -> None:
    # CA-125 is reported in kU/L: comparing like with like needs no table.
    assert normalise_units(Decimal("35"), "kU/L", "KU/L") == Decimal("35")


def test_units_outside_the_table_are_not_guessed_at_even_when_equivalent() -> None:
    with pytest.raises(UnitError, match="'U/mL'"):
        normalise_units(Decimal("35"), "U/mL", "kU/L")


def test_a_rule_sets_aside_a_point_whose_unit_it_cannot_convert() -> None:
    series = [psa("2 Aug 2026", "0.21"), psa("10 Nov 2026", "0.24", units="mmol/L")]

    finding = absolute_limit(series, threshold="0.2", units="ug/L")

    # The mmol/L point is not compared (it is named by ``unusable`` for a review item); the
    # readable one is still judged.
    assert finding.breached
    assert finding.evidence == (series[0],)
    (set_aside,) = unusable(series, "ug/L")
    assert set_aside.point == series[1]
    assert "mmol/L" in str(set_aside.error)


def test_a_rule_compares_a_series_in_mixed_but_equivalent_units() -> None:
    series = [psa("2 Aug 2026", "0.21", units="ug/L"), psa("10 Nov 2026", "240", units="ng/L")]

    finding = absolute_limit(series, threshold="0.2", confirmations=2, units="ng/mL")

    assert finding.breached
    assert finding.explanation == (
        "PSA 240 ng/L on 10 Nov 2026 is at or above 0.2 ng/mL, "
        "confirmed by 0.21 ug/L on 2 Aug 2026."
    )
