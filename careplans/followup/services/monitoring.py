"""Monitoring: every result checked against the patient's follow-up plans, and every
scheduled test that does not arrive noticed.

Called inside the transaction that filed the result (through the ``rms`` signals), so a
breach's work item commits with the result or not at all. The rules themselves are pure
functions (``careplans.followup.rules``); this module loads the points, turns findings into
work items and keeps each plan's next due dates current.

Hazards and their controls are in docs/clinical-safety/hazard-log.md. In short:
- a breach is raised once: a ``RaisedBreach`` row remembers each (rule, key), and the key names
  the evidence, so the same evidence never raises twice and new evidence always raises anew,
  whatever became of an earlier item (a closed item never silences a rule);
- the breaches one result reveals are one work item listing each rule and its evidence;
- a first value over a line that needs confirming raises a "repeat by" item and brings the
  test's due date forward; the confirmation (or the value that ends the wait) closes it;
- a correction or deletion that removes the evidence of a breach closes its item, saying so;
  a later, lower result does not (the breach happened and a clinician must see it);
- the plan's anchor bounds the evidence, and a treatment event recorded on the plan starts a
  new episode: rules judge only the results taken on or after the later of the two;
- a point whose units cannot be reconciled, or whose value cannot be read as a number, is set
  aside with a work item naming that result; the rest of the series is still judged;
- a paused or ended plan raises nothing; a result of a patient with no plan raises nothing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.models import User
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from careplans.followup.rules import (
    Finding,
    Point,
    RuleConfigError,
    Series,
    UnitError,
    evaluate,
    parameters,
    related_tests,
    unusable,
)
from careplans.followup.rules.common import DISPLAY_TIME_ZONE, format_date, format_day
from careplans.followup.schedule import is_blood_test
from careplans.followup.services.radiology import radiology_review_raise
from careplans.models import FollowUpPlan, PlanTest, RaisedBreach, Rule, TreatmentEvent
from careplans.work_item_keys import (
    AwaitingKey,
    BreachKey,
    OverdueKey,
    RuleConfigKey,
    SetAsideKey,
    UnreadableKey,
)
from rms.models import Observation, Patient, Result
from rms.services import system_user
from worklists.due import waiting_since as waited_from
from worklists.keys import WorkItemKey
from worklists.models import WorkItem
from worklists.services import (
    work_item_close_by_system,
    work_item_raise,
    work_items_active_for,
    work_items_raise,
)

logger = logging.getLogger("careplans")


def _counted_observations(patient: Patient, test_code: str) -> QuerySet[Observation]:
    # One filter() (the exclusions as ~Q: a result is one row, so the same conditions as
    # exclude()), not a copy of the query for each clause.
    return Observation.objects.filter(
        ~Q(result__status__in=Result.WITHDRAWN),
        ~Q(status__in=[Observation.Status.DELETED, Observation.Status.CANCELLED]),
        result__patient=patient,
        code__iexact=test_code,
        superseded_at__isnull=True,
    )


def points_for(patient: Patient, test_code: str) -> list[Point]:
    """The patient's numeric results of one test that count: current values (not those a
    correction replaced) of results that are not deleted or cancelled. Read as plain values:
    a patient may have hundreds, and this runs for every result filed. Each point's ``ref`` is
    its observation's id, so a point set aside can be named."""
    rows = (
        _counted_observations(patient, test_code)
        .filter(value_numeric__isnull=False)
        .order_by("observed_at", "id")
        .values_list("observed_at", "value_numeric", "comparator", "units", "name", "id")
    )
    return [
        Point(
            at=at,
            value=value.normalize(),  # a Decimal already (DecimalField)
            comparator=comparator,
            units=units,
            label=name,
            ref=str(pk),
        )
        for at, value, comparator, units, name, pk in rows
        if value is not None  # excluded by the query; narrows the type
    ]


def _unreadable(patient: Patient, test_code: str) -> list[Observation]:
    """The results of a test that count but whose value could not be read as a number."""
    return list(
        _counted_observations(patient, test_code)
        .filter(value_numeric__isnull=True)
        .exclude(value_text="")
        .select_related("result")
        .order_by("observed_at", "id")
    )


def episode_start(plan: FollowUpPlan, events: Sequence[TreatmentEvent] = ()) -> dt.date:
    """The first day whose results the plan's rules judge: the anchor, or the latest treatment
    event recorded on the plan (a new treatment starts a new episode)."""
    days = [plan.anchor_date, *(event.on for event in events)]
    return max(days)


def _start_of(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=DISPLAY_TIME_ZONE)


def _params(rule: Rule, plan: FollowUpPlan, start: dt.date) -> dict[str, object]:
    params = dict(rule.params)
    required, optional = parameters(rule.rule_type)
    if "anchor_at" in required | optional and params.get("anchor_at") is None:
        # A window of days is counted from the treatment itself; everything else from the start
        # of the episode (the nadir after salvage radiotherapy is the nadir after it).
        window = params.get("from_day") is not None or params.get("until_day") is not None
        params["anchor_at"] = (plan.anchor_date if window else start).isoformat()
    return params


@dataclass
class _Breach:
    rule: Rule
    plan: FollowUpPlan
    finding: Finding
    until: dt.datetime | None


def _evidence(finding: Finding) -> list[dict[str, str]]:
    return [
        {"at": p.at.isoformat(), "value": f"{p.comparator}{p.value}", "units": p.units}
        for p in finding.evidence
    ]


def _taken(group: list[_Breach]) -> dt.datetime | None:
    """When the results behind the breaches were taken: the newest result of each breach's
    evidence (the one that tipped it), the longest waiting of those."""
    newest = [max(p.at for p in b.finding.evidence) for b in group if b.finding.evidence]
    return min(newest) if newest else None


def _raise_breaches(breaches: list[_Breach], actor: User) -> list[WorkItem]:
    """One work item for the breaches one evaluation found on one plan, listing each rule and
    its evidence; each breach remembered so it is never raised again. Returns the items."""
    items: list[WorkItem] = []
    by_plan: dict[int, list[_Breach]] = {}
    for breach in breaches:
        by_plan.setdefault(breach.plan.pk, []).append(breach)
    for group in by_plan.values():
        group.sort(key=lambda b: (b.rule.priority, b.rule.name, b.rule.pk))
        first, plan = group[0], group[0].plan
        identity = "|".join(f"{b.rule.pk}/{b.finding.key}" for b in group)
        digest = hashlib.sha256(identity.encode()).hexdigest()[:32]
        if len(group) == 1:
            title = first.rule.name
            explanation = first.finding.explanation
        else:
            title = f"{len(group)} alerts: " + "; ".join(b.rule.name for b in group)
            explanation = "\n\n".join(f"{b.rule.name}: {b.finding.explanation}" for b in group)
        item, _ = work_item_raise(
            kind=WorkItem.Kind.THRESHOLD_BREACH,
            key=BreachKey(plan_pk=plan.pk, digest=digest),
            title=title,
            explanation=explanation,
            source=f"rule:{first.rule.pk}",
            actor=actor,
            patient=plan.patient,
            team=plan.team,
            priority=min(b.rule.priority for b in group),
            yield_group=first.rule.name,
            waiting_since=_taken(group),
            details={
                "rule_type": first.rule.rule_type,
                "plan": str(plan.public_id),
                "evaluated_until": first.until.isoformat() if first.until else None,
                "evidence": _evidence(first.finding),
                "finding": first.finding.details,
                "rules": [
                    {
                        "rule": b.rule.name,
                        "code": b.rule.code,
                        "rule_type": b.rule.rule_type,
                        "key": b.finding.key,
                        "explanation": b.finding.explanation,
                        "evidence": _evidence(b.finding),
                    }
                    for b in group
                ],
            },
        )
        RaisedBreach.objects.bulk_create(
            [
                RaisedBreach(
                    rule=b.rule,
                    key=b.finding.key,
                    work_item=item,
                    evaluated_until=b.until,
                    explanation=b.finding.explanation,
                )
                for b in group
            ],
            ignore_conflicts=True,
        )
        items.append(item)
    return items


@dataclass
class HistoryOutcome:
    """What evaluating a patient after importing their history raised, and what it found in
    the history and recorded as resolved."""

    raised: int = 0
    historic: int = 0


def _is_historic(breach: _Breach, points: list[Point]) -> bool:
    """A breach found on an imported history that is not today's work: values of its test came
    after all of its evidence, and every one of them is back on the safe side of the value
    that made the breach (lower than it for a rule on rising values, higher for one on falling
    values: ``direction`` "below" or "down") and reported normal by the lab (OBX-8 blank or N).
    A breach that stands on the newest value, or is followed by a value as bad or worse, or one
    the lab flagged, is current (docs/operations.md, "Going live")."""
    if not breach.finding.evidence or not points:
        return False
    worst = max(breach.finding.evidence, key=lambda p: p.at)
    later = [p for p in points if p.at > worst.at]
    if not later:
        return False
    falling = (breach.rule.params or {}).get("direction") in ("below", "down")
    for point in later:
        recovered = point.value > worst.value if falling else point.value < worst.value
        if not recovered or point.comparator in ((">", ">=") if not falling else ("<", "<=")):
            return False
    refs = [int(p.ref) for p in later if p.ref.isdigit()]
    if len(refs) != len(later):
        return False
    flags = Observation.objects.filter(pk__in=refs).values_list("abnormal_flag", flat=True)
    return all(flag.strip().upper() in ("", "N") for flag in flags)


def _close_vanished_breaches(
    rule: Rule,
    raised: list[RaisedBreach],
    history_of: dict[str, object],
    actor: User,
) -> None:
    """Mark the rule's raised breaches whose evidence is gone (the rule, run again on the
    results up to the moment it breached, no longer gives the same breach: a correction or a
    deletion changed the history), and close a work item once all its breaches are gone."""
    for breach in raised:
        again = history_of.get(breach.key)
        if isinstance(again, Finding) and again.breached and again.key == breach.key:
            continue
        if again is None:
            continue
        breach.vanished_at = timezone.now()
        breach.save(update_fields=["vanished_at"])
        remaining = RaisedBreach.objects.filter(
            work_item=breach.work_item, vanished_at__isnull=True
        ).exists()
        if remaining:
            continue
        now = again.explanation if isinstance(again, Finding) else str(again)
        work_item_close_by_system(
            item=breach.work_item,
            actor=actor,
            outcome="Breach removed by a correction",
            note=(
                "A correction or deletion of a result removed the breach this item was raised "
                f"for. On the results as they now stand: {now}"
            ),
        )


def _review_item(
    *,
    key: WorkItemKey,
    title: str,
    explanation: str,
    plan: FollowUpPlan,
    source: str,
    actor: User,
    priority: int = WorkItem.Priority.HIGH,
    due_date: dt.date | None = None,
    details: dict[str, object] | None = None,
    waiting_since: dt.datetime | None = None,
) -> WorkItem:
    item, _ = work_item_raise(
        kind=WorkItem.Kind.RESULT_TO_REVIEW,
        key=key,
        title=title,
        explanation=explanation,
        source=source,
        actor=actor,
        patient=plan.patient,
        team=plan.team,
        priority=priority,
        due_date=due_date,
        details=details,
        waiting_since=waiting_since,
    )
    return item


def _set_aside(rule: Rule, plan: FollowUpPlan, point: Point, error: UnitError, who: User) -> None:
    """One result whose units cannot be compared with the rule's: its own item, naming it."""
    _review_item(
        key=SetAsideKey(point=point.ref or point.at.isoformat()),
        title=f"{point.label or rule.test_code} of {format_date(point.at)} could not be checked",
        explanation=(
            f"The result {point.comparator}{point.value} {point.units} of "
            f"{format_date(point.at)} could not be compared by the rule '{rule.name}': {error} "
            "It was set aside and the rest of the series was still checked. Look at the result "
            "and correct the units with the lab, or the plan."
        ),
        plan=plan,
        source=f"rule:{rule.pk}",
        actor=who,
        details={"observation": point.ref, "rule": rule.name, "units": point.units},
    )


def _raise_unreadable(observation: Observation, plan: FollowUpPlan, who: User) -> None:
    result = observation.result
    _review_item(
        key=UnreadableKey(observation_pk=observation.pk),
        title=f"{observation.name or observation.code} result could not be read as a number",
        explanation=(
            f"The {observation.name or observation.code} result of "
            f"{format_date(observation.observed_at)} was sent as "
            f"\u201c{observation.value_text[:200]}\u201d, which is not a number monitoring can "
            "use. The test counts as done, and the rest of the series is still checked; look at "
            "the result and ask the lab to correct it if it should be a number."
        ),
        plan=plan,
        source=f"result:{result.public_id}",
        actor=who,
        waiting_since=waited_from(
            observed_at=observation.observed_at, arrived_at=result.created_at
        ),
        details={"observation": str(observation.pk), "value": observation.value_text[:200]},
    )


def _raise_awaiting(
    rule: Rule, plan: FollowUpPlan, finding: Finding, test_name: str, who: User
) -> None:
    by = f" by {format_day(finding.repeat_by)}" if finding.repeat_by else ""
    _review_item(
        key=AwaitingKey(rule_pk=rule.pk, finding=finding.key),
        title=f"Repeat {test_name}{by}: awaiting confirmation",
        explanation=(
            f"{finding.explanation} Until it is repeated this is not an alert: ask for the "
            f"repeat test{by}. ({rule.name})"
        ),
        plan=plan,
        source=f"rule:{rule.pk}",
        actor=who,
        priority=WorkItem.Priority.NORMAL,
        due_date=finding.repeat_by,
        details={
            "rule": rule.name,
            "code": rule.code,
            "awaiting": True,
            "repeat_by": finding.repeat_by.isoformat() if finding.repeat_by else None,
            "evidence": _evidence(finding),
        },
    )


def _close_awaiting(rule: Rule, finding: Finding, open_items: list[WorkItem], who: User) -> None:
    """Close the rule's "repeat" items the newest results have answered."""
    current = (
        AwaitingKey(rule_pk=rule.pk, finding=finding.key).render() if finding.awaiting else None
    )
    for item in open_items:
        if item.dedupe_key == current:
            continue
        if finding.breached:
            outcome, note = "Confirmed", f"Confirmed and raised as an alert: {finding.explanation}"
        else:
            outcome = "Not confirmed"
            note = f"The value was not confirmed by the next result: {finding.explanation}"
        work_item_close_by_system(item=item, actor=who, outcome=outcome, note=note)


def _active_plans(patient: Patient) -> list[FollowUpPlan]:
    return list(
        FollowUpPlan.objects.filter(
            patient=patient, status=FollowUpPlan.Status.ACTIVE
        ).select_related("patient", "team")
    )


def _test_names(plans: Iterable[FollowUpPlan]) -> dict[tuple[int, str], str]:
    return {
        (plan_id, code.upper()): name
        for plan_id, code, name in PlanTest.objects.filter(plan__in=list(plans)).values_list(
            "plan_id", "test_code", "test_name"
        )
    }


def evaluate_test(
    *,
    patient: Patient,
    test_code: str,
    actor: User | None = None,
    plans: list[FollowUpPlan] | None = None,
) -> int:
    """Run every active rule on ``test_code`` of the patient's active plans (see
    ``evaluate_tests``). Returns how many rules ran."""
    return evaluate_tests(patient=patient, test_codes=[test_code], actor=actor, plans=plans)


def evaluate_tests(
    *,
    patient: Patient,
    test_codes: Iterable[str],
    actor: User | None = None,
    plans: list[FollowUpPlan] | None = None,
    imported: HistoryOutcome | None = None,
) -> int:
    """Run every active rule of the patient's active plans that reads one of ``test_codes``
    (its own test, or another it reads, as castration resistance reads testosterone); raise one
    work item for the new breaches of each plan, a "repeat by" item for each value awaiting
    confirmation, a review item for each result set aside; close what a correction removed.
    Returns how many rules ran. Safe to repeat: nothing already raised is raised again.
    With ``imported`` (after importing a history, ``rms.inbound.history``) a breach that is not
    current (``_is_historic``) is recorded as resolved, its item closed, rather than raised,
    and ``imported`` counts both."""
    who = actor or system_user()
    codes = {code.upper() for code in test_codes}
    if plans is None:
        plans = _active_plans(patient)
    if not plans or not codes:
        return 0
    given = {plan.pk: plan for plan in plans}
    rules = [
        rule
        for rule in Rule.objects.filter(plan__in=plans, active=True).order_by("test_code", "pk")
        if rule.test_code.upper() in codes
        or codes & set(related_tests(rule.rule_type, rule.params or {}))
    ]
    if not rules:
        return 0
    for rule in rules:
        rule.plan = given[rule.plan_id]  # type: ignore[index]
    events: dict[int, list[TreatmentEvent]] = {}
    for event in TreatmentEvent.objects.filter(plan__in=plans).order_by("on", "pk"):
        events.setdefault(event.plan_id, []).append(event)
    starts = {plan.pk: episode_start(plan, events.get(plan.pk, [])) for plan in plans}

    needed = {rule.test_code.upper() for rule in rules}
    for rule in rules:
        needed |= set(related_tests(rule.rule_type, rule.params or {}))
    points = {code: points_for(patient, code) for code in needed}
    names = _test_names(plans)

    raised_by_rule: dict[int, list[RaisedBreach]] = {}
    for breach in RaisedBreach.objects.filter(
        rule__in=rules, vanished_at__isnull=True, work_item__status__in=WorkItem.ACTIVE
    ).select_related("work_item"):
        raised_by_rule.setdefault(breach.rule_id, []).append(breach)
    already = set(RaisedBreach.objects.filter(rule__in=rules).values_list("rule_id", "key"))
    awaiting_open: dict[int, list[WorkItem]] = {}
    for item in work_items_active_for(cause=AwaitingKey.scope()).filter(patient=patient):
        awaiting_open.setdefault(AwaitingKey.rule_of(item.dedupe_key), []).append(item)

    series_cache: dict[tuple[str, dt.date], Series] = {}

    def series_for(code: str, start: dt.date) -> Series:
        if (code, start) not in series_cache:
            since = _start_of(start)
            series_cache[(code, start)] = Series(p for p in points[code] if p.at >= since)
        return series_cache[(code, start)]

    new: list[_Breach] = []
    repeat_by: dict[tuple[int, str], dt.date] = {}
    for rule in rules:
        plan = given[rule.plan_id]  # type: ignore[index]
        start = starts[plan.pk]
        code = rule.test_code.upper()
        series = series_for(code, start)
        related = {name: points[name] for name in related_tests(rule.rule_type, rule.params)}
        params = _params(rule, plan, start)
        units = params.get("units")
        if isinstance(units, str) and units.strip():
            for set_aside in unusable(series, units):
                _set_aside(rule, plan, set_aside.point, set_aside.error, who)
        try:
            finding = evaluate(rule.rule_type, series, params, related=related)
        except RuleConfigError as exc:
            _review_item(
                key=RuleConfigKey(rule_pk=rule.pk, digest=_digest(rule.params)),
                title=f"{rule.name} could not be checked",
                explanation=(
                    f"The rule '{rule.name}' is misconfigured ({exc}), so it cannot check this "
                    "patient's results. Correct the plan's rule."
                ),
                plan=plan,
                source=f"rule:{rule.pk}",
                actor=who,
            )
            continue
        until = series[-1].at if len(series) else None
        if finding.breached and (rule.pk, finding.key) not in already:
            new.append(_Breach(rule=rule, plan=plan, finding=finding, until=until))
            already.add((rule.pk, finding.key))
        if finding.awaiting:
            _raise_awaiting(rule, plan, finding, names.get((plan.pk, code), rule.test_code), who)
            if finding.repeat_by:
                slot = (plan.pk, code)
                repeat_by[slot] = min(finding.repeat_by, repeat_by.get(slot, finding.repeat_by))
        _close_awaiting(rule, finding, awaiting_open.get(rule.pk, []), who)
        raised = raised_by_rule.get(rule.pk, [])
        if raised:
            history: dict[str, object] = {}
            for breach in raised:
                cut = breach.evaluated_until
                if cut is None or (until is not None and cut >= until):
                    history[breach.key] = finding
                    continue
                try:
                    history[breach.key] = evaluate(
                        rule.rule_type,
                        [p for p in series if p.at <= cut],
                        params,
                        related=related,
                    )
                except RuleConfigError:
                    continue
            _close_vanished_breaches(rule, raised, history, who)
    if new and imported is not None:
        old = [b for b in new if _is_historic(b, points[b.rule.test_code.upper()])]
        new = [b for b in new if b not in old]
        for item in _raise_breaches(old, who):
            work_item_close_by_system(
                item=item,
                actor=who,
                outcome="Resolved in the imported history",
                note=(
                    "Found when the patient's history was imported: later values of the test "
                    "were reported normal, so this breach is not current."
                ),
            )
        imported.historic += len(old)
        imported.raised += len(new)
    if new:
        _raise_breaches(new, who)
    for plan in plans:
        for code in codes:
            if not any(r.plan_id == plan.pk and r.test_code.upper() == code for r in rules):
                continue
            for observation in _unreadable(patient, code):
                if observation.observed_at >= _start_of(plan.anchor_date):
                    _raise_unreadable(observation, plan, who)
    _update_repeat_dates(plans, rules, repeat_by)
    return len(rules)


def _digest(params: object) -> str:
    return hashlib.sha256(repr(params).encode()).hexdigest()[:12]


def _update_repeat_dates(
    plans: list[FollowUpPlan], rules: list[Rule], repeat_by: dict[tuple[int, str], dt.date]
) -> None:
    """Bring a test's due date forward while a value awaits confirmation, and let it go back
    to the schedule once the wait has ended."""
    from careplans.followup.services.plans import plan_test_confirm_by

    evaluated = {(rule.plan_id, rule.test_code.upper()) for rule in rules}
    for plan in plans:
        for plan_id, code in evaluated:
            if plan_id != plan.pk:
                continue
            plan_test_confirm_by(
                plan=plan, test_code=code, repeat_by=repeat_by.get((plan_id, code))
            )


def _test_codes(result: Result) -> set[str]:
    return {code.upper() for code in result.observations.values_list("code", flat=True)}


def on_result(*, result: Result) -> None:
    """A result was recorded, corrected or deleted: check it and keep the plans' next due
    dates current. Called after the result's commit, by the result events' consumer (safe to
    run again: a breach is raised once)."""
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
    evaluate_tests(patient=result.patient, test_codes=codes, actor=actor, plans=active)
    from careplans.followup.services.plans import plan_test_refresh

    for plan_test in PlanTest.objects.filter(
        plan__patient=result.patient,
        plan__status__in=[FollowUpPlan.Status.ACTIVE, FollowUpPlan.Status.PAUSED],
        test_code__in=_case_variants(scheduled),
    ).select_related("plan"):
        plan_test_refresh(plan_test=plan_test)


def patients_on_plans(patient_ids: Iterable[int]) -> set[int]:
    """Which of these patients have an active or paused plan: those monitoring evaluates."""
    return set(
        FollowUpPlan.objects.filter(
            patient_id__in=list(patient_ids),
            status__in=[FollowUpPlan.Status.ACTIVE, FollowUpPlan.Status.PAUSED],
        ).values_list("patient_id", flat=True)
    )


def evaluate_history(
    *, patient: Patient, test_codes: Iterable[str], actor: User | None = None
) -> HistoryOutcome:
    """After a patient's history was imported (``rms.inbound.history``, which files without
    the result signals): what ``on_result`` does for each result, once for the patient and the
    tests (and report service codes) of the file, raising only what is current
    (``evaluate_tests`` with ``imported``). A radiology report of the history raises no
    "result to review" item: it was reviewed when it was made. Safe to repeat."""
    outcome = HistoryOutcome()
    open_plans = FollowUpPlan.objects.filter(
        patient=patient, status__in=[FollowUpPlan.Status.ACTIVE, FollowUpPlan.Status.PAUSED]
    )
    codes = {code.upper() for code in test_codes if code}
    if not codes or not open_plans.exists():
        return outcome
    who = actor or system_user()
    evaluate_tests(
        patient=patient, test_codes=codes, actor=who, plans=_active_plans(patient), imported=outcome
    )
    from careplans.followup.services.plans import plan_test_refresh

    for plan_test in PlanTest.objects.filter(
        plan__patient=patient,
        plan__status__in=[FollowUpPlan.Status.ACTIVE, FollowUpPlan.Status.PAUSED],
        test_code__in=_case_variants(codes),
    ).select_related("plan"):
        plan_test_refresh(plan_test=plan_test)
    return outcome


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
                "key": OverdueKey(plan_test_pk=plan_test.pk, due=due),
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
