"""The one answer to "which teams may this user read or write for this patient?".

Every view, API view, service, command and admin of every app asks here, and is refused with
the one refusal type, ``Refused`` (a ``PermissionDenied``: a 403 whose sentence the friendly
403 page, ``rms.errors``, and the API show). The rules:

* A user reads a patient on the open caseload of any team they belong to, whatever their role.
* A user writes for a patient (changes their record, shares it, acts for them) as a clinician
  or team admin of one of those teams; a viewer reads only.
* A team admin runs their team's own things (the audit trail, approving library resources).
* Superusers are no exception here: the clinician UI and the API have no "see everything"
  mode. Django admin has its own, for administrators (``rms.admin.sees_everything``).

Reads of a patient outside a user's scope are answered "No such patient" (404) by
``rms.access``, so that a patient of another team is indistinguishable from no patient; these
functions say why a patient in scope may not be changed.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

from django.contrib.auth.models import AnonymousUser, User
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.db.models import Model, QuerySet

from rms import sql
from rms.models import CaseloadEntry, Membership, Patient, Role, Team
from rms.models.teams import WRITE_ROLES

AnyUser = User | AnonymousUser

# The refusal of a change to a patient's record, the same sentence from every page, API
# endpoint, command and service.
WRITE_REFUSAL = (
    "Only a clinician of the patient's team can change their record (a clinician or team "
    "admin, not a viewer)."
)
READ_REFUSAL = "This patient is not on the caseload of any of your teams."
TEAM_ADMIN_REFUSAL = "Only a team admin of the team can do this."


class Refused(PermissionDenied):
    """The user may not do this. ``reason`` is the sentence shown to them (403)."""

    def __init__(self, reason: str = WRITE_REFUSAL) -> None:
        super().__init__(reason)
        self.reason = reason


def member_teams(*, user: AnyUser, roles: frozenset[str] | None = None) -> QuerySet[Team]:
    """The teams ``user`` belongs to (optionally only those where they hold one of ``roles``)."""
    if not user.is_authenticated:
        return Team.objects.none()
    memberships = Membership.objects.filter(user_id=user.pk)
    if roles is not None:
        memberships = memberships.filter(role__in=roles)
    return Team.objects.filter(id__in=memberships.values("team_id"))


def _having(teams: QuerySet[Team], patient: Patient) -> QuerySet[Team]:
    return teams.filter(
        caseload_entries__patient=patient, caseload_entries__ended_on__isnull=True
    ).distinct()


def readable_teams(*, user: AnyUser, patient: Patient) -> QuerySet[Team]:
    """``user``'s teams (any role) that have ``patient`` on their open caseload."""
    return _having(member_teams(user=user), patient)


def writable_teams(*, user: AnyUser, patient: Patient) -> QuerySet[Team]:
    """``user``'s teams where they are a clinician or team admin and that have ``patient``
    on their open caseload."""
    return _having(member_teams(user=user, roles=WRITE_ROLES), patient)


def can_read(*, user: AnyUser, patient: Patient) -> bool:
    return readable_teams(user=user, patient=patient).exists()


def can_write(*, user: AnyUser, patient: Patient) -> bool:
    return writable_teams(user=user, patient=patient).exists()


def require_read(*, user: AnyUser, patient: Patient) -> None:
    """``Refused`` unless ``user`` may read ``patient``'s record."""
    if not can_read(user=user, patient=patient):
        raise Refused(READ_REFUSAL)


def require_write(*, user: AnyUser, patient: Patient, team: Team | None = None) -> Team:
    """The team ``user`` writes for ``patient`` as: ``team`` when given, else the first by
    name of their writable teams. ``Refused`` (``WRITE_REFUSAL``) when there is none or
    ``team`` is not one of them. (``writable_teams``, read with one fixed statement: every
    change to a record asks this, and building the ORM's query cost five times running it;
    a test holds the two to the same answers.)"""
    if not user.is_authenticated:
        raise Refused()
    params: list[object] = [user.pk, *sorted(WRITE_ROLES), patient.pk]
    if team is not None:
        params.append(team.pk)
    found = sql.rows(Team, _writable_sql(one=team is not None), params, "name, id", limit=1)
    if not found:
        raise Refused()
    return team if team is not None else found[0]


@functools.cache
def _writable_sql(*, one: bool) -> str:
    """``writable_teams``' condition on a team, as SQL (``rms.sql.rows``); with ``one``, of
    the team whose id is the last parameter."""
    quote = connection.ops.quote_name

    def table(model: type[Model]) -> str:
        return quote(model._meta.db_table)

    roles = sql.placeholders(list(WRITE_ROLES))
    return (
        f"id IN (SELECT m.team_id FROM {table(Membership)} m "  # noqa: S608 - names from the models
        f"WHERE m.user_id = %s AND m.role IN ({roles})) "
        f"AND id IN (SELECT c.team_id FROM {table(CaseloadEntry)} c "
        "WHERE c.patient_id = %s AND c.ended_on IS NULL)" + (" AND id = %s" if one else "")
    )


def can_write_in_team(*, user: AnyUser, team_id: int | None) -> bool:
    """Whether ``user`` (active) is a clinician or team admin of the team ``team_id``: for
    things that belong to a team rather than a patient (a work item, a library resource)."""
    if team_id is None or not user.is_active:
        return False
    return member_teams(user=user, roles=WRITE_ROLES).filter(pk=team_id).exists()


def is_team_admin(*, user: AnyUser, team_ids: Iterable[int] | None = None) -> bool:
    """Whether ``user`` (active) is a team admin of one of the teams ``team_ids`` (of any
    team when None)."""
    if not user.is_active:
        return False
    admin_of = member_teams(user=user, roles=frozenset({Role.TEAM_ADMIN}))
    if team_ids is not None:
        admin_of = admin_of.filter(pk__in=list(team_ids))
    return admin_of.exists()


def is_team_admin_for(*, user: AnyUser, patient: Patient) -> bool:
    """Whether ``user`` is a team admin of one of ``patient``'s teams."""
    admin_of = member_teams(user=user, roles=frozenset({Role.TEAM_ADMIN}))
    return _having(admin_of, patient).exists()


def require_team_admin(
    *, user: AnyUser, team_ids: Iterable[int], reason: str = TEAM_ADMIN_REFUSAL
) -> None:
    """``Refused`` with ``reason`` unless ``user`` is a team admin of one of ``team_ids``."""
    if not is_team_admin(user=user, team_ids=team_ids):
        raise Refused(reason)
