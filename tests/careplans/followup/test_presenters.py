from __future__ import annotations

import pytest

from careplans.followup.forms import parse_parameter, show_parameter
from careplans.followup.presenters import ChangePresenter, rule_in_words, step_in_words
from careplans.models import PlanChange, Rule, ScheduleStep


def rule(rule_type: str, test_code: str = "PSA", **params) -> Rule:
    return Rule(name="r", test_code=test_code, rule_type=rule_type, params=params)


@pytest.mark.parametrize(
    ("made", "words"),
    [
        (
            rule("absolute_limit", threshold="0.2", confirmations=2, units="ug/L"),
            "PSA at or above 0.2 ug/L on 2 separate samples in a row",
        ),
        (
            rule("absolute_limit", threshold="1", direction="below", inclusive=False, units="ug/L"),
            "PSA below 1 ug/L",
        ),
        (
            rule("rise_above_nadir", rise="2", units="ug/L"),
            "PSA 2 ug/L or more above its lowest value (nadir) since the start of the episode",
        ),
        (rule("consecutive_rises", count=3, units="ug/L"), "PSA rising on 3 consecutive results"),
        (
            rule("doubling_time", max_months=36, units="ug/L"),
            "PSA doubling time 36 months or less (fitted over at least 3 values of the episode)",
        ),
        (
            rule("percentage_rise", "CEA", percent=30, against="previous", units="ug/L"),
            "CEA 30% or more above the previous result",
        ),
        (
            rule(
                "percentage_rise", "CEA", percent=50, against="baseline", baseline="2", units="ug/L"
            ),
            "CEA 50% or more above a baseline of 2 ug/L",
        ),
    ],
)
def test_it_says_each_rule_in_words(made, words):
    assert rule_in_words(made) == words


@pytest.mark.parametrize(
    ("step", "words"),
    [
        (
            ScheduleStep(from_month=0, until_month=6, every_months=3),
            "Every 3 months from treatment to 6 months",
        ),
        (
            ScheduleStep(from_month=36, until_month=None, every_months=12),
            "Every 12 months from 36 months on",
        ),
        (
            ScheduleStep(from_month=1, until_month=2, every_months=1),
            "Every 1 month from 1 month to 2 months",
        ),
    ],
)
def test_it_says_each_step_in_words(step, words):
    assert step_in_words(step) == words


def test_it_summarises_a_rule_change_by_the_values_that_changed():
    change = PlanChange(
        action="rule_changed",
        details={
            "rule": "PSA limit",
            "params": {
                "before": {"threshold": "0.2", "units": "ug/L"},
                "after": {"threshold": "0.1", "units": "ug/L"},
            },
        },
    )
    assert ChangePresenter(change).summary == "PSA limit: threshold 0.2 → 0.1"


@pytest.mark.parametrize(
    ("text", "value"),
    [("0.2", "0.2"), ("2", 2), (" 12 ", 12), ("true", True), ("False", False), ("ug/L", "ug/L")],
)
def test_the_rule_form_reads_values_as_the_rules_take_them(text, value):
    assert parse_parameter(text) == value
    assert type(parse_parameter(text)) is type(value)


@pytest.mark.parametrize(("value", "text"), [(True, "true"), (2, "2"), ("0.2", "0.2"), (None, "")])
def test_the_rule_form_shows_values_as_they_are_typed(value, text):
    assert show_parameter(value) == text
