"""Reads of care plans, their versions and consent records.

Always through a patient the caller has already opened with ``rms.access.patient_for_request``
(scoped to their teams, logged): nothing here widens anyone's scope.
"""

from __future__ import annotations

import uuid

from django.db.models import Prefetch, QuerySet

from careplans.models import (
    CarePlan,
    CarePlanSection,
    CarePlanTemplate,
    CarePlanVersion,
    ConsentRecord,
)
from rms.models import Patient


def _uuid(value: uuid.UUID | str) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def template_list() -> QuerySet[CarePlanTemplate]:
    """The care plan templates offered (active, on an active pathway), by pathway."""
    return (
        CarePlanTemplate.objects.filter(active=True, pathway__active=True)
        .select_related("pathway")
        .order_by("pathway__name", "name")
    )


def care_plan_list(*, patient: Patient) -> QuerySet[CarePlan]:
    """The patient's care plans, newest first, with their versions (newest last)."""
    return (
        CarePlan.objects.filter(patient=patient)
        .select_related("team", "created_by", "template")
        .prefetch_related(
            Prefetch(
                "versions",
                queryset=CarePlanVersion.objects.select_related("author").order_by("number"),
            )
        )
        .order_by("-created_at", "-id")
    )


def care_plan_get(*, patient: Patient, public_id: uuid.UUID | str) -> CarePlan | None:
    """One of the patient's care plans, or None (also for a malformed id)."""
    key = _uuid(public_id)
    if key is None:
        return None
    return care_plan_list(patient=patient).filter(public_id=key).first()


def version_list(*, care_plan: CarePlan) -> QuerySet[CarePlanVersion]:
    """The plan's versions, oldest first, each with its sections in order."""
    return (
        CarePlanVersion.objects.filter(care_plan=care_plan)
        .select_related("author")
        .prefetch_related(
            Prefetch("sections", queryset=CarePlanSection.objects.order_by("position"))
        )
        .order_by("number")
    )


def version_get(*, care_plan: CarePlan, number: int) -> CarePlanVersion | None:
    return version_list(care_plan=care_plan).filter(number=number).first()


def version_latest(*, care_plan: CarePlan) -> CarePlanVersion | None:
    return version_list(care_plan=care_plan).order_by("-number").first()


def consent_list(*, patient: Patient) -> QuerySet[ConsentRecord]:
    """The patient's consent records, latest first, with what each withdraws and its
    withdrawal (if any)."""
    return (
        ConsentRecord.objects.filter(patient=patient)
        .select_related("recorded_by", "resource", "team", "withdraws", "withdrawal")
        .order_by("-given_at", "-id")
    )


def consent_get(*, patient: Patient, public_id: uuid.UUID | str) -> ConsentRecord | None:
    key = _uuid(public_id)
    if key is None:
        return None
    return consent_list(patient=patient).filter(public_id=key).first()
