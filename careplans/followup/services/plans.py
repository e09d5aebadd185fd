"""Writes to follow-up plans: start one from a pathway, customise it, pause, resume, end.

Each service takes the ``actor`` who acts (a clinician or team admin of one of the patient's
teams, checked here as well as in the views), runs in one transaction, validates before it
writes, and raises ``ValidationError`` keyed by field name when the input is wrong. Every
change is one ``PlanChange`` row with who, when, why and what it was before and after, and
leaves the affected tests' next due dates recomputed. Repeating a call that changes nothing
changes nothing and records nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from dateutil.relativedelta import relativedelta
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from careplans.followup import schedule, selectors
from careplans.followup.rules import RuleConfigError, validate
from careplans.library import services as library
from careplans.models import (
    FollowUpPlan,
    Pathway,
    PlanChange,
    PlanTest,
    Rule,
    ScheduleStep,
    TreatmentEvent,
)
from rms import permissions
from rms.models import Diagnosis, Patient, Team
from rms.models.teams import TumourSite

# An anchor further back than this is almost certainly a typing error (1994 for 2024).
MAX_ANCHOR_YEARS = 30
# Ten years between tests is the longest interval a follow-up schedule plausibly needs.
MAX_INTERVAL_MONTHS = 120
REASON_MAX = 2000

OPEN = (FollowUpPlan.Status.ACTIVE, FollowUpPlan.Status.PAUSED)


def _clean_reason(reason: str) -> str:
    text = (reason or "").strip()
    if not text:
        raise ValidationError({"reason": "Say why: the reason is kept with the plan's history."})
    if len(text) > REASON_MAX:
        raise ValidationError({"reason": f"Keep the reason to {REASON_MAX} characters."})
    return text


def _clean_every_months(every_months: Any) -> int:
    if isinstance(every_months, bool) or not isinstance(every_months, int):
        raise ValidationError({"every_months": "Give the interval as a whole number of months."})
    if not 1 <= every_months <= MAX_INTERVAL_MONTHS:
        raise ValidationError(
            {"every_months": f"The interval must be 1 to {MAX_INTERVAL_MONTHS} months."}
        )
    return every_months


def _team_for(patient: Patient, actor: User, team: Team | None) -> Team:
    chosen = permissions.require_write(user=actor, patient=patient)
    if team is not None:
        if not permissions.writable_teams(user=actor, patient=patient).filter(pk=team.pk).exists():
            raise ValidationError(
                {"team": "Choose one of the patient's teams in which you are a clinician."}
            )
        return team
    return chosen


def _check_anchor(anchor_date: Any, *, born: dt.date | None = None) -> dt.date:
    if isinstance(anchor_date, dt.datetime) or not isinstance(anchor_date, dt.date):
        raise ValidationError({"anchor_date": "Give the anchor (treatment) date as a date."})
    if born is not None and anchor_date < born:
        raise ValidationError(
            {"anchor_date": "The anchor (treatment) date is before the patient's date of birth."}
        )
    today = timezone.localdate()
    if anchor_date > today:
        raise ValidationError(
            {"anchor_date": "The anchor (treatment) date cannot be in the future."}
        )
    if anchor_date < today - relativedelta(years=MAX_ANCHOR_YEARS):
        raise ValidationError(
            {
                "anchor_date": f"The anchor (treatment) date cannot be more than "
                f"{MAX_ANCHOR_YEARS} years ago."
            }
        )
    return anchor_date


def _lock(plan: FollowUpPlan) -> FollowUpPlan:
    """Serialise changes to one plan, and read its state as it is now (not as the caller's
    copy says): two clinicians pressing "end" at once record one ending."""
    FollowUpPlan.objects.select_for_update().filter(pk=plan.pk).first()
    plan.refresh_from_db(fields=["status", "ended_at", "anchor_date"])
    return plan


def _require_open(plan: FollowUpPlan) -> None:
    if plan.status == FollowUpPlan.Status.ENDED:
        raise ValidationError(
            {"status": "This plan has ended and cannot be changed; start a new plan instead."}
        )


def _record(
    plan: FollowUpPlan, actor: User, action: str, reason: str, details: dict[str, Any]
) -> PlanChange:
    return PlanChange.objects.create(
        plan=plan, actor=actor, action=action, reason=reason, details=details
    )


def _step_data(step: ScheduleStep) -> dict[str, Any]:
    return {
        "test_code": step.test_code,
        "from_month": step.from_month,
        "until_month": step.until_month,
        "every_months": step.every_months,
    }


def _rule_data(rule: Rule) -> dict[str, Any]:
    return {
        "name": rule.name,
        "test_code": rule.test_code,
        "rule_type": rule.rule_type,
        "params": rule.params,
        "priority": rule.priority,
    }


def _steps_of(plan: FollowUpPlan, test_code: str) -> list[ScheduleStep]:
    # Read afresh, not from a prefetch: the caller may have just changed a step.
    return [
        step
        for step in ScheduleStep.objects.filter(plan=plan, test_code__iexact=test_code)
        if step.test_code.casefold() == test_code.casefold()
    ]


def _refresh(plan_test: PlanTest, plan: FollowUpPlan) -> PlanTest:
    latest = selectors.latest_done_at(
        patient=plan.patient, test_code=plan_test.test_code, since=plan.anchor_date
    )
    confirm_by, confirm_after = plan_test.confirm_by, plan_test.confirm_after
    if confirm_by is not None and _repeated(latest, confirm_after):
        # The repeat arrived (whatever it showed): the wait for it is over. Monitoring asks
        # again if the new value needs confirming in its turn.
        confirm_by = confirm_after = None
    steps = _steps_of(plan, plan_test.test_code)
    if plan.status == FollowUpPlan.Status.ENDED:
        # An ended plan asks for nothing: no due date, so no overdue item and no reminder.
        due = None
        confirm_by = confirm_after = None
    else:
        last = timezone.localdate(latest) if latest is not None else None
        started = timezone.localdate(plan.started_at) if plan.started_at else None
        due = schedule.due_after(steps, anchor=plan.anchor_date, last=last, start=started)
        if confirm_by is not None:
            # Awaiting confirmation: the repeat is due by its date if that is sooner than the
            # grid's (and even after a schedule that has ended).
            due = confirm_by if due is None else min(due, confirm_by)
    step = None
    if due is not None:
        step = schedule.step_on(steps, anchor=plan.anchor_date, day=due)
    if step is None and steps:
        step = min(steps, key=lambda s: s.from_month)
    grace = step.grace_days if step is not None else plan_test.grace_days
    before = (
        plan_test.next_due_date,
        plan_test.last_result_at,
        plan_test.grace_days,
        plan_test.confirm_by,
        plan_test.confirm_after,
    )
    if before != (due, latest, grace, confirm_by, confirm_after):
        plan_test.next_due_date = due
        plan_test.last_result_at = latest
        plan_test.grace_days = grace
        plan_test.confirm_by = confirm_by
        plan_test.confirm_after = confirm_after
        plan_test.save(
            update_fields=[
                "next_due_date",
                "last_result_at",
                "grace_days",
                "confirm_by",
                "confirm_after",
            ]
        )
    return plan_test


def _repeated(latest: dt.datetime | None, confirm_after: dt.datetime | None) -> bool:
    """Whether a result of the test was taken after the one that asked for a repeat."""
    if latest is None:
        return False
    return confirm_after is None or latest > confirm_after


def _refresh_tests(plan: FollowUpPlan, test_codes: Iterable[str] | None = None) -> None:
    tests = PlanTest.objects.filter(plan=plan)
    wanted = None if test_codes is None else {code.casefold() for code in test_codes}
    for plan_test in tests:
        if wanted is None or plan_test.test_code.casefold() in wanted:
            _refresh(plan_test, plan)


@transaction.atomic
def plan_test_refresh(*, plan_test: PlanTest) -> PlanTest:
    """Recompute one scheduled test's next due date (and last result) from the latest result
    of the test since the anchor that counts. Writes only when something changed; safe to
    repeat. Called by monitoring after every result, its correction or deletion."""
    return _refresh(plan_test, plan_test.plan)


@transaction.atomic
def plan_test_confirm_by(
    *, plan: FollowUpPlan, test_code: str, repeat_by: dt.date | None
) -> PlanTest | None:
    """Awaiting confirmation: ask for the plan's test ``test_code`` to be repeated by
    ``repeat_by`` (None: the wait is over), and recompute its next due date, which becomes
    the earlier of the grid date and ``repeat_by`` until a result of the test taken after the
    newest one now on record arrives. Called by monitoring when a first value over a
    threshold needs confirming. Returns the plan's test, or None when the plan does not
    schedule that test (nothing to bring forward). Safe to repeat."""
    if repeat_by is not None and (
        isinstance(repeat_by, dt.datetime) or not isinstance(repeat_by, dt.date)
    ):
        raise ValidationError({"repeat_by": "Give the repeat-by date as a date."})
    plan_test = next(
        (
            test
            for test in PlanTest.objects.select_for_update().filter(
                plan=plan, test_code__iexact=test_code.strip()
            )
            if test.test_code.casefold() == test_code.strip().casefold()
        ),
        None,
    )
    if plan_test is None:
        return None
    if repeat_by is None:
        if plan_test.confirm_by is None and plan_test.confirm_after is None:
            return plan_test  # nothing awaited, nothing to change (monitoring asks each time)
        confirm_after = None
    else:
        # The result that asked for the repeat is the newest on record (monitoring runs in
        # the transaction that filed it); only a result taken after it ends the wait.
        confirm_after = selectors.latest_done_at(
            patient=plan.patient, test_code=plan_test.test_code, since=plan.anchor_date
        )
    if (plan_test.confirm_by, plan_test.confirm_after) != (repeat_by, confirm_after):
        plan_test.confirm_by, plan_test.confirm_after = repeat_by, confirm_after
        plan_test.save(update_fields=["confirm_by", "confirm_after"])
    return _refresh(plan_test, plan)


def pathway_mismatch(*, patient: Patient, pathway: Pathway) -> str | None:
    """A warning, not a refusal: the pathway is for a tumour site none of the patient's
    recorded diagnoses has (a diagnosis entered in error does not count). None when a
    diagnosis matches, or when no diagnosis records a tumour site (nothing to compare)."""
    sites = set(
        patient.diagnoses.exclude(status=Diagnosis.Status.ENTERED_IN_ERROR)
        .exclude(tumour_site="")
        .values_list("tumour_site", flat=True)
    )
    if not sites or pathway.tumour_site in sites:
        return None
    choices = dict(TumourSite.choices)
    recorded = ", ".join(sorted(str(choices.get(site, site)) for site in sites))
    return (
        f"{pathway.name} is a {choices.get(pathway.tumour_site, pathway.tumour_site)} pathway; "
        f"the patient's recorded diagnosis is {recorded}. Check that this is the right pathway."
    )


def pathway_copy(
    *, plan: FollowUpPlan, steps: Iterable[ScheduleStep], rules: Iterable[Rule]
) -> tuple[list[ScheduleStep], list[Rule]]:
    """The plan's own copies of a pathway's schedule steps and rules, unsaved: the one way a
    pathway is copied onto a plan (``plan_start`` saves them, the scale loader writes them in
    bulk). Writes nothing."""
    step_copies = [
        ScheduleStep(
            plan=plan,
            test_code=step.test_code,
            test_name=step.test_name,
            from_month=step.from_month,
            until_month=step.until_month,
            every_months=step.every_months,
            grace_days=step.grace_days,
        )
        for step in steps
    ]
    rule_copies = [
        Rule(
            plan=plan,
            name=rule.name,
            code=rule.code,
            test_code=rule.test_code,
            rule_type=rule.rule_type,
            params=rule.params,
            priority=rule.priority,
            active=rule.active,
            description=rule.description,
        )
        for rule in rules
    ]
    return step_copies, rule_copies


@transaction.atomic
def plan_start(
    *,
    patient: Patient,
    pathway: Pathway,
    anchor_date: dt.date,
    actor: User,
    team: Team | None = None,
) -> FollowUpPlan:
    """Start ``pathway`` for ``patient`` from ``anchor_date`` (the treatment date): the
    pathway's schedule and rules are copied onto the plan, each test's first due date set, and
    the start recorded. Safe to repeat: a patient's open plan on the pathway is returned as is."""
    chosen_team = _team_for(patient, actor, team)
    anchor = _check_anchor(anchor_date, born=patient.date_of_birth)
    if not pathway.active:
        raise ValidationError({"pathway": "This pathway is no longer offered."})
    # Serialise starts for one patient: two clinicians starting the same pathway make one plan.
    Patient.objects.select_for_update().filter(pk=patient.pk).first()
    existing = selectors.plan_open(patient=patient, pathway=pathway)
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            plan = FollowUpPlan.objects.create(
                patient=patient,
                team=chosen_team,
                pathway=pathway,
                anchor_date=anchor,
                started_by=actor,
            )
    except IntegrityError:
        # Another start won the race (a database without row locks); theirs is the plan.
        existing = selectors.plan_open(patient=patient, pathway=pathway)
        if existing is None:
            raise
        return existing

    steps = list(pathway.schedule.order_by("test_code", "from_month", "id"))
    rules = list(pathway.rules.order_by("test_code", "name", "id"))
    step_copies, rule_copies = pathway_copy(plan=plan, steps=steps, rules=rules)
    # Saved one by one, not in bulk: each copy is a clinical record with its own audit entry.
    for copy in [*step_copies, *rule_copies]:
        copy.save()
    tests: dict[str, ScheduleStep] = {}
    for step in steps:
        tests.setdefault(step.test_code.casefold(), step)
    for first in tests.values():
        plan_test = PlanTest.objects.create(
            plan=plan,
            test_code=first.test_code,
            test_name=first.test_name,
            grace_days=first.grace_days,
        )
        _refresh(plan_test, plan)
    _record(
        plan,
        actor,
        "started",
        "",
        {
            "pathway": pathway.code,
            "anchor_date": anchor.isoformat(),
            "team": chosen_team.code,
            "schedule": [_step_data(step) for step in steps],
            "rules": [_rule_data(rule) for rule in rules],
        },
    )
    library.on_plan_started(plan=plan, actor=actor)
    return plan


@transaction.atomic
def plan_pause(*, plan: FollowUpPlan, actor: User, reason: str) -> FollowUpPlan:
    """Pause the plan: its rules are not run and its tests not chased until it resumes.
    Safe to repeat: pausing a paused plan changes nothing."""
    permissions.require_write(user=actor, patient=plan.patient)
    text = _clean_reason(reason)
    plan = _lock(plan)
    if plan.status == FollowUpPlan.Status.PAUSED:
        return plan
    _require_open(plan)
    plan.status = FollowUpPlan.Status.PAUSED
    plan.save(update_fields=["status"])
    _record(plan, actor, "paused", text, {"status": {"before": "active", "after": "paused"}})
    return plan


@transaction.atomic
def plan_resume(*, plan: FollowUpPlan, actor: User, reason: str) -> FollowUpPlan:
    """Resume a paused plan, with its tests' due dates recomputed from the latest results.
    Safe to repeat: resuming an active plan changes nothing."""
    permissions.require_write(user=actor, patient=plan.patient)
    text = _clean_reason(reason)
    plan = _lock(plan)
    if plan.status == FollowUpPlan.Status.ACTIVE:
        return plan
    _require_open(plan)
    plan.status = FollowUpPlan.Status.ACTIVE
    plan.save(update_fields=["status"])
    _refresh_tests(plan)
    _record(plan, actor, "resumed", text, {"status": {"before": "paused", "after": "active"}})
    return plan


@transaction.atomic
def plan_end(*, plan: FollowUpPlan, actor: User, reason: str) -> FollowUpPlan:
    """End the plan for good (its tests are no longer due); a new plan on the same pathway
    can then be started. Safe to repeat: ending an ended plan changes nothing."""
    permissions.require_write(user=actor, patient=plan.patient)
    text = _clean_reason(reason)
    plan = _lock(plan)
    if plan.status == FollowUpPlan.Status.ENDED:
        return plan
    before = plan.status
    plan.status = FollowUpPlan.Status.ENDED
    plan.ended_at = timezone.now()
    plan.save(update_fields=["status", "ended_at"])
    _refresh_tests(plan)
    _record(plan, actor, "ended", text, {"status": {"before": before, "after": "ended"}})
    return plan


@transaction.atomic
def plan_set_interval(
    *, plan: FollowUpPlan, step: ScheduleStep, every_months: int, actor: User, reason: str
) -> ScheduleStep:
    """Change how often a test is due in one phase of this patient's plan, and recompute the
    test's next due date. Safe to repeat: the same interval again changes nothing."""
    permissions.require_write(user=actor, patient=plan.patient)
    text = _clean_reason(reason)
    months = _clean_every_months(every_months)
    plan = _lock(plan)
    _require_open(plan)
    if step.plan_id != plan.pk:
        raise ValidationError({"step": "This schedule step is not part of this plan."})
    step = ScheduleStep.objects.select_for_update().get(pk=step.pk)
    before = step.every_months
    if before == months:
        return step
    step.every_months = months
    step.save(update_fields=["every_months"])
    _refresh_tests(plan, [step.test_code])
    _record(
        plan,
        actor,
        "interval_changed",
        text,
        {
            "test_code": step.test_code,
            "from_month": step.from_month,
            "until_month": step.until_month,
            "every_months": {"before": before, "after": months},
        },
    )
    return step


@transaction.atomic
def plan_set_rule_params(
    *, plan: FollowUpPlan, rule: Rule, params: Mapping[str, Any], actor: User, reason: str
) -> Rule:
    """Change the values of one of this patient's rules (a limit, a count, a doubling time),
    checked by ``careplans.followup.rules`` first; a bad value is a ValidationError on
    ``params`` that names the parameter (its code is the parameter's name). Safe to repeat."""
    permissions.require_write(user=actor, patient=plan.patient)
    text = _clean_reason(reason)
    plan = _lock(plan)
    _require_open(plan)
    if rule.plan_id != plan.pk:
        raise ValidationError({"rule": "This rule is not part of this plan."})
    rule = Rule.objects.select_for_update().get(pk=rule.pk)
    if not isinstance(params, Mapping):
        raise ValidationError({"params": "Give the rule's values as an object of names."})
    new = dict(params)
    try:
        validate(rule.rule_type, new)
    except RuleConfigError as exc:
        raise ValidationError({"params": ValidationError(str(exc), code=exc.parameter)}) from None
    before = rule.params
    if before == new:
        return rule
    rule.params = new
    rule.save(update_fields=["params"])
    # Rules do not move due dates; nothing to recompute. Monitoring uses the new values from
    # the next result on.
    _record(
        plan,
        actor,
        "rule_changed",
        text,
        {
            "rule": rule.name,
            "rule_type": rule.rule_type,
            "test_code": rule.test_code,
            "params": {"before": before, "after": new},
        },
    )
    return rule


@transaction.atomic
def plan_add_test(
    *,
    plan: FollowUpPlan,
    test_code: str,
    test_name: str,
    every_months: int,
    actor: User,
    reason: str,
) -> PlanTest:
    """Add a test to this patient's plan, due every ``every_months`` from now on: a phase from
    this month (whole months since the anchor) whose grid gives the first test one interval
    after it; a result of the test taken near the start of the phase does not count for that
    first test. Refuses a test already in the plan: change its interval instead."""
    permissions.require_write(user=actor, patient=plan.patient)
    text = _clean_reason(reason)
    months = _clean_every_months(every_months)
    code = (test_code or "").strip()
    name = (test_name or "").strip() or code
    if not code:
        raise ValidationError({"test_code": "Give the test's code, as the lab sends it (OBX-3)."})
    if len(code) > 40:
        raise ValidationError({"test_code": "A test code has at most 40 characters."})
    if len(name) > 100:
        raise ValidationError({"test_name": "A test name has at most 100 characters."})
    plan = _lock(plan)
    _require_open(plan)
    if PlanTest.objects.filter(plan=plan, test_code__iexact=code).exists():
        raise ValidationError(
            {"test_code": f"{code} is already in this plan: change its interval instead."}
        )
    # The new test's schedule starts this month: counting from the anchor would make it
    # overdue at once on a plan that began years ago.
    since = relativedelta(max(timezone.localdate(), plan.anchor_date), plan.anchor_date)
    from_month = since.years * 12 + since.months
    step = ScheduleStep.objects.create(
        plan=plan,
        test_code=code,
        test_name=name,
        from_month=from_month,
        every_months=months,
    )
    plan_test = PlanTest.objects.create(
        plan=plan, test_code=code, test_name=name, grace_days=step.grace_days
    )
    _refresh(plan_test, plan)
    _record(
        plan,
        actor,
        "test_added",
        text,
        {"test_name": name, **_step_data(step)},
    )
    return plan_test


@transaction.atomic
def plan_record_event(
    *, plan: FollowUpPlan, kind: str, on: dt.date, actor: User, reason: str
) -> TreatmentEvent:
    """Record a treatment given after the plan's anchor (salvage radiotherapy, hormone therapy
    started or stopped, further surgery). It starts a new episode: the plan's rules judge only
    the results from its date on (a nadir after salvage radiotherapy is that treatment's nadir;
    a doubling time does not fit across it). The patient's tests are judged again at once."""
    permissions.require_write(user=actor, patient=plan.patient)
    text = _clean_reason(reason)
    plan = _lock(plan)
    _require_open(plan)
    if kind not in TreatmentEvent.Kind.values:
        raise ValidationError({"kind": "Choose the treatment from the list."})
    if not isinstance(on, dt.date):
        raise ValidationError({"on": "Give the date of the treatment."})
    if on < plan.anchor_date:
        raise ValidationError(
            {"on": "A treatment before the plan's anchor date is not a new episode of this plan."}
        )
    if on > timezone.localdate():
        raise ValidationError({"on": "Record a treatment once it has started, not before."})
    event = TreatmentEvent.objects.create(plan=plan, kind=kind, on=on, note=text, recorded_by=actor)
    _record(
        plan,
        actor,
        "treatment_recorded",
        text,
        {"kind": kind, "label": event.get_kind_display(), "on": on.isoformat()},
    )
    from careplans.followup.services import monitoring

    monitoring.evaluate_tests(
        patient=plan.patient,
        test_codes=[rule.test_code for rule in plan.rules.filter(active=True)],
        plans=[plan] if plan.status == FollowUpPlan.Status.ACTIVE else [],
    )
    return event
