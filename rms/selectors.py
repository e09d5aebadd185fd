"""Reads of the clinical record, always scoped to the requesting user's teams.

A user sees a patient when the patient is on the open caseload of a team the user belongs
to, whatever the user's role, superusers included: the clinician UI and the API have no
"see everything" mode. (Django admin has its own rule for superusers; see ``rms.admin``.)
Anything outside that scope does not exist as far as a caller is concerned.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from django.contrib.auth.models import AnonymousUser, User
from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet

from rms import nhs_number, permissions
from rms.models import (
    Appointment,
    CaseloadEntry,
    Diagnosis,
    Document,
    Observation,
    Patient,
    Result,
    Team,
)

AnyUser = User | AnonymousUser


def team_list(*, user: AnyUser, roles: frozenset[str] | None = None) -> QuerySet[Team]:
    """The teams ``user`` belongs to (optionally only those where they hold one of ``roles``):
    ``rms.permissions.member_teams``."""
    return permissions.member_teams(user=user, roles=roles)


def patient_list(
    *,
    user: AnyUser,
    search: str = "",
    nhs_number_exact: str = "",
    mrn: str = "",
    team_code: str = "",
) -> QuerySet[Patient]:
    """Patients on the open caseload of any of ``user``'s teams, optionally filtered.

    ``search`` matches an NHS number (spaces allowed), an MRN, or the start of a name.
    """
    teams = team_list(user=user)
    if team_code:
        teams = teams.filter(code=team_code)
    # EXISTS, not a join: a patient on two of the user's teams is still one row, with no
    # DISTINCT for the database to sort (it grew with team size: docs/benchmarks.md).
    on_open_caseload = CaseloadEntry.objects.filter(
        patient=OuterRef("pk"), team__in=teams, ended_on__isnull=True
    )
    patients = Patient.objects.filter(Exists(on_open_caseload))
    if nhs_number_exact:
        patients = patients.filter(nhs_number=nhs_number.normalise(nhs_number_exact))
    if mrn:
        patients = patients.filter(mrn=mrn.strip())
    search = search.strip()
    if search:
        digits = nhs_number.normalise(search)
        query = Q(mrn__iexact=search)
        if digits.isdigit():
            query |= Q(nhs_number=digits)
        for word in search.split():
            query |= Q(family_name__istartswith=word) | Q(given_name__istartswith=word)
        patients = patients.filter(query)
    return patients.order_by("family_name", "given_name", "id")


def patient_get(*, user: AnyUser, public_id: uuid.UUID | str) -> Patient:
    """One patient in ``user``'s scope; raises ``Patient.DoesNotExist`` for anything else
    (a malformed id, a patient of another team, a discharged patient)."""
    try:
        key = uuid.UUID(str(public_id))
    except ValueError:
        raise Patient.DoesNotExist from None
    return patient_list(user=user).get(public_id=key)


def patient_list_for_admin(*, user: AnyUser) -> QuerySet[Patient]:
    """Django admin's scope: every patient for an active superuser (administrators match
    unmatched messages to any patient), the team scope for anyone else."""
    if user.is_authenticated and user.is_active and user.is_superuser:
        return Patient.objects.all()
    return patient_list(user=user)


def patient_exists_outside_scope(*, public_id: uuid.UUID | str) -> Patient | None:
    """The patient with this id regardless of scope, for recording a refused access only."""
    try:
        key = uuid.UUID(str(public_id))
    except ValueError:
        return None
    return Patient.objects.filter(public_id=key).first()


def user_can_write(*, user: AnyUser, patient: Patient) -> bool:
    """True when ``user`` is a clinician or team admin of a team that has ``patient`` open
    (``rms.permissions.can_write``)."""
    return permissions.can_write(user=user, patient=patient)


def patient_team_list(*, patient: Patient) -> QuerySet[Team]:
    """The teams whose open caseload the patient is on."""
    return Team.objects.filter(
        caseload_entries__patient=patient, caseload_entries__ended_on__isnull=True
    ).distinct()


def diagnosis_list(*, patient: Patient) -> QuerySet[Diagnosis]:
    return patient.diagnoses.order_by("diagnosed_on", "id")


def result_list(*, patient: Patient, category: str = "") -> QuerySet[Result]:
    """A patient's results, newest first, with their current observations (not those a
    correction superseded) in one extra query."""
    results = patient.results.prefetch_related(
        Prefetch(
            "observations",
            queryset=Observation.objects.filter(superseded_at__isnull=True).order_by(
                "sequence", "id"
            ),
        )
    )
    if category:
        results = results.filter(category=category)
    return results.order_by("-observed_at", "-id")


def appointment_list(*, patient: Patient) -> QuerySet[Appointment]:
    return patient.appointments.order_by("-starts_at", "-id")


def document_list(*, patient: Patient) -> QuerySet[Document]:
    # The PDF bytes are loaded only when a document is opened.
    return patient.documents.defer("content_pdf").order_by("-authored_at", "-id")


def result_values(
    *, patient: Patient, category: str, fields: Sequence[str]
) -> QuerySet[Result, tuple[Any, ...]]:
    """The chosen ``fields`` of a patient's results of one category, as tuples, oldest
    first: for reading a whole record at once (sharing it with PKB) without building a model
    instance for each result."""
    return (
        patient.results.filter(category=category).order_by("observed_at", "id").values_list(*fields)
    )


def current_observation_values(
    *, patient: Patient, category: str, fields: Sequence[str]
) -> QuerySet[Observation, tuple[Any, ...]]:
    """``(result_id, *fields)`` of the current observations (not those a correction
    superseded) of a patient's results of one category, in ``result_list``'s order within a
    result: the tuples ``result_values`` goes with."""
    return (
        Observation.objects.filter(
            result__patient=patient, result__category=category, superseded_at__isnull=True
        )
        .order_by("result_id", "sequence", "id")
        .values_list("result_id", *fields)
    )
