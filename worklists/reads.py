"""Reads for the worklist pages: the filtered worklist and its counts, the caseload, the alert
yield, and who may act on what.

Scope comes from ``worklists.selectors`` and ``rms.selectors`` (the user's teams); these
functions only narrow and summarise what those return, so nothing here widens anyone's view.
Each read is one query (or a fixed handful) however many rows there are: the pages are tested
with ``django_assert_max_num_queries``.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.models import User
from django.db.models import (
    Case,
    CharField,
    Count,
    F,
    Max,
    Min,
    Q,
    QuerySet,
    Value,
    When,
)
from django.db.models.fields.json import KT
from django.db.models.functions import Coalesce
from django.utils import timezone

from rms.models import Membership, Role, Team
from rms.models.teams import WRITE_ROLES
from worklists import selectors
from worklists.models import Outcome, WorkItem
from worklists.services import YIELD_GROUP

AnyUser = selectors.AnyUser

# The worklist's scopes: the items given to me, every item of my teams, and my teams' items
# past their due date.
MINE = "mine"
TEAM = "team"
OVERDUE = "overdue"
# The worklist's two views: one row per patient (the default), or one row per item.
BY_PATIENT = "patients"
BY_ITEM = "items"
# The assignee filter's value for "nobody yet".
UNASSIGNED = "none"


# ---------------------------------------------------------------------------
# Who the user is in their teams
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class MyTeams:
    """The user's teams and roles, read once per request."""

    teams: list[Team]
    write_team_ids: frozenset[int]
    admin_team_ids: frozenset[int]
    superuser: bool = False

    def may_act(self, item: WorkItem) -> bool:
        """As ``worklists.services`` decides it: a clinician or team admin of the item's team;
        an item with no team only for an active superuser."""
        if item.team_id is None:
            return self.superuser
        return item.team_id in self.write_team_ids

    @property
    def can_act_anywhere(self) -> bool:
        return bool(self.write_team_ids) or self.superuser

    @property
    def admin_teams(self) -> list[Team]:
        return [team for team in self.teams if team.pk in self.admin_team_ids]


def my_teams(*, user: AnyUser) -> MyTeams:
    """The user's teams (by name) with the ones they may act in and administer. One query."""
    if not isinstance(user, User) or not user.is_active:
        return MyTeams(teams=[], write_team_ids=frozenset(), admin_team_ids=frozenset())
    memberships = list(
        Membership.objects.filter(user=user).select_related("team").order_by("team__name", "id")
    )
    return MyTeams(
        teams=[m.team for m in memberships],
        write_team_ids=frozenset(m.team_id for m in memberships if m.role in WRITE_ROLES),
        admin_team_ids=frozenset(m.team_id for m in memberships if m.role == Role.TEAM_ADMIN),
        superuser=user.is_superuser,
    )


def colleagues_by_team(*, team_ids: Iterable[int]) -> dict[int, list[User]]:
    """The active clinicians and team admins of each team (those an item can be given to),
    by name. One query for all the teams."""
    found: dict[int, list[User]] = defaultdict(list)
    memberships = (
        Membership.objects.filter(
            team_id__in=list(team_ids), role__in=WRITE_ROLES, user__is_active=True
        )
        .select_related("user")
        .order_by("user__last_name", "user__first_name", "user__username", "id")
    )
    for membership in memberships:
        found[membership.team_id].append(membership.user)
    return dict(found)


def outcome_list(*, active_only: bool = True) -> list[Outcome]:
    """The outcomes offered when completing an item, in their configured order."""
    outcomes = Outcome.objects.all()
    if active_only:
        outcomes = outcomes.filter(active=True)
    return list(outcomes.order_by("order", "label", "id"))


# ---------------------------------------------------------------------------
# The worklist
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class WorklistFilters:
    """What the worklist's filter form asked for (blank: no filter)."""

    scope: str = TEAM
    kind: str = ""
    priority: int | None = None
    team_code: str = ""
    tumour_site: str = ""
    due_before: dt.date | None = None
    assignee: str = ""  # "", UNASSIGNED, or a user's pk

    @property
    def narrowed(self) -> bool:
        """True when any filter beyond the scope is set."""
        return bool(
            self.kind
            or self.priority is not None
            or self.team_code
            or self.tumour_site
            or self.due_before
            or self.assignee
        )

    def assignee_q(self) -> Q:
        if self.scope == MINE or not self.assignee:
            return Q()
        if self.assignee == UNASSIGNED:
            return Q(assignee__isnull=True)
        return Q(assignee_id=int(self.assignee)) if self.assignee.isdigit() else Q(pk__in=[])


def _filtered(user: AnyUser, filters: WorklistFilters, *, kind: str) -> QuerySet[WorkItem]:
    items = selectors.work_item_list(
        user=user,
        status=selectors.ACTIVE,
        kind=kind or None,
        priority=filters.priority,
        team_code=filters.team_code or None,
    )
    if filters.tumour_site:
        items = items.filter(team__tumour_site=filters.tumour_site)
    if filters.due_before is not None:
        items = items.filter(due_date__lte=filters.due_before)
    return items


def _overdue_q() -> Q:
    return Q(due_date__lt=timezone.localdate())


def worklist(*, user: AnyUser, filters: WorklistFilters) -> QuerySet[WorkItem]:
    """The open and in-progress items in scope that match ``filters``: a self-harm answer
    first, then the most urgent, then the longest waiting; with their patient, team and
    assignee."""
    items = _filtered(user, filters, kind=filters.kind)
    if filters.scope == MINE:
        items = items.filter(assignee_id=user.pk) if isinstance(user, User) else items.none()
    elif filters.scope == OVERDUE:
        items = items.filter(_overdue_q())
    return items.filter(filters.assignee_q())


def worklist_patients(*, user: AnyUser, filters: WorklistFilters) -> QuerySet[Any]:
    """The patients of ``worklist`` (one row each, ``patient`` their id, None for the items
    with no patient), in the order of each one's first item: a self-harm answer first, then
    the most urgent, then the longest waiting. Each row also counts the patient's items
    (``items``). One query; a page of it is fetched with ``worklist_of_patients``."""
    harm = Max(Case(When(risk_of_self_harm=True, then=Value(1)), default=Value(0)))
    return (
        worklist(user=user, filters=filters)
        .order_by()
        .values("patient")
        .annotate(
            harm=harm,
            top=Min("priority"),
            waited_from=Min(Coalesce("waiting_since", "created_at")),
            items=Count("pk"),
        )
        .order_by("-harm", "top", "waited_from", F("patient").asc(nulls_last=True))
    )


def worklist_of_patients(
    *, user: AnyUser, filters: WorklistFilters, patient_ids: Iterable[int | None]
) -> dict[int | None, list[WorkItem]]:
    """The items of ``worklist`` of these patients, by patient id (None: no patient), each
    list in the worklist's order. One query."""
    ids = list(patient_ids)
    wanted = Q(patient_id__in=[pk for pk in ids if pk is not None])
    if None in ids:
        wanted |= Q(patient__isnull=True)
    found: dict[int | None, list[WorkItem]] = {pk: [] for pk in ids}
    for item in worklist(user=user, filters=filters).filter(wanted):
        found.setdefault(item.patient_id, []).append(item)
    return found


@dataclass(frozen=True)
class KindCount:
    kind: str
    label: str
    team: int
    mine: int
    overdue: int = 0


def kind_counts(*, user: AnyUser, filters: WorklistFilters) -> list[KindCount]:
    """How many items of each kind the other filters leave, in my teams and given to me:
    one aggregate query. Every kind is listed, with zero where there are none."""
    # An empty Q would be no filter at all; this one is true of every row.
    in_scope = filters.assignee_q() or Q(pk__isnull=False)
    me = user.pk if isinstance(user, User) else None
    rows = (
        _filtered(user, filters, kind="")
        .order_by()
        .values("kind")
        .annotate(
            team=Count("pk", filter=in_scope),
            mine=Count("pk", filter=Q(assignee_id=me)),
            overdue=Count("pk", filter=in_scope & _overdue_q()),
        )
    )
    by_kind: dict[str, tuple[int, int, int]] = {
        row["kind"]: (row["team"], row["mine"], row["overdue"]) for row in rows
    }
    return [
        KindCount(
            kind=kind.value,
            label=kind.label,
            team=by_kind.get(kind.value, (0, 0, 0))[0],
            mine=by_kind.get(kind.value, (0, 0, 0))[1],
            overdue=by_kind.get(kind.value, (0, 0, 0))[2],
        )
        for kind in WorkItem.Kind
    ]


# ---------------------------------------------------------------------------
# Alert yield
# ---------------------------------------------------------------------------
@dataclass
class YieldRow:
    """How many items one rule (or one kind) raised in one team, and what came of them."""

    team: str
    name: str
    raised: int = 0
    still_open: int = 0
    actioned: int = 0
    closed_without_action: int = 0
    kind: str = ""

    @property
    def closed(self) -> int:
        return self.raised - self.still_open

    @property
    def yield_percent(self) -> float | None:
        """Actioned as a share of everything raised (open items have not led to an action
        yet); None when nothing was raised."""
        return round(100 * self.actioned / self.raised, 1) if self.raised else None


@dataclass
class AlertYield:
    start: dt.date
    end: dt.date
    rules: list[YieldRow] = field(default_factory=list)
    kinds: list[YieldRow] = field(default_factory=list)


def _day_start(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=timezone.get_current_timezone())


def alert_yield(*, teams: Iterable[Team], start: dt.date, end: dt.date) -> AlertYield:
    """For the items raised in ``teams`` from ``start`` to ``end`` (whole days, local time):
    per rule (threshold breaches, by the rule's name) and per other kind, how many were raised,
    are still open, and were completed with an outcome that counts as an action. The caller
    chooses the teams (a team admin's own). Two aggregate queries."""
    team_list = list(teams)
    items = WorkItem.objects.filter(
        team__in=team_list,
        created_at__gte=_day_start(start),
        created_at__lt=_day_start(end + dt.timedelta(days=1)),
    )
    actioned_codes = Outcome.objects.filter(counts_as_action=True).values("code")
    measures = {
        "raised": Count("pk"),
        "still_open": Count("pk", filter=Q(status__in=WorkItem.ACTIVE)),
        "actioned": Count("pk", filter=Q(status=WorkItem.Status.DONE, outcome__in=actioned_codes)),
    }
    breaches = (
        items.filter(kind=WorkItem.Kind.THRESHOLD_BREACH)
        # Each plan has its own copy of a pathway's rule, so a rule is known by its name.
        .annotate(
            rule=Coalesce(KT(f"details__{YIELD_GROUP}"), F("source"), output_field=CharField())
        )
        .values("team__name", "rule")
        .annotate(**measures)
        .order_by("team__name", "rule")
    )
    others = (
        items.exclude(kind=WorkItem.Kind.THRESHOLD_BREACH)
        .values("team__name", "kind")
        .annotate(**measures)
        .order_by("team__name", "kind")
    )
    kind_labels = dict(WorkItem.Kind.choices)

    def row(values: Mapping[str, Any], name: str, kind: str) -> YieldRow:
        return YieldRow(
            team=values["team__name"],
            name=name,
            kind=kind,
            raised=values["raised"],
            still_open=values["still_open"],
            actioned=values["actioned"],
            closed_without_action=values["raised"] - values["still_open"] - values["actioned"],
        )

    return AlertYield(
        start=start,
        end=end,
        rules=[
            row(v, v["rule"] or "Unnamed rule", WorkItem.Kind.THRESHOLD_BREACH) for v in breaches
        ],
        kinds=[row(v, kind_labels.get(v["kind"], v["kind"]), v["kind"]) for v in others],
    )
