"""Reads of pathways and follow-up plans.

Plans are always read through a patient the caller has already opened with the scoped
``rms`` selectors or ``rms.access.patient_for_request``: nothing here widens anyone's scope.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable

from django.db.models import F, Prefetch, Q, QuerySet
from django.utils import timezone

from careplans.followup import schedule
from careplans.models import FollowUpPlan, Pathway, PlanChange, PlanTest, Rule, ScheduleStep
from rms.models import Observation, Patient, Result
from worklists.models import WorkItem


def pathway_list(*, active_only: bool = True) -> QuerySet[Pathway]:
    """The pathway templates, by name (only those still offered, unless ``active_only``)."""
    pathways = Pathway.objects.all()
    if active_only:
        pathways = pathways.filter(active=True)
    return pathways.order_by("name")


def pathway_get(*, code: str) -> Pathway | None:
    """The active pathway with this code, or None."""
    return Pathway.objects.filter(code=code.strip(), active=True).first()


def plan_list(*, patient: Patient) -> QuerySet[FollowUpPlan]:
    """The patient's plans, open ones first then newest, with everything a page shows."""
    return (
        FollowUpPlan.objects.filter(patient=patient)
        .select_related("pathway", "team", "started_by")
        .prefetch_related(
            Prefetch("tests", queryset=PlanTest.objects.order_by("test_code")),
            Prefetch(
                "schedule", queryset=ScheduleStep.objects.order_by("test_code", "from_month", "id")
            ),
            Prefetch("rules", queryset=Rule.objects.order_by("test_code", "name", "id")),
        )
        .order_by(F("ended_at").asc(nulls_first=True), "-started_at", "-id")
    )


def plan_get(*, patient: Patient, public_id: uuid.UUID | str) -> FollowUpPlan | None:
    """One of the patient's plans by its public id, or None (also for a malformed id)."""
    try:
        key = uuid.UUID(str(public_id))
    except ValueError:
        return None
    return plan_list(patient=patient).filter(public_id=key).first()


def plan_open(*, patient: Patient, pathway: Pathway) -> FollowUpPlan | None:
    """The patient's active or paused plan on ``pathway``, if there is one (at most one)."""
    return FollowUpPlan.objects.filter(
        patient=patient,
        pathway=pathway,
        status__in=[FollowUpPlan.Status.ACTIVE, FollowUpPlan.Status.PAUSED],
    ).first()


def step_list(*, plan: FollowUpPlan) -> QuerySet[ScheduleStep]:
    """The plan's own schedule steps (not the pathway's)."""
    return ScheduleStep.objects.filter(plan=plan).order_by("test_code", "from_month", "id")


def step_get(*, plan: FollowUpPlan, step_id: str | int) -> ScheduleStep | None:
    """One of the plan's schedule steps, or None (also for an id that is not a number)."""
    if not str(step_id).isdigit():
        return None
    return step_list(plan=plan).filter(pk=int(step_id)).first()


def rule_get(*, plan: FollowUpPlan, rule_id: str | int) -> Rule | None:
    """One of the plan's rules, or None (also for an id that is not a number)."""
    if not str(rule_id).isdigit():
        return None
    return Rule.objects.filter(plan=plan, pk=int(rule_id)).first()


def plan_change_list(*, plan: FollowUpPlan) -> QuerySet[PlanChange]:
    """What was done to the plan, oldest first, with who did it."""
    return plan.changes.select_related("actor").order_by("at", "id")


def counting_observations(
    *, patient: Patient, test_code: str, since: dt.date | None = None, numeric: bool = True
) -> QuerySet[Observation]:
    """The patient's numeric values of one test that count: the current value (not one a
    correction replaced) of a result not cancelled or deleted, matched on the observation code
    without regard to case, optionally from the start of ``since`` (local time) on. With
    ``numeric=False``, values that could not be read as a number too.

    A text-only value (a sample "haemolysed", "insufficient") is not a value to compare; it
    still counts as the test done for the schedule (``latest_done_at``)."""
    observations = (
        Observation.objects.filter(
            result__patient=patient,
            code__iexact=test_code.strip(),
            superseded_at__isnull=True,
        )
        .exclude(result__status__in=Result.WITHDRAWN)
        .exclude(status__in=[Observation.Status.CANCELLED, Observation.Status.DELETED])
    )
    if numeric:
        observations = observations.filter(value_numeric__isnull=False)
    if since is not None:
        start = dt.datetime.combine(since, dt.time.min, tzinfo=timezone.get_current_timezone())
        observations = observations.filter(observed_at__gte=start)
    return observations.order_by("observed_at", "id")


def latest_result_at(
    *, patient: Patient, test_code: str, since: dt.date | None = None
) -> dt.datetime | None:
    """When the newest counting numeric value of the test was taken (see
    ``counting_observations``); the schedule asks ``latest_done_at``, which counts a value that
    could not be read as a number too."""
    return (
        counting_observations(patient=patient, test_code=test_code, since=since)
        .order_by("-observed_at", "-id")
        .values_list("observed_at", flat=True)
        .first()
    )


def latest_done_at(
    *, patient: Patient, test_code: str, since: dt.date | None = None
) -> dt.datetime | None:
    """When the test was last done, for its schedule, from the start of ``since`` (local time)
    on. Codes are matched without regard to case; cancelled or deleted results and values,
    and values a correction replaced, do not count.

    - A value of the test counts, numeric or not: one that cannot be read as a number
      ("haemolysed", "see comment") is sent for review by monitoring, and the test still
      counts as done (clinical vocabulary), so it is not chased as missing as well.
    - A report counts by its service code (OBR-4): for a scan or an endoscopy (``CT_CAP``,
      ``COLONOSCOPY``, ``MRI``: not a blood test) any result with that code; for a blood test
      only a radiology or textual report, not a lab order whose values are of other tests."""
    code = test_code.strip()
    values = (
        Observation.objects.filter(
            result__patient=patient, code__iexact=code, superseded_at__isnull=True
        )
        .exclude(result__status__in=Result.WITHDRAWN)
        .exclude(status__in=[Observation.Status.CANCELLED, Observation.Status.DELETED])
    )
    reports = Result.objects.filter(patient=patient, service_code__iexact=code).exclude(
        status__in=Result.WITHDRAWN
    )
    if schedule.is_blood_test(code):
        reports = reports.filter(Q(category=Result.Category.RADIOLOGY) | ~Q(report_text=""))
    if since is not None:
        start = dt.datetime.combine(since, dt.time.min, tzinfo=timezone.get_current_timezone())
        values = values.filter(observed_at__gte=start)
        reports = reports.filter(observed_at__gte=start)
    times = [
        values.order_by("-observed_at").values_list("observed_at", flat=True).first(),
        reports.order_by("-observed_at").values_list("observed_at", flat=True).first(),
    ]
    found = [moment for moment in times if moment is not None]
    return max(found) if found else None


# ---------------------------------------------------------------------------
# Breach items
# ---------------------------------------------------------------------------
def breach_evidence_result_ids(patient: Patient, breaches: Iterable[WorkItem]) -> set[int]:
    """The results whose values are the evidence of these breach items: the observations of
    the rule's test at the times the item names (``details["evidence"]``, as
    ``careplans.followup.services.monitoring`` writes it, and under ``details["rules"]`` when
    one item lists the breaches of several rules). Only the care plans read what they wrote;
    the PKB bridge asks this to hold the evidence back. A breach whose rule is gone, or that lists
    several rules, matches any test at those times: holding one result too many is safer than
    publishing the evidence."""
    ids: set[int] = set()
    for item in breaches:
        details = item.details or {}
        # An item may list several rules that one result broke, each with its evidence.
        rules = [r for r in details.get("rules") or [] if isinstance(r, dict)]
        points = list(details.get("evidence") or [])
        for rule in rules:
            points.extend(rule.get("evidence") or [])
        moments = []
        for point in points:
            try:
                moments.append(dt.datetime.fromisoformat(str(point.get("at"))))
            except (TypeError, ValueError, AttributeError):
                continue
        if not moments:
            continue
        observations = Observation.objects.filter(result__patient=patient, observed_at__in=moments)
        rule_id = item.source.removeprefix("rule:")
        code = (
            Rule.objects.filter(pk=int(rule_id)).values_list("test_code", flat=True).first()
            if rule_id.isdigit() and len(rules) <= 1
            else None
        )
        if code:
            observations = observations.filter(code__iexact=code)
        ids.update(observations.values_list("result_id", flat=True))
    return ids
