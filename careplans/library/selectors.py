"""Reads of the resource library and of what was shared with a patient.

Resources are read through ``careplans.library.services.resource_list`` (the user's teams only);
shares and milestones through a patient the caller has already opened with
``rms.access.patient_for_request``: nothing here widens anyone's scope.
"""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser, User
from django.db.models import QuerySet

from careplans.library import services as library_services
from careplans.models import InformationPack, MilestoneReached, Pathway, Resource, ResourceShare
from rms import permissions
from rms.models import Patient


def resource_list(
    *, user: User | AnonymousUser, status: str = "", pathway_code: str = ""
) -> QuerySet[Resource]:
    """The resources of ``user``'s teams, optionally by status and pathway tag, by title."""
    resources = library_services.resource_list(user=user)
    if status:
        resources = resources.filter(status=status)
    if pathway_code:
        resources = resources.filter(pathway_tags__pathway__code=pathway_code)
    return resources.prefetch_related("pathway_tags__pathway")


def pathway_tags(*, resource: Resource) -> list[Pathway]:
    return [tag.pathway for tag in resource.pathway_tags.select_related("pathway")]


def team_resources(*, user: User | AnonymousUser, patient: Patient) -> QuerySet[Resource]:
    """Every resource (any status) of the patient's teams in which ``user`` writes."""
    teams = permissions.writable_teams(user=user, patient=patient)
    return Resource.objects.filter(team__in=teams).select_related("team")


def shareable_resources(*, user: User | AnonymousUser, patient: Patient) -> QuerySet[Resource]:
    """Approved resources of the patient's teams in which ``user`` writes (the share form's
    choices; the service checks the review date and status again)."""
    teams = permissions.writable_teams(user=user, patient=patient)
    return (
        Resource.objects.filter(team__in=teams, status=Resource.Status.APPROVED)
        .select_related("team")
        .order_by("title", "id")
    )


def pack_list(*, user: User | AnonymousUser, patient: Patient) -> QuerySet[InformationPack]:
    """Active packs of the patient's teams in which ``user`` writes."""
    teams = permissions.writable_teams(user=user, patient=patient)
    return (
        InformationPack.objects.filter(team__in=teams, active=True)
        .select_related("pathway", "team")
        .order_by("name", "id")
    )


def share_list(*, patient: Patient) -> list[ResourceShare]:
    """The patient's shares, newest first, with what each included."""
    return list(
        ResourceShare.objects.filter(patient=patient)
        .select_related("pack", "resource", "document", "shared_by", "team")
        .prefetch_related("included")
        .order_by("-shared_at", "-id")
    )


def milestone_list(*, patient: Patient) -> list[MilestoneReached]:
    return list(
        MilestoneReached.objects.filter(patient=patient)
        .select_related("pathway", "team", "reached_by")
        .order_by("-reached_at", "-id")
    )
