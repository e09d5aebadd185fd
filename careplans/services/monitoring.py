"""Monitoring: every result checked against the patient's follow-up plans, and every
scheduled test that does not arrive noticed.

Called inside the transaction that filed the result (through the ``rms`` signals), so a
breach's work item commits with the result or not at all. The rules themselves are pure
functions (``careplans.rules``); this module loads the points, turns findings into work items
and keeps each plan's next due dates current.

Hazards and their controls are in docs/clinical-safety/hazard-log.md. In short:
- a breach is raised once (its work item is keyed by the rule and the breach's own key);
- a correction or deletion that removes the evidence of a breach closes its item, saying so;
  a later, lower result does not (the breach happened and a clinician must see it);
- units that cannot be reconciled never compare: a work item says the rule could not run;
- a paused or ended plan raises nothing; a result of a patient with no plan raises nothing.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable

from django.conf import settings
from django.contrib.auth.models import User
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from careplans.models import FollowUpPlan, PlanTest, Rule
from careplans.rules import Finding, Point, RuleConfigError, Series, UnitError, evaluate
from careplans.schedule import is_blood_test
from careplans.services.radiology import radiology_review_raise
from rms.models import Observation, Patient, Result
from rms.services import system_user
from worklists.models import WorkItem
from worklists.services import (
    work_item_close_by_system,
    work_item_raise,
    work_items_active_for,
    work_items_raise,
)

logger = logging.getLogger("careplans")


def points_for(patient: Patient, test_code: str) -> list[Point]:
    """The patient's numeric results of one test that count: current values (not those a
    correction replaced) of results that are not deleted or cancelled. Read as plain values:
    a patient may have hundreds, and this runs for every result filed."""
    # One filter() (the two exclusions as ~Q: a result is one row, so the same conditions as
    # exclude()), not a copy of the query for each clause.
    rows = (
        Observation.objects.filter(
            ~Q(result__status__in=Result.WITHDRAWN),
            ~Q(status__in=[Observation.Status.DELETED, Observation.Status.CANCELLED]),
            result__patient=patient,
            code__iexact=test_code,
            superseded_at__isnull=True,
            value_numeric__isnull=False,
        )
        .order_by("observed_at", "id")
        .values_list("observed_at", "value_numeric", "comparator", "units", "name")
    )
    return [
        Point(
            at=at,
            value=value.normalize(),  # a Decimal already (DecimalField)
            comparator=comparator,
            units=units,
            label=name,
        )
        for at, value, comparator, units, name in rows
        if value is not None  # excluded by the query; narrows the type
    ]


def _params(rule: Rule, plan: FollowUpPlan) -> dict[str, object]:
    params = dict(rule.params)
    # The nadir is tracked from the patient's own results after treatment: the plan's anchor.
    if rule.rule_type == "rise_above_nadir" and params.get("anchor_at") is None:
        params["anchor_at"] = plan.anchor_date.isoformat()
    return params


def _breach_prefix(rule: Rule) -> str:
    return f"breach:{rule.pk}:"


def _raise_breach(
    rule: Rule, plan: FollowUpPlan, finding: Finding, points: list[Point], actor: User
) -> None:
    evidence = [
        {"at": p.at.isoformat(), "value": f"{p.comparator}{p.value}", "units": p.units}
        for p in finding.evidence
    ]
    work_item_raise(
        kind=WorkItem.Kind.THRESHOLD_BREACH,
        dedupe_key=f"{_breach_prefix(rule)}{finding.key}",
        title=f"{rule.name}",
        explanation=finding.explanation,
        source=f"rule:{rule.pk}",
        actor=actor,
        patient=plan.patient,
        team=plan.team,
        priority=rule.priority,
        details={
            "rule": rule.name,
            "rule_type": rule.rule_type,
            "plan": str(plan.public_id),
            "evaluated_until": points[-1].at.isoformat() if points else None,
            "evidence": evidence,
            "finding": finding.details,
        },
    )


def _close_vanished_breaches(
    rule: Rule,
    plan: FollowUpPlan,
    points: list[Point],
    actor: User,
    items: list[WorkItem],
    finding: Finding,
) -> None:
    """Close the rule's open breach items whose evidence is gone: the rule, run again on the
    results up to the moment it breached, no longer gives the same breach (a correction or a
    deletion changed the history). ``finding`` is the rule's result on all of ``points``."""
    for item in items:
        until_text = (item.details or {}).get("evaluated_until")
        until = dt.datetime.fromisoformat(until_text) if until_text else None
        history = [p for p in points if until is None or p.at <= until]
        if len(history) == len(points):
            # The same points as the evaluation just made: its finding is the answer.
            again = finding
        else:
            try:
                again = evaluate(rule.rule_type, history, _params(rule, plan))
            except (UnitError, RuleConfigError):
                continue
        if again.breached and f"{_breach_prefix(rule)}{again.key}" == item.dedupe_key:
            continue
        work_item_close_by_system(
            item=item,
            actor=actor,
            outcome="Breach removed by a correction",
            note=(
                "A correction or deletion of a result removed the breach this item was raised "
                f"for. On the results as they now stand: {again.explanation}"
            ),
        )


def _cannot_evaluate(rule: Rule, plan: FollowUpPlan, reason: str, key: str, actor: User) -> None:
    work_item_raise(
        kind=WorkItem.Kind.RESULT_TO_REVIEW,
        dedupe_key=key,
        title=f"{rule.name} could not be checked",
        explanation=(
            f"The rule '{rule.name}' could not be evaluated: {reason} The result must be looked "
            "at by a clinician, and the plan or the lab's units corrected."
        ),
        source=f"rule:{rule.pk}",
        actor=actor,
        patient=plan.patient,
        team=plan.team,
        priority=WorkItem.Priority.HIGH,
    )


def _active_plans(patient: Patient) -> list[FollowUpPlan]:
    return list(
        FollowUpPlan.objects.filter(
            patient=patient, status=FollowUpPlan.Status.ACTIVE
        ).select_related("patient", "team")
    )


def evaluate_test(
    *,
    patient: Patient,
    test_code: str,
    actor: User | None = None,
    plans: list[FollowUpPlan] | None = None,
) -> int:
    """Run every active rule on ``test_code`` of the patient's active plans; raise a work item
    per new breach and close those a correction removed. Returns how many rules ran.
    Safe to repeat: a breach already raised is not raised again."""
    who = actor or system_user()
    if plans is None:
        # The rules of the patient's active plans, with their plans, in one query. The plans'
        # patient is ``patient`` (the query says so): not read again with every rule.
        rules = list(
            Rule.objects.filter(
                plan__patient=patient,
                plan__status=FollowUpPlan.Status.ACTIVE,
                active=True,
                test_code__iexact=test_code,
            ).select_related("plan__team")
        )
        for rule in rules:
            if rule.plan:
                rule.plan.patient = patient
        plans = list({rule.plan.pk: rule.plan for rule in rules if rule.plan}.values())
    elif plans:
        rules = list(Rule.objects.filter(plan__in=plans, active=True, test_code__iexact=test_code))
        # Each rule's plan is one of those given, with its patient and team: not read again.
        given = {plan.pk: plan for plan in plans}
        for rule in rules:
            rule.plan = given[rule.plan_id]  # type: ignore[index]
    else:
        return 0
    if not rules:
        return 0
    plans_by_id = {plan.pk: plan for plan in plans}
    points = points_for(patient, test_code)
    # Every rule reads the same points: ordered once, and converted once per rule units.
    series = Series(points)
    # The rules' open breach items, in one query rather than one per rule.
    open_breaches: dict[int, list[WorkItem]] = {}
    prefixes = Q()
    for rule in rules:
        prefixes |= Q(dedupe_key__startswith=_breach_prefix(rule))
    found = list(work_items_active_for(dedupe_prefix="breach:").filter(prefixes).order_by())
    # Oldest first, as work_items_active_for orders them, but sorted here: the same order
    # (a time and an id, no collation), without the ORDER BY that costs Django more to
    # compile than this sort of a few items.
    found.sort(key=lambda item: (item.created_at, item.pk))
    for item in found:
        rule_pk = int(item.dedupe_key.split(":", 2)[1])
        open_breaches.setdefault(rule_pk, []).append(item)
    for rule in rules:
        plan = plans_by_id[rule.plan_id]  # type: ignore[index]
        try:
            finding = evaluate(rule.rule_type, series, _params(rule, plan))
        except UnitError as exc:
            _cannot_evaluate(rule, plan, f"{exc}", f"units:{rule.pk}:{exc.units}", who)
            continue
        except RuleConfigError as exc:
            _cannot_evaluate(
                rule, plan, f"the rule is misconfigured ({exc}).", f"config:{rule.pk}", who
            )
            continue
        open_items = open_breaches.get(rule.pk, [])
        if finding.breached and not any(
            item.dedupe_key == f"{_breach_prefix(rule)}{finding.key}" for item in open_items
        ):
            # (A breach whose item is open already is not raised again: work_item_raise would
            # only find that item.)
            _raise_breach(rule, plan, finding, points, who)
        _close_vanished_breaches(rule, plan, points, who, open_items, finding)
    return len(rules)


def _test_codes(result: Result) -> set[str]:
    return {code.upper() for code in result.observations.values_list("code", flat=True)}


def on_result(*, result: Result) -> None:
    """A result was recorded, corrected or deleted: check it and keep the plans' next due
    dates current (inside the transaction that filed it)."""
    # Most results belong to patients on no plan (a lab feed carries everyone's): one query
    # settles that before anything else is loaded.
    open_plans = FollowUpPlan.objects.filter(
        patient=result.patient,
        status__in=[FollowUpPlan.Status.ACTIVE, FollowUpPlan.Status.PAUSED],
    )
    if not open_plans.exists():
        return
    radiology_review_raise(result=result)
    codes = _test_codes(result)
    # A report (a CT, a colonoscopy) counts for a scheduled test by its service code (OBR-4).
    scheduled = codes | ({result.service_code.upper()} if result.service_code else set())
    if not scheduled:
        return
    actor = system_user()
    active = _active_plans(result.patient)
    for code in codes:
        evaluate_test(patient=result.patient, test_code=code, actor=actor, plans=active)
    from careplans.services.plans import plan_test_refresh

    for plan_test in PlanTest.objects.filter(
        plan__patient=result.patient,
        plan__status__in=[FollowUpPlan.Status.ACTIVE, FollowUpPlan.Status.PAUSED],
        test_code__in=_case_variants(scheduled),
    ).select_related("plan"):
        plan_test_refresh(plan_test=plan_test)


def _case_variants(codes: Iterable[str]) -> list[str]:
    variants: set[str] = set()
    for code in codes:
        variants |= {code, code.upper(), code.lower(), code.title()}
    return sorted(variants)


@transaction.atomic
def overdue_scan(*, today: dt.date | None = None) -> int:
    """Raise a work item for every scheduled test of an active plan not received within its
    grace period after the due date (once per due date). Returns how many were raised.
    Safe to repeat: the due date an item was raised for is remembered on the plan test."""
    day = today or timezone.localdate()
    actor = system_user()
    candidates = (
        PlanTest.objects.filter(plan__status=FollowUpPlan.Status.ACTIVE, next_due_date__lt=day)
        .filter(Q(overdue_raised_for__isnull=True) | ~Q(overdue_raised_for=F("next_due_date")))
        .select_related("plan__patient", "plan__team", "plan__pathway")
        .select_for_update(skip_locked=True, of=("self",))
    )
    raised = 0
    batch: list[PlanTest] = []
    for plan_test in candidates.iterator(chunk_size=_SCAN_BATCH):
        due = plan_test.next_due_date
        if due is None or due + dt.timedelta(days=plan_test.grace_days) >= day:
            continue
        batch.append(plan_test)
        if len(batch) >= _SCAN_BATCH:
            raised += _raise_overdue(batch, day, actor)
            batch = []
    if batch:
        raised += _raise_overdue(batch, day, actor)
    return raised


# Overdue tests are raised in batches: their work items, events and audit entries written
# together, and the due dates remembered in one statement (a few queries per batch).
_SCAN_BATCH = 500


def _raise_overdue(batch: list[PlanTest], day: dt.date, actor: User) -> int:
    items = []
    for plan_test in batch:
        due = plan_test.next_due_date
        if due is None:  # filtered out by the caller; narrows the type
            continue
        plan = plan_test.plan
        items.append(
            {
                "kind": WorkItem.Kind.OVERDUE_TEST,
                "dedupe_key": f"overdue:{plan_test.pk}:{due.isoformat()}",
                "title": f"{plan_test.test_name} overdue",
                "explanation": (
                    f"{plan_test.test_name} was due on {due.day} {due:%b %Y} under the plan "
                    f"'{plan.pathway.name}' and no result has arrived "
                    f"{(day - due).days} days later (grace period {plan_test.grace_days} days)."
                ),
                "source": f"plan_test:{plan_test.pk}",
                "patient": plan.patient,
                "team": plan.team,
                "priority": WorkItem.Priority.NORMAL,
                "due_date": day,
                "details": {"due_date": due.isoformat(), "plan": str(plan.public_id)},
            }
        )
        plan_test.overdue_raised_for = due
    created = work_items_raise(items=items, actor=actor)
    PlanTest.objects.bulk_update(batch, ["overdue_raised_for"])
    return created


def reminders_send(*, today: dt.date | None = None) -> int:
    """Email patients whose test is due in ``MONITORING_REMINDER_DAYS`` days (when set and
    the patient has an email); once per due date. Returns how many were sent."""
    days = settings.MONITORING_REMINDER_DAYS
    if not days:
        return 0
    day = today or timezone.localdate()
    target = day + dt.timedelta(days=days)
    sent = 0
    rows = (
        PlanTest.objects.filter(plan__status=FollowUpPlan.Status.ACTIVE, next_due_date=target)
        .exclude(reminder_sent_for=target)
        .exclude(plan__patient__email="")
        .select_related("plan__patient", "plan__team")
    )
    for plan_test in rows:
        patient = plan_test.plan.patient
        send_mail(
            subject=f"{settings.TRUST_NAME}: your {plan_test.test_name} test is due",
            message=(
                f"Dear {patient.title or ''} {patient.family_name},\n\n"
                f"{_reminder_words(plan_test, target)}"
                f"\n\nIf you have questions, contact {settings.PKB_TEAM_CONTACT}.\n\n"
                f"{plan_test.plan.team.name}\n{settings.TRUST_NAME}\n"
            ),
            from_email=settings.DEFAULT_FROM_EMAIL,
            recipient_list=[patient.email],
        )
        PlanTest.objects.filter(pk=plan_test.pk).update(reminder_sent_for=target)
        sent += 1
    return sent


def _reminder_words(plan_test: PlanTest, due: dt.date) -> str:
    """What the reminder asks for: a blood test is booked by the patient; a scan or an
    endoscopy (``CT_CAP``, ``COLONOSCOPY``, ``MRI``) is arranged by the hospital."""
    when = f"{due.day} {due:%B %Y}"
    if is_blood_test(plan_test.test_code):
        return (
            f"Your next {plan_test.test_name} blood test is due on {when}. Please book it with "
            "your GP surgery or the hospital's phlebotomy service as you usually do."
        )
    return (
        f"Your next {plan_test.test_name} is due on {when}. The hospital arranges it and will "
        "send you an appointment; if you have not had one by then, please contact us."
    )
