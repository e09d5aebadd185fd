"""Reads of work items, always scoped to the requesting user's teams.

A user sees the items of the teams they belong to (any role, viewers included); items with
no team (inbound messages no patient could be matched to) belong to the administrators and
are seen by active superusers only. As with patients, the API and the clinician pages have no
"see everything" mode: a superuser sees other teams' items only in Django admin.
"""

from __future__ import annotations

import uuid

from django.contrib.auth.models import AnonymousUser, User
from django.db.models import F, Prefetch, Q, QuerySet

from rms import selectors as rms_selectors
from worklists.models import WorkItem, WorkItemEvent

AnyUser = User | AnonymousUser

# The worklist's order: a self-harm answer first, whatever else there is; then the most
# urgent; then the longest waiting (from when the result was taken, not when the item was
# raised). Every item raised since ``waiting_since`` exists has one.
WORKLIST_ORDER = (
    F("risk_of_self_harm").desc(),
    F("priority").asc(),
    F("waiting_since").asc(nulls_first=True),
    F("created_at").asc(),
    F("id").asc(),
)

# The ``status`` filter's value for "open or in progress" (what still needs someone).
ACTIVE = "active"


def _scope(user: AnyUser) -> QuerySet[WorkItem]:
    if not user.is_authenticated:
        return WorkItem.objects.none()
    scope = Q(team__in=rms_selectors.team_list(user=user))
    if user.is_active and user.is_superuser:
        scope |= Q(team__isnull=True)
    return WorkItem.objects.filter(scope)


def work_item_list(
    *,
    user: AnyUser,
    kind: str | None = None,
    status: str | None = None,
    priority: int | None = None,
    assignee: User | None = None,
    team_code: str | None = None,
    mine: bool = False,
) -> QuerySet[WorkItem]:
    """The items ``user`` may see, most urgent first, then oldest first.

    ``status`` is one status, ``"active"`` for open or in progress, or None for all.
    ``assignee`` (or ``mine``, the user themself) keeps only the items given to that person.
    """
    items = _scope(user)
    if kind:
        items = items.filter(kind=kind)
    if status == ACTIVE:
        items = items.filter(status__in=WorkItem.ACTIVE)
    elif status:
        items = items.filter(status=status)
    if priority is not None:
        items = items.filter(priority=priority)
    if mine:
        assignee = user if isinstance(user, User) else None
        if assignee is None:
            return WorkItem.objects.none()
    if assignee is not None:
        items = items.filter(assignee=assignee)
    if team_code:
        items = items.filter(team__code=team_code.strip().upper())
    return items.select_related("patient", "team", "assignee").order_by(*WORKLIST_ORDER)


def work_item_get(*, user: AnyUser, public_id: uuid.UUID | str) -> WorkItem:
    """One item in ``user``'s scope, with its events (oldest first) in one extra query;
    raises ``WorkItem.DoesNotExist`` for anything else (a malformed id, another team's item)."""
    try:
        key = uuid.UUID(str(public_id))
    except ValueError:
        raise WorkItem.DoesNotExist from None
    return (
        _scope(user)
        .select_related("patient", "team", "assignee", "closed_by", "created_by")
        .prefetch_related(
            Prefetch(
                "events",
                queryset=WorkItemEvent.objects.select_related("actor", "assignee").order_by(
                    "at", "id"
                ),
            )
        )
        .get(public_id=key)
    )
