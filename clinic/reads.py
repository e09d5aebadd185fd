"""Reads of the caseload page: the patients of my teams on a follow-up plan, with what the
care plans, the worklists and the PKB bridge know of each. Every read is scoped through the
selectors of the app that owns the rows (``rms.selectors``, ``worklists.selectors``): a
caller's list of ids never widens what is read."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django.db.models import (
    Count,
    Exists,
    F,
    OuterRef,
    Prefetch,
    QuerySet,
    Subquery,
    Value,
)
from django.db.models.functions import Coalesce, Upper

from careplans.models import FollowUpPlan, PlanTest
from pkb_bridge.models import Enrolment
from rms import selectors as rms_selectors
from rms.models import Observation, Result
from worklists import selectors

AnyUser = selectors.AnyUser

OPEN_PLAN = (FollowUpPlan.Status.ACTIVE, FollowUpPlan.Status.PAUSED)

# Sort keys of the caseload page: the column and its direction.
CASELOAD_SORTS: Mapping[str, Any] = {
    "name": (F("family_name").asc(), F("given_name").asc()),
    "-name": (F("family_name").desc(), F("given_name").desc()),
    "due": (F("next_due").asc(nulls_last=True), F("family_name").asc()),
    "-due": (F("next_due").desc(nulls_last=True), F("family_name").asc()),
    "items": (F("open_items").asc(), F("family_name").asc()),
    "-items": (F("open_items").desc(), F("family_name").asc()),
}
CASELOAD_DEFAULT_SORT = "name"

# Where the caseload rows keep their open plans (prefetched).
OPEN_PLANS_ATTR = "open_plans"


def caseload(*, user: AnyUser, search: str = "", sort: str = CASELOAD_DEFAULT_SORT) -> QuerySet:
    """The patients on my teams' open caseloads who have an active or paused follow-up plan of
    one of my teams, with their next test due (``next_due``), their open items in my teams
    (``open_items``), whether they are shared with PKB (``pkb_shared``) and those plans (in
    ``open_plans``, by anchor date), sorted by ``sort`` (a key of ``CASELOAD_SORTS``)."""
    teams = rms_selectors.team_list(user=user)
    plans = FollowUpPlan.objects.filter(status__in=OPEN_PLAN, team__in=teams)
    next_due = (
        PlanTest.objects.filter(
            plan__in=plans, plan__patient=OuterRef("pk"), next_due_date__isnull=False
        )
        .order_by("next_due_date")
        .values("next_due_date")[:1]
    )
    open_items = (
        selectors.work_item_list(user=user, status=selectors.ACTIVE)
        .filter(patient=OuterRef("pk"))
        .order_by()
        .values("patient")
        .annotate(n=Count("pk"))
        .values("n")
    )
    patients = (
        rms_selectors.patient_list(user=user, search=search)
        .filter(Exists(plans.filter(patient=OuterRef("pk"))))
        .annotate(
            next_due=Subquery(next_due),
            open_items=Coalesce(Subquery(open_items), Value(0)),
            pkb_shared=Exists(
                Enrolment.objects.filter(patient=OuterRef("pk"), status=Enrolment.Status.ACTIVE)
            ),
        )
        .prefetch_related(
            Prefetch(
                "follow_up_plans",
                queryset=plans.select_related("pathway").order_by("anchor_date", "id"),
                to_attr=OPEN_PLANS_ATTR,
            )
        )
    )
    order = CASELOAD_SORTS.get(sort) or CASELOAD_SORTS[CASELOAD_DEFAULT_SORT]
    return patients.order_by(*order, "pk")


def last_results(*, user: AnyUser, patient_ids: Iterable[int]) -> dict[int, Observation]:
    """Each patient's newest value of a test their open plans (of my teams) follow: the current
    value of a result not withdrawn, matched on the test code without regard to case. For one
    page of the caseload: one query, whatever the page's size."""
    ids = list(patient_ids)
    if not ids:
        return {}
    teams = rms_selectors.team_list(user=user)
    followed = (
        PlanTest.objects.filter(
            plan__patient=OuterRef(OuterRef("pk")),
            plan__status__in=OPEN_PLAN,
            plan__team__in=teams,
        )
        .annotate(code_upper=Upper("test_code"))
        .values("code_upper")
    )
    newest = (
        Observation.objects.annotate(code_upper=Upper("code"))
        .filter(
            result__patient=OuterRef("pk"),
            superseded_at__isnull=True,
            code_upper__in=Subquery(followed),
        )
        .exclude(result__status__in=Result.WITHDRAWN)
        .exclude(status__in=[Observation.Status.CANCELLED, Observation.Status.DELETED])
        .order_by("-observed_at", "-id")
        .values("pk")[:1]
    )
    # Scoped again through the selector: a caller's list of ids never widens what is read.
    newest_ids = (
        rms_selectors.patient_list(user=user)
        .filter(pk__in=ids)
        .order_by()
        .annotate(newest=Subquery(newest))
        .values("newest")
    )
    observations = Observation.objects.filter(pk__in=newest_ids).select_related("result")
    return {o.result.patient_id: o for o in observations}
