"""Rules stored as JSON: dispatch by name, and errors that name the bad parameter."""

from __future__ import annotations

import json
from typing import Any

import pytest

from careplans.followup.rules import (
    RULE_TYPES,
    RuleConfigError,
    absolute_limit,
    consecutive_rises,
    doubling_time,
    evaluate,
    parameters,
    percentage_rise,
    rise_above_nadir,
    validate,
)
from tests.careplans.followup.rules.series import psa

SERIES = [
    psa("6 Jan 2026", "0.1"),
    psa("7 Apr 2026", "0.15"),
    psa("6 Jul 2026", "0.21"),
    psa("5 Oct 2026", "0.3"),
]


@pytest.mark.parametrize(
    ("stored", "direct"),
    [
        (
            '{"rule_type": "absolute_limit", "params": {"threshold": 0.2, "confirmations": 2, '
            '"units": "ng/mL"}}',
            lambda: absolute_limit(SERIES, threshold="0.2", confirmations=2, units="ng/mL"),
        ),
        (
            '{"rule_type": "rise_above_nadir", "params": {"rise": 0.1, "units": "ug/L", '
            '"anchor_at": "2026-01-01T00:00:00+00:00"}}',
            lambda: rise_above_nadir(
                SERIES, rise="0.1", units="ug/L", anchor_at="2026-01-01T00:00:00+00:00"
            ),
        ),
        (
            '{"rule_type": "consecutive_rises", "params": {"count": 3, "units": "ng/mL"}}',
            lambda: consecutive_rises(SERIES, count=3, units="ng/mL"),
        ),
        (
            '{"rule_type": "doubling_time", "params": {"max_months": 12, "units": "ng/mL"}}',
            lambda: doubling_time(SERIES, max_months=12, units="ng/mL"),
        ),
        (
            '{"rule_type": "percentage_rise", "params": {"percent": 25, "against": "baseline", '
            '"units": "ng/mL"}}',
            lambda: percentage_rise(SERIES, percent=25, against="baseline", units="ng/mL"),
        ),
    ],
)
def test_a_stored_rule_gives_the_same_finding_as_calling_it(stored: str, direct: Any) -> None:
    rule = json.loads(stored)

    finding = evaluate(rule["rule_type"], SERIES, rule["params"])

    assert finding == direct()
    assert finding.breached


def test_every_rule_type_can_be_dispatched() -> None:
    assert set(RULE_TYPES) == {
        "absolute_limit",
        "rise_above_nadir",
        "consecutive_rises",
        "doubling_time",
        "percentage_rise",
        "percent_change",
        "velocity",
        "castration_resistance",
    }


def test_the_parameters_of_a_rule_come_from_its_signature() -> None:
    required, optional = parameters("doubling_time")

    assert required == {"max_months", "units"}
    assert optional == {"min_points", "min_value", "min_span_months", "from_nadir"}


def test_an_unknown_rule_type_is_refused() -> None:
    with pytest.raises(RuleConfigError) as raised:
        evaluate("psa_velocity", SERIES, {"units": "ng/mL"})

    assert raised.value.parameter == "rule_type"
    assert "psa_velocity" in str(raised.value)


@pytest.mark.parametrize(
    ("rule_type", "params", "bad"),
    [
        ("absolute_limit", {"units": "ng/mL"}, "threshold"),
        ("absolute_limit", {"threshhold": 0.2, "threshold": 0.2, "units": "ng/mL"}, "threshhold"),
        ("absolute_limit", {"threshold": "0.2 ng/mL", "units": "ng/mL"}, "threshold"),
        ("absolute_limit", {"threshold": True, "units": "ng/mL"}, "threshold"),
        ("absolute_limit", {"threshold": "NaN", "units": "ng/mL"}, "threshold"),
        ("absolute_limit", {"threshold": 0.2, "units": ""}, "units"),
        (
            "absolute_limit",
            {"threshold": 0.2, "units": "ng/mL", "confirmations": 0},
            "confirmations",
        ),
        (
            "absolute_limit",
            {"threshold": 0.2, "units": "ng/mL", "confirmations": 2.0},
            "confirmations",
        ),
        ("absolute_limit", {"threshold": 0.2, "units": "ng/mL", "direction": "up"}, "direction"),
        ("absolute_limit", {"threshold": 0.2, "units": "ng/mL", "inclusive": "yes"}, "inclusive"),
        ("rise_above_nadir", {"rise": -2, "units": "ng/mL"}, "rise"),
        (
            "rise_above_nadir",
            {"rise": 2, "units": "ng/mL", "anchor_at": "last spring"},
            "anchor_at",
        ),
        (
            "rise_above_nadir",
            {"rise": 2, "units": "ng/mL", "anchor_at": "2026-01-01T09:00:00"},
            "anchor_at",
        ),
        ("consecutive_rises", {"count": 0, "units": "ng/mL"}, "count"),
        ("consecutive_rises", {"count": 3, "units": "ng/mL", "min_rise": -0.1}, "min_rise"),
        ("doubling_time", {"max_months": 0, "units": "ng/mL"}, "max_months"),
        ("doubling_time", {"max_months": 6, "units": "ng/mL", "min_points": 1}, "min_points"),
        ("percentage_rise", {"percent": 0, "units": "ng/mL"}, "percent"),
        ("percentage_rise", {"percent": 25, "units": "ng/mL", "against": "nadir"}, "against"),
        (
            "percentage_rise",
            {"percent": 25, "units": "ng/mL", "against": "baseline", "baseline": 0},
            "baseline",
        ),
    ],
)
def test_a_bad_parameter_is_named(rule_type: str, params: dict[str, Any], bad: str) -> None:
    with pytest.raises(RuleConfigError) as raised:
        evaluate(rule_type, SERIES, params)

    assert raised.value.parameter == bad
    assert str(raised.value).startswith(f"{bad}: ")


def test_params_must_be_an_object() -> None:
    with pytest.raises(RuleConfigError) as raised:
        evaluate("absolute_limit", SERIES, ["threshold", 0.2])

    assert raised.value.parameter == "params"


def test_a_rule_can_be_validated_before_it_is_saved() -> None:
    validate("absolute_limit", {"threshold": 0.2, "confirmations": 2, "units": "ng/mL"})
    with pytest.raises(RuleConfigError, match="confirmations"):
        validate("absolute_limit", {"threshold": 0.2, "confirmations": -1, "units": "ng/mL"})


def test_a_float_threshold_from_json_is_the_decimal_it_was_written_as() -> None:
    finding = evaluate(
        "absolute_limit", [psa("6 Jul 2026", "0.2")], {"threshold": 0.2, "units": "ng/mL"}
    )

    assert finding.breached
    assert finding.details["threshold"] == "0.2"
