"""Display logic of the follow-up plan pages: plans, schedules and rules in words.

Plain classes the templates read, so templates need no custom tags and this logic can be
tested without rendering. Presenters never query beyond what the selectors prefetched.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from careplans.models import FollowUpPlan, PlanChange, PlanTest, Priority, Rule, ScheduleStep
from rms.presenters import format_date, format_datetime


def _months(count: int) -> str:
    return "1 month" if count == 1 else f"{count} months"


def _value(params: Mapping[str, Any], name: str, default: Any = None) -> str:
    value = params.get(name, default)
    return "" if value is None else str(value)


def step_in_words(step: ScheduleStep) -> str:
    """'Every 3 months from treatment to 6 months', 'every 12 months from 36 months on'."""
    start = "treatment" if step.from_month == 0 else _months(step.from_month)
    if step.until_month is None:
        span = f"from {start} on"
    else:
        span = f"from {start} to {_months(step.until_month)}"
    return f"Every {_months(step.every_months)} {span}"


def rule_in_words(rule: Rule) -> str:
    """What the rule looks for, as a clinician would say it."""
    params: Mapping[str, Any] = rule.params if isinstance(rule.params, Mapping) else {}
    test = rule.test_code
    units = _value(params, "units")
    kind = rule.rule_type
    if kind == "absolute_limit":
        below = params.get("direction") == "below"
        inclusive = params.get("inclusive", True) is not False
        relation = ("at or below" if inclusive else "below") if below else None
        if relation is None:
            relation = "at or above" if inclusive else "above"
        text = f"{test} {relation} {_value(params, 'threshold')} {units}"
        confirmations = params.get("confirmations", 1)
        if isinstance(confirmations, int) and confirmations > 1:
            text += f" on {confirmations} separate samples in a row"
        if params.get("from_day") is not None or params.get("until_day") is not None:
            text += (
                f" between day {params.get('from_day') or 0} and day "
                f"{_value(params, 'until_day') or 'any'} after treatment"
            )
        return text
    if kind in ("rise_above_nadir", "castration_resistance"):
        since = _value(params, "anchor_at") or "the start of the episode"
        text = (
            f"{test} {_value(params, 'rise') or '2'} {units} or more above its lowest value "
            f"(nadir) since {since}"
        )
        if params.get("min_percent") is not None or kind == "castration_resistance":
            text += f" and {_value(params, 'min_percent') or '25'}% above it"
        if params.get("failure_within_months") is not None:
            text += f", within {params['failure_within_months']} months of treatment"
        if kind == "castration_resistance":
            text += ", confirmed, with castrate testosterone"
        return text
    if kind == "velocity":
        return (
            f"{test} velocity more than {_value(params, 'max_per_year')} {units} a year "
            f"(least squares over the last {params.get('window_months', 24)} months)"
        )
    if kind == "consecutive_rises":
        count = params.get("count")
        text = f"{test} rising on {count} consecutive results"
        if params.get("min_rise") not in (None, 0, "0"):
            text += f" (each by more than {_value(params, 'min_rise')} {units})"
        return text
    if kind == "doubling_time":
        points = params.get("min_points", 3)
        return (
            f"{test} doubling time {_value(params, 'max_months')} months or less "
            f"(fitted over at least {points} values of the episode)"
        )
    if kind == "percentage_rise":
        if params.get("against") == "baseline":
            baseline = params.get("baseline")
            reference = (
                f"a baseline of {baseline} {units}"
                if baseline is not None
                else "the first result after the anchor date"
            )
        else:
            reference = "the previous result"
        return f"{test} {_value(params, 'percent')}% or more above {reference}"
    return f"{rule.get_rule_type_display()} on {test}"


class TestPresenter:
    """One scheduled test of a plan and when it is next due."""

    __test__ = False  # not a pytest class, whatever its name

    def __init__(self, plan_test: PlanTest, *, today: dt.date, plan_active: bool) -> None:
        self.plan_test = plan_test
        self.today = today
        self.plan_active = plan_active

    @property
    def name(self) -> str:
        return self.plan_test.test_name

    @property
    def code(self) -> str:
        return self.plan_test.test_code

    @property
    def next_due(self) -> str:
        due = self.plan_test.next_due_date
        return format_date(due) if due else "Not due (schedule ended)"

    @property
    def repeat_by(self) -> str:
        """Awaiting confirmation: "repeat PSA by 21 Aug 2024" (blank when not awaiting)."""
        repeat = self.plan_test.confirm_by
        if repeat is None:
            return ""
        return f"repeat {self.plan_test.test_name} by {repeat.day} {repeat:%b %Y}"

    @property
    def is_overdue(self) -> bool:
        due = self.plan_test.next_due_date
        return bool(
            self.plan_active
            and due is not None
            and due + dt.timedelta(days=self.plan_test.grace_days) < self.today
        )

    @property
    def last_result(self) -> str:
        return format_datetime(self.plan_test.last_result_at) or "None since the anchor date"


class RulePresenter:
    def __init__(self, rule: Rule) -> None:
        self.rule = rule

    @property
    def name(self) -> str:
        return self.rule.name

    @property
    def words(self) -> str:
        return rule_in_words(self.rule)

    @property
    def priority(self) -> str:
        return Priority(self.rule.priority).label

    @property
    def is_urgent(self) -> bool:
        return self.rule.priority == Priority.URGENT

    @property
    def active(self) -> bool:
        return self.rule.active

    @property
    def description(self) -> str:
        return self.rule.description


class StepPresenter:
    def __init__(self, step: ScheduleStep) -> None:
        self.step = step

    @property
    def test(self) -> str:
        return self.step.test_name

    @property
    def words(self) -> str:
        return step_in_words(self.step)


class PlanPresenter:
    """A plan as the panel and the plan page show it."""

    def __init__(self, plan: FollowUpPlan, *, today: dt.date) -> None:
        self.plan = plan
        self.today = today

    @property
    def public_id(self) -> str:
        return str(self.plan.public_id)

    @property
    def pathway(self) -> str:
        return self.plan.pathway.name

    @property
    def pathway_code(self) -> str:
        return self.plan.pathway.code

    @property
    def pathway_description(self) -> str:
        return self.plan.pathway.description

    @property
    def status(self) -> str:
        return self.plan.get_status_display()

    @property
    def is_active(self) -> bool:
        return self.plan.status == FollowUpPlan.Status.ACTIVE

    @property
    def is_paused(self) -> bool:
        return self.plan.status == FollowUpPlan.Status.PAUSED

    @property
    def is_open(self) -> bool:
        return self.plan.status != FollowUpPlan.Status.ENDED

    @property
    def anchor_date(self) -> str:
        return format_date(self.plan.anchor_date)

    @property
    def team(self) -> str:
        return self.plan.team.name

    @property
    def started(self) -> str:
        user = self.plan.started_by
        who = user.get_full_name() or user.get_username()
        return f"{format_datetime(self.plan.started_at)} by {who}"

    @property
    def ended_at(self) -> str:
        return format_datetime(self.plan.ended_at)

    @property
    def tests(self) -> list[TestPresenter]:
        return [
            TestPresenter(test, today=self.today, plan_active=self.is_active)
            for test in self.plan.tests.all()
        ]

    @property
    def schedule(self) -> list[StepPresenter]:
        return [StepPresenter(step) for step in self.plan.schedule.all()]

    @property
    def treatment(self) -> str:
        """The treatment the follow-up now counts from: the latest treatment recorded on the
        plan (salvage radiotherapy...), else the pathway's treatment on the anchor date."""
        events = list(self.plan.events.all())
        if events:
            latest = max(events, key=lambda event: (event.on, event.pk))
            return f"{latest.get_kind_display()} on {format_date(latest.on)}"
        return f"{self.plan.pathway.treatment} on {self.anchor_date}"

    @property
    def next_test(self) -> TestPresenter | None:
        """The test due soonest (None when the schedule has ended for every test)."""
        due = [test for test in self.plan.tests.all() if test.next_due_date is not None]
        if not due:
            return None
        soonest = min(due, key=lambda test: (test.next_due_date, test.pk))
        return TestPresenter(soonest, today=self.today, plan_active=self.is_active)

    @property
    def rules(self) -> list[RulePresenter]:
        return [RulePresenter(rule) for rule in self.plan.rules.all()]


ACTIONS = {
    "started": "Started",
    "paused": "Paused",
    "resumed": "Resumed",
    "ended": "Ended",
    "interval_changed": "Interval changed",
    "rule_changed": "Rule changed",
    "test_added": "Test added",
}


class ChangePresenter:
    """One row of a plan's history."""

    def __init__(self, change: PlanChange) -> None:
        self.change = change

    @property
    def at(self) -> str:
        return format_datetime(self.change.at)

    @property
    def actor(self) -> str:
        user = self.change.actor
        return user.get_full_name() or user.get_username()

    @property
    def action(self) -> str:
        return ACTIONS.get(self.change.action, self.change.action.replace("_", " ").capitalize())

    @property
    def reason(self) -> str:
        return self.change.reason

    @property
    def summary(self) -> str:
        details = self.change.details or {}
        action = self.change.action
        if action == "started":
            return f"Pathway {details.get('pathway', '')} from {details.get('anchor_date', '')}"
        if action == "interval_changed":
            months = details.get("every_months", {})
            return (
                f"{details.get('test_code', '')} from month {details.get('from_month', '')}: "
                f"every {months.get('before')} months → every {months.get('after')} months"
            )
        if action == "rule_changed":
            params = details.get("params", {})
            before, after = params.get("before", {}), params.get("after", {})
            changed = sorted(set(before) | set(after))
            parts = [
                f"{name} {before.get(name, '(default)')} → {after.get(name, '(default)')}"
                for name in changed
                if before.get(name) != after.get(name)
            ]
            return f"{details.get('rule', '')}: {', '.join(parts)}"
        if action == "treatment_recorded":
            return f"{details.get('label', '')} on {details.get('on', '')}: a new episode"
        if action == "test_added":
            return (
                f"{details.get('test_name', '')} every {details.get('every_months', '')} months "
                f"from month {details.get('from_month', '')}"
            )
        return ""
