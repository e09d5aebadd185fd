"""Display logic of the worklist pages: items, caseload rows and alert yield in words.

Plain classes the templates read, so templates need no custom tags and this logic can be
tested without rendering. Presenters never query: views hand them what the reads returned
(the item's patient, team and assignee are selected with it).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.models import User
from django.utils import timezone

from rms.presenters import PatientPresenter, format_date
from worklists.forms import user_label
from worklists.models import Outcome, WorkItem
from worklists.reads import AlertYield, KindCount, YieldRow

Priority = WorkItem.Priority
Status = WorkItem.Status

# Bootstrap badge classes by priority; the badge always says the priority in words too.
PRIORITY_BADGES = {
    Priority.URGENT: "text-bg-danger",
    Priority.HIGH: "text-bg-warning",
    Priority.NORMAL: "text-bg-secondary",
    Priority.LOW: "text-bg-light border",
}


def days_ago(then: dt.datetime, today: dt.date) -> str:
    """'today', '1 day', '3 days': how long an item has waited."""
    days = (today - timezone.localdate(then)).days
    if days <= 0:
        return "today"
    return "1 day" if days == 1 else f"{days} days"


def first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return ""


@dataclass(frozen=True)
class Choice:
    value: str
    label: str
    selected: bool = False


@dataclass
class RowFeedback:
    """What the last action on a row said: a message, and which of its forms to reopen."""

    message: str = ""
    level: str = "success"  # a Bootstrap alert colour: success, danger, warning
    open_form: str = ""  # "assign", "complete" or "dismiss"
    values: Mapping[str, str] = field(default_factory=dict)


class WorkItemRow:
    """One item as a worklist row: what it is, who has it, and what the user may do."""

    def __init__(
        self,
        item: WorkItem,
        *,
        today: dt.date,
        user: User,
        may_act: bool,
        colleagues: Sequence[User] = (),
        outcomes: Sequence[Outcome] = (),
        outcome_labels: Mapping[str, str] | None = None,
        feedback: RowFeedback | None = None,
    ) -> None:
        self.item = item
        self.today = today
        self.user = user
        self.may_act = may_act
        self._colleagues = colleagues
        self._outcomes = outcomes
        self._outcome_labels = outcome_labels or {o.code: o.label for o in outcomes}
        self.feedback = feedback or RowFeedback()

    @property
    def public_id(self) -> str:
        return str(self.item.public_id)

    @property
    def dom_id(self) -> str:
        return f"item-{self.item.public_id}"

    @property
    def priority(self) -> str:
        return self.item.get_priority_display()

    @property
    def priority_badge(self) -> str:
        return PRIORITY_BADGES.get(Priority(self.item.priority), "text-bg-secondary")

    @property
    def kind(self) -> str:
        return self.item.get_kind_display()

    @property
    def patient(self) -> PatientPresenter | None:
        patient = self.item.patient
        return PatientPresenter(patient, today=self.today, teams=()) if patient else None

    @property
    def team(self) -> str:
        return self.item.team.name if self.item.team else "Administrators"

    @property
    def title(self) -> str:
        return self.item.title

    @property
    def summary(self) -> str:
        return first_line(self.item.explanation)

    @property
    def waited_from(self) -> dt.datetime:
        """When the cause happened (the result was taken), else when the item was raised."""
        return self.item.waiting_since or self.item.created_at

    @property
    def age(self) -> str:
        """How long the item has waited, from when its result was taken."""
        return days_ago(self.waited_from, self.today)

    @property
    def waiting_since(self) -> str:
        return format_date(timezone.localdate(self.waited_from))

    @property
    def raised_on(self) -> str:
        return format_date(timezone.localdate(self.item.created_at))

    @property
    def is_self_harm(self) -> bool:
        return self.item.risk_of_self_harm

    @property
    def due(self) -> str:
        return format_date(self.item.due_date)

    @property
    def is_overdue(self) -> bool:
        due = self.item.due_date
        return due is not None and due < self.today and self.is_active

    @property
    def assignee(self) -> str:
        assignee = self.item.assignee
        if assignee is None:
            return "Unassigned"
        return "You" if assignee.pk == self.user.pk else user_label(assignee)

    @property
    def is_mine(self) -> bool:
        return self.item.assignee_id == self.user.pk

    @property
    def status(self) -> str:
        return self.item.get_status_display()

    @property
    def is_active(self) -> bool:
        return self.item.status in WorkItem.ACTIVE

    @property
    def is_open(self) -> bool:
        return self.item.status == Status.OPEN

    @property
    def can_act(self) -> bool:
        """Buttons are shown only where the services would accept them."""
        return self.may_act and self.is_active

    @property
    def outcome(self) -> str:
        """For a closed item: what was done, in words."""
        item = self.item
        if item.status == Status.DISMISSED:
            return "Dismissed"
        if item.status == Status.DONE:
            return self._outcome_labels.get(item.outcome, item.outcome)
        return ""

    @property
    def outcome_note(self) -> str:
        return self.item.outcome_note

    @property
    def colleagues(self) -> list[Choice]:
        current = self.item.assignee_id
        return [
            Choice(str(person.pk), user_label(person), person.pk == current)
            for person in self._colleagues
        ]

    @property
    def outcomes(self) -> list[Choice]:
        chosen = self.feedback.values.get("outcome", "")
        return [Choice(o.code, o.label, o.code == chosen) for o in self._outcomes if o.active]


@dataclass(frozen=True)
class Tab:
    label: str
    count: int
    query: dict[str, str | None]  # for {% querystring %}: None removes the parameter
    current: bool


def scope_tabs(counts: Iterable[KindCount], *, scope: str, kind: str) -> list[Tab]:
    """'Mine', 'My teams' and 'Overdue', each with how many items it holds (of the chosen
    kind)."""
    rows = [c for c in counts if not kind or c.kind == kind]
    return [
        Tab("Mine", sum(c.mine for c in rows), {"show": "mine"}, scope == "mine"),
        Tab("My teams", sum(c.team for c in rows), {"show": "team"}, scope == "team"),
        Tab("Overdue", sum(c.overdue for c in rows), {"show": "overdue"}, scope == "overdue"),
    ]


def kind_tabs(counts: Iterable[KindCount], *, scope: str, kind: str) -> list[Tab]:
    """'All kinds' and one tab for each kind, with the count in the current scope."""
    counts = list(counts)

    def number(c: KindCount) -> int:
        return {"mine": c.mine, "overdue": c.overdue}.get(scope, c.team)

    tabs = [Tab("All kinds", sum(number(c) for c in counts), {"kind": None}, not kind)]
    tabs.extend(Tab(c.label, number(c), {"kind": c.kind}, c.kind == kind) for c in counts)
    return tabs


class PatientGroup:
    """One patient's row of the worklist by patient: their open items (rows, in the
    worklist's order), summarised by the first, which decides where the patient sorts."""

    def __init__(self, rows: Sequence[WorkItemRow], *, feedback: RowFeedback | None = None):
        self.rows = list(rows)
        self.feedback = feedback or RowFeedback()

    @property
    def first(self) -> WorkItemRow:
        return self.rows[0]

    @property
    def active_rows(self) -> list[WorkItemRow]:
        return [row for row in self.rows if row.is_active]

    @property
    def patient(self) -> PatientPresenter | None:
        return self.first.patient

    @property
    def key(self) -> str:
        """The patient's public id, or the first item's for items with no patient."""
        patient = self.first.item.patient
        return str(patient.public_id) if patient else f"none-{self.first.public_id}"

    @property
    def dom_id(self) -> str:
        return f"patient-{self.key}"

    @property
    def count(self) -> int:
        return len(self.active_rows)

    @property
    def is_self_harm(self) -> bool:
        return any(row.is_self_harm and row.is_active for row in self.rows)

    @property
    def due(self) -> str:
        """The earliest due date of the open items."""
        days = [row.item.due_date for row in self.active_rows if row.item.due_date]
        return format_date(min(days)) if days else ""

    @property
    def is_overdue(self) -> bool:
        return any(row.is_overdue for row in self.rows)

    @property
    def assignees(self) -> str:
        names = list(dict.fromkeys(row.assignee for row in self.active_rows))
        return ", ".join(names)

    @property
    def can_act(self) -> bool:
        return any(row.can_act for row in self.rows)

    @property
    def colleagues(self) -> list[Choice]:
        """Whom the ticked items can be given to: the colleagues of the first item's team
        (a patient's items are their team's)."""
        for row in self.rows:
            if row.can_act:
                return [Choice(c.value, c.label) for c in row.colleagues]
        return []

    @property
    def outcomes(self) -> list[Choice]:
        return self.first.outcomes


@dataclass(frozen=True)
class YieldLine:
    team: str
    name: str
    raised: int
    still_open: int
    actioned: int
    closed_without_action: int
    yield_text: str


def _line(row: YieldRow) -> YieldLine:
    percent = row.yield_percent
    return YieldLine(
        team=row.team,
        name=row.name,
        raised=row.raised,
        still_open=row.still_open,
        actioned=row.actioned,
        closed_without_action=row.closed_without_action,
        yield_text="—" if percent is None else f"{percent:g}%",
    )


class YieldPresenter:
    """The alert-yield tables and the chart's data."""

    def __init__(self, report: AlertYield) -> None:
        self.report = report
        self.rules = [_line(row) for row in report.rules]
        self.kinds = [_line(row) for row in report.kinds]

    @property
    def period(self) -> str:
        return f"{format_date(self.report.start)} to {format_date(self.report.end)}"

    def chart_data(self) -> dict[str, Any]:
        """For static/js/yield-chart.js (through json_script): one bar pair per rule."""
        rows = self.report.rules
        return {
            "labels": [f"{row.name} ({row.team})" for row in rows],
            "raised": [row.raised for row in rows],
            "actioned": [row.actioned for row in rows],
        }
