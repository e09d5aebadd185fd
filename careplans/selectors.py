"""Reads of pathways and follow-up plans.

Plans are always read through a patient the caller has already opened with the scoped
``rms`` selectors or ``rms.access.patient_for_request``: nothing here widens anyone's scope.
"""

from __future__ import annotations

import datetime as dt
import uuid

from django.db.models import F, Prefetch, Q, QuerySet
from django.utils import timezone

from careplans import schedule
from careplans.models import FollowUpPlan, Pathway, PlanChange, PlanTest, Rule, ScheduleStep
from rms.models import Observation, Patient, Result


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
    *, patient: Patient, test_code: str, since: dt.date | None = None
) -> QuerySet[Observation]:
    """The patient's numeric values of one test that count: the current value (not one a
    correction replaced) of a result not cancelled or deleted, matched on the observation code
    without regard to case, optionally from the start of ``since`` (local time) on.

    A text-only value (a sample "haemolysed", "insufficient") is not a result of the test: the
    test is still due."""
    observations = (
        Observation.objects.filter(
            result__patient=patient,
            code__iexact=test_code.strip(),
            superseded_at__isnull=True,
            value_numeric__isnull=False,
        )
        .exclude(result__status__in=Result.WITHDRAWN)
        .exclude(status__in=[Observation.Status.CANCELLED, Observation.Status.DELETED])
    )
    if since is not None:
        start = dt.datetime.combine(since, dt.time.min, tzinfo=timezone.get_current_timezone())
        observations = observations.filter(observed_at__gte=start)
    return observations.order_by("observed_at", "id")


def latest_result_at(
    *, patient: Patient, test_code: str, since: dt.date | None = None
) -> dt.datetime | None:
    """When the newest counting value of the test was taken (see ``counting_observations``)."""
    return (
        counting_observations(patient=patient, test_code=test_code, since=since)
        .order_by("-observed_at", "-id")
        .values_list("observed_at", flat=True)
        .first()
    )


def latest_done_at(
    *, patient: Patient, test_code: str, since: dt.date | None = None
) -> dt.datetime | None:
    """When the test was last done, for its schedule: the newest of a counting value of it
    (``latest_result_at``) and a report of it, from the start of ``since`` (local time) on.

    A report counts for a scheduled test when its service code (OBR-4) or one of its current
    observations' codes is the test code, without regard to case, and it is not cancelled or
    deleted. For a scan or an endoscopy (``CT_CAP``, ``COLONOSCOPY``, ``MRI``: not a blood
    test) any such result is a report; for a blood test only a radiology report or a textual
    report is, so a PSA sent as "haemolysed" still leaves the test due."""
    code = test_code.strip()
    results = Result.objects.filter(patient=patient).exclude(status__in=Result.WITHDRAWN)
    observations = (
        Observation.objects.filter(
            result__patient=patient, code__iexact=code, superseded_at__isnull=True
        )
        .exclude(result__status__in=Result.WITHDRAWN)
        .exclude(status__in=[Observation.Status.CANCELLED, Observation.Status.DELETED])
    )
    if schedule.is_blood_test(code):
        results = results.filter(Q(category=Result.Category.RADIOLOGY) | ~Q(report_text=""))
        observations = observations.filter(
            Q(result__category=Result.Category.RADIOLOGY) | ~Q(result__report_text="")
        )
    by_service = results.filter(service_code__iexact=code)
    if since is not None:
        start = dt.datetime.combine(since, dt.time.min, tzinfo=timezone.get_current_timezone())
        by_service = by_service.filter(observed_at__gte=start)
        observations = observations.filter(observed_at__gte=start)
    times = [
        latest_result_at(patient=patient, test_code=code, since=since),
        by_service.order_by("-observed_at").values_list("observed_at", flat=True).first(),
        observations.order_by("-observed_at").values_list("observed_at", flat=True).first(),
    ]
    found = [moment for moment in times if moment is not None]
    return max(found) if found else None
