"""Reads of a patient's audit trail: who has seen (``AccessEvent``) or changed (django-auditlog's
``LogEntry``) the record, merged into one list, newest first.

Which change-log rows belong to a patient is worked out from the models registered with
auditlog: the patient row itself, every registered model with a foreign key to ``Patient``,
and every registered model one foreign key further (an observation through its result, a
plan test through its plan). Live rows are found through a subquery of their ids; rows since
deleted through the patient id their delete entry recorded (auditlog keeps the old value of a
foreign key as its id). A fixed handful of queries however long the trail is.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import cache

from auditlog.models import LogEntry
from auditlog.registry import auditlog
from django.contrib.auth.models import User
from django.contrib.contenttypes.models import ContentType
from django.db.models import ForeignKey, Model, Q, QuerySet

from rms import permissions
from rms.models import AccessEvent, Patient

ACCESS = "access"
CHANGE = "change"
ACTIONS = {
    LogEntry.Action.CREATE: "created",
    LogEntry.Action.UPDATE: "changed",
    LogEntry.Action.DELETE: "deleted",
    LogEntry.Action.ACCESS: "accessed",
}


@dataclass(frozen=True)
class Cursor:
    """Where a page ends: the (time, source, id) of its last entry; the next page is older."""

    at: dt.datetime
    source: str
    id: int

    def encode(self) -> str:
        return f"{self.at.isoformat()}~{self.source}~{self.id}"

    @classmethod
    def decode(cls, text: str) -> Cursor | None:
        try:
            at, source, pk = text.split("~")
            parsed = dt.datetime.fromisoformat(at)
        except ValueError:
            return None
        if source not in (ACCESS, CHANGE) or not pk.isdigit() or parsed.tzinfo is None:
            return None
        return cls(at=parsed, source=source, id=int(pk))


@dataclass(frozen=True)
class Entry:
    """One line of the trail."""

    at: dt.datetime
    source: str
    id: int
    user: str
    action: str
    what: str
    detail: str
    channel: str
    outcome: str
    ip_address: str

    @property
    def cursor(self) -> Cursor:
        return Cursor(at=self.at, source=self.source, id=self.id)


def user_is_team_admin_for(*, user: User, patient: Patient) -> bool:
    """True when ``user`` is a team admin of a team that has ``patient`` on its open caseload."""
    return permissions.is_team_admin_for(user=user, patient=patient)


@cache
def _patient_paths() -> tuple[tuple[type[Model], str, str], ...]:
    """(model, lookup from the model to the patient, first foreign key on that path) for
    every model registered with auditlog that belongs to one patient."""
    paths: list[tuple[type[Model], str, str]] = []
    for model in auditlog.get_models():
        if model is Patient:
            continue
        for field in model._meta.get_fields():
            if not isinstance(field, ForeignKey):
                continue
            target = field.related_model
            if target is Patient:
                paths.append((model, field.name, field.name))
                break
            if isinstance(target, type) and auditlog.contains(target):
                inner = next(
                    (
                        f
                        for f in target._meta.get_fields()
                        if isinstance(f, ForeignKey) and f.related_model is Patient
                    ),
                    None,
                )
                if inner is not None:
                    paths.append((model, f"{field.name}__{inner.name}", field.name))
                    break
    return tuple(paths)


def _change_filter(*, patient: Patient) -> Q:
    patient_id = str(patient.pk)
    query = Q(content_type=ContentType.objects.get_for_model(Patient), object_id=patient.pk)
    for model, lookup, first in _patient_paths():
        content_type = ContentType.objects.get_for_model(model)
        live = model._default_manager.filter(**{lookup: patient}).values("pk")
        query |= Q(content_type=content_type, object_id__in=live)
        if lookup == first:
            # Deleted since: the delete entry kept the patient's id as the old value.
            query |= Q(content_type=content_type, action=LogEntry.Action.DELETE) & (
                Q(**{f"changes__{first}__0": patient_id})
            )
    return query


def change_entries(*, patient: Patient) -> QuerySet[LogEntry]:
    """django-auditlog rows of the patient's record (one query when evaluated)."""
    return (
        LogEntry.objects.filter(_change_filter(patient=patient))
        .select_related("actor", "content_type")
        .order_by("-timestamp", "-id")
    )


def access_entries(*, patient: Patient) -> QuerySet[AccessEvent]:
    """Opening the record, and every list (search, worklist, caseload, API list, export)
    that showed the patient among others."""
    listed = AccessEvent.patients.through.objects.filter(patient=patient).values("accessevent_id")
    return (
        AccessEvent.objects.filter(Q(patient=patient) | Q(pk__in=listed))
        .select_related("user")
        .order_by("-at", "-id")
    )


def _before(cursor: Cursor | None, source: str, time_field: str) -> Q:
    """Rows after ``cursor`` in the order (time desc, source desc, id desc)."""
    if cursor is None:
        return Q()
    if source < cursor.source:
        return Q(**{f"{time_field}__lte": cursor.at})
    if source > cursor.source:
        return Q(**{f"{time_field}__lt": cursor.at})
    return Q(**{f"{time_field}__lt": cursor.at}) | Q(**{time_field: cursor.at, "id__lt": cursor.id})


def _access_entry(event: AccessEvent) -> Entry:
    return Entry(
        at=event.at,
        source=ACCESS,
        id=event.pk,
        user=event.user.username,
        action="viewed" if event.outcome == AccessEvent.Outcome.ALLOWED else "refused",
        what=event.action,
        # A list names its patients in ``patients``; this one was among them.
        detail="" if event.patient_id is not None else "in a list of patients",
        channel=event.channel,
        outcome=event.get_outcome_display(),
        ip_address=event.ip_address or "",
    )


def _change_entry(entry: LogEntry) -> Entry:
    model = entry.content_type.model_class()
    what = str(model._meta.verbose_name) if model is not None else entry.content_type.model
    # Field names only: the values are in the record (and in admin) for those allowed to see.
    fields = ", ".join(sorted((entry.changes or {}).keys()))
    return Entry(
        at=entry.timestamp,
        source=CHANGE,
        id=entry.pk,
        user=entry.actor.username if entry.actor is not None else "(system)",
        action=ACTIONS.get(entry.action, str(entry.action)),
        what=what,
        detail=fields if entry.action == LogEntry.Action.UPDATE else "",
        channel="",
        outcome="",
        ip_address=entry.remote_addr or "",
    )


def audit_trail(
    *,
    patient: Patient,
    date_from: dt.datetime | None = None,
    date_to: dt.datetime | None = None,
    user_id: int | None = None,
    after: Cursor | None = None,
    limit: int = 50,
) -> list[Entry]:
    """Up to ``limit`` entries older than ``after``, newest first, filtered by time
    (``date_from`` inclusive, ``date_to`` exclusive) and user. Two queries."""
    accesses = access_entries(patient=patient).filter(_before(after, ACCESS, "at"))
    changes = change_entries(patient=patient).filter(_before(after, CHANGE, "timestamp"))
    if date_from is not None:
        accesses = accesses.filter(at__gte=date_from)
        changes = changes.filter(timestamp__gte=date_from)
    if date_to is not None:
        accesses = accesses.filter(at__lt=date_to)
        changes = changes.filter(timestamp__lt=date_to)
    if user_id is not None:
        accesses = accesses.filter(user_id=user_id)
        changes = changes.filter(actor_id=user_id)
    merged = [_access_entry(e) for e in accesses[:limit]] + [
        _change_entry(e) for e in changes[:limit]
    ]
    merged.sort(key=lambda e: (e.at, e.source, e.id), reverse=True)
    return merged[:limit]


def audit_users(*, patient: Patient) -> QuerySet[User]:
    """Everyone who appears in the patient's trail, for the filter (one query)."""
    return User.objects.filter(
        Q(pk__in=access_entries(patient=patient).order_by().values("user_id"))
        | Q(pk__in=change_entries(patient=patient).order_by().values("actor_id"))
    ).order_by("username")
