"""Writes to work items: raise, assign, start, complete, dismiss, close by the system.

Every function is keyword-only, takes the ``actor`` who acts (background jobs and feeds pass
``rms.services.system_user()``), runs in one transaction, writes one ``WorkItemEvent`` for
each change it makes, and is safe to repeat: raising the same cause again, or repeating the
transition an item has already made, changes nothing and writes no event.

People act on an item only as a clinician or team admin of the item's team (a viewer reads
only); an item with no team (an inbound message we could not match to a patient) belongs to
the administrators, so only an active superuser acts on it. The system closes items whose
cause went away without that check.

A cause is named by a typed key (``worklists.keys``): the app that raises an item passes its
own key and its own wording, and closes its items by cause (``work_items_close_by_cause``
with the ``CauseScope`` its key class hands out). The worklists know no app above them; the
causes they own themselves (held inbound messages) are at the end.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from rms import permissions
from rms import selectors as rms_selectors
from rms.models import InboundMessage, Patient, Team
from worklists.due import due_by_priority
from worklists.keys import CauseScope, HeldInboundKey, WorkItemKey
from worklists.models import WorkItem, WorkItemEvent

Status = WorkItem.Status
Kind = WorkItem.Kind
Priority = WorkItem.Priority

CLOSED = (Status.DONE, Status.DISMISSED)


# Max lengths of the model's fields, for text the system writes (it is cut, never refused:
# a long rule name must not stop a result being filed).
def _max_length(name: str) -> int:
    length: int = getattr(WorkItem._meta.get_field(name), "max_length", None) or 0
    return length


_TITLE_MAX = _max_length("title")
_SOURCE_MAX = _max_length("source")
_OUTCOME_MAX = _max_length("outcome")


# Where an item keeps the name the alert yield counts it under (a threshold breach: its
# rule's name, as each plan has its own copy of a pathway's rule). The raiser gives the name
# (``yield_group``); the worklists own where it is kept and read it (``worklists.reads``).
YIELD_GROUP = "rule"


def _details(details: dict[str, Any] | None, yield_group: str) -> dict[str, Any]:
    return {**(details or {}), YIELD_GROUP: yield_group} if yield_group else dict(details or {})


def _cut(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _event(
    item: WorkItem,
    *,
    action: str,
    actor: User,
    from_status: str = "",
    to_status: str = "",
    assignee: User | None = None,
    note: str = "",
) -> WorkItemEvent:
    return WorkItemEvent.objects.create(
        work_item=item,
        action=action,
        actor=actor,
        from_status=from_status,
        to_status=to_status,
        assignee=assignee,
        note=note,
    )


def _locked(item: WorkItem) -> WorkItem:
    # Two people clicking at once: the second waits and then sees the first one's change.
    return WorkItem.objects.select_for_update().get(pk=item.pk)


def _sync(item: WorkItem, fresh: WorkItem) -> WorkItem:
    """Copy the saved state onto the caller's instance, so it does not hold a stale status."""
    if item is not fresh:
        for field in WorkItem._meta.concrete_fields:
            setattr(item, field.attname, getattr(fresh, field.attname))
    return fresh


def _may_act(user: User, item: WorkItem) -> bool:
    if item.team_id is None:
        return user.is_active and user.is_superuser
    return permissions.can_write_in_team(user=user, team_id=item.team_id)


def _require_may_act(actor: User, item: WorkItem) -> None:
    if not _may_act(actor, item):
        if item.team_id is None:
            raise permissions.Refused("Only an administrator can act on an item that has no team.")
        raise permissions.Refused(
            "Only a clinician or team admin of the item's team can act on this work item."
        )


def _refuse_closed(item: WorkItem, doing: str) -> None:
    if item.status in CLOSED:
        raise ValidationError(
            f"This work item is already {item.get_status_display().lower()}; "
            f"it cannot be {doing}. Raise a new item if something still needs doing."
        )


def _close(
    item: WorkItem, *, to_status: str, actor: User, action: str, outcome: str, note: str
) -> None:
    from_status = item.status
    item.status = to_status
    item.outcome = outcome
    item.outcome_note = note
    item.closed_by = actor
    item.closed_at = timezone.now()
    item.save(
        update_fields=["status", "outcome", "outcome_note", "closed_by", "closed_at", "updated_at"]
    )
    _event(
        item,
        action=action,
        actor=actor,
        from_status=from_status,
        to_status=to_status,
        note=f"{outcome}: {note}" if note else outcome,
    )


# ---------------------------------------------------------------------------
# The item's life
# ---------------------------------------------------------------------------
def _timing(
    priority: int, due_date: dt.date | None, waiting_since: dt.datetime | None
) -> dict[str, Any]:
    """A new item's due date (the raiser's, else by priority) and the time it waits from
    (never in the future: a sender's clock ahead of ours must not make an item look new)."""
    now = timezone.now()
    return {
        "due_date": due_date or due_by_priority(priority, raised_on=timezone.localdate(now)),
        "waiting_since": min(waiting_since, now) if waiting_since else now,
    }


@transaction.atomic
def work_item_raise(
    *,
    kind: str,
    key: WorkItemKey,
    title: str,
    explanation: str,
    source: str,
    actor: User,
    patient: Patient | None = None,
    team: Team | None = None,
    priority: int = Priority.NORMAL,
    due_date: dt.date | None = None,
    details: dict[str, Any] | None = None,
    yield_group: str = "",
    waiting_since: dt.datetime | None = None,
    risk_of_self_harm: bool = False,
) -> tuple[WorkItem, bool]:
    """Raise the item for one cause (``key``), worded by the raiser (``title``,
    ``explanation``), or return the one already raised for it: ``(item, created)``. A second
    raise never makes another item and never reopens a closed one. With no ``team``, the
    patient's first open-caseload team owns the item; ``yield_group`` names what the alert
    yield counts it under. With no ``due_date``, the item is due by its priority
    (``worklists.due``); with no ``waiting_since`` (when the cause happened), it waits from
    now. Writes a "created" event when it creates."""
    dedupe_key = key.render()
    if not dedupe_key.strip():
        raise ValidationError({"dedupe_key": "A work item needs the identity of its cause."})
    existing = WorkItem.objects.filter(dedupe_key=dedupe_key).first()
    if existing is not None:
        return existing, False
    if team is None and patient is not None:
        # Scoping: the item is seen by the team that follows the patient. A patient on no
        # open caseload gives an item with no team, which only administrators see.
        team = rms_selectors.patient_team_list(patient=patient).order_by("name", "id").first()
    item = WorkItem(
        kind=kind,
        dedupe_key=dedupe_key,
        title=_cut(title, _TITLE_MAX),
        explanation=explanation.strip(),
        source=_cut(source, _SOURCE_MAX),
        patient=patient,
        team=team,
        priority=priority,
        details=_details(details, yield_group),
        created_by=actor,
        **_timing(priority, due_date, waiting_since),
        risk_of_self_harm=risk_of_self_harm,
    )
    # Uniqueness of the key is left to the database (below): checking it here would race.
    item.full_clean(validate_unique=False)
    try:
        with transaction.atomic():
            item.save()
            _event(item, action="created", actor=actor, to_status=item.status, note=item.source)
    except IntegrityError:
        # Another transaction raised the same cause a moment ago (the savepoint rolled back
        # only our insert): theirs is the item. Any other integrity error re-raises here.
        existing = WorkItem.objects.filter(dedupe_key=dedupe_key).first()
        if existing is None:
            raise
        return existing, False
    return item, True


# Checked by the database as the rows are written (an integrity error rolls the batch back);
# validating them in Python would cost a query per field per item.
_DATABASE_CHECKED = ["patient", "team", "assignee", "created_by", "closed_by"]


def _audit_created(items: list[WorkItem]) -> None:
    """The django-auditlog "create" entries of items written with ``bulk_create`` (which sends
    no post_save): the same entry ``auditlog`` would write for each, written together."""
    from auditlog.cid import get_cid
    from auditlog.context import auditlog_disabled
    from auditlog.diff import model_instance_diff
    from auditlog.models import LogEntry
    from django.conf import settings
    from django.contrib.contenttypes.models import ContentType
    from django.db.models.signals import pre_save

    if auditlog_disabled.get():
        return
    content_type = ContentType.objects.get_for_model(WorkItem)
    entries = []
    for item in items:
        changes = model_instance_diff(
            None, item, use_json_for_changes=getattr(settings, "AUDITLOG_STORE_JSON_CHANGES", False)
        )
        entries.append(
            LogEntry(
                content_type=content_type,
                object_pk=str(item.pk),
                object_id=item.pk,
                object_repr=str(item),
                serialized_data=LogEntry.objects._get_serialized_data_or_none(item),
                action=LogEntry.Action.CREATE,
                changes=changes,
                cid=get_cid(),
            )
        )
    for entry in entries:
        # What an entry's save would do first: inside auditlog's set_actor (a request), its
        # receiver fills in the actor and the remote address.
        pre_save.send(sender=LogEntry, instance=entry, raw=False, using="default")
    LogEntry.objects.bulk_create(entries)


@transaction.atomic
def work_items_raise(*, items: list[dict[str, Any]], actor: User) -> int:
    """Raise many items at once (a scan raising hundreds): each ``items`` entry takes the
    keyword arguments of ``work_item_raise`` (but ``actor``), with the same outcome as
    raising them one by one: an item per cause never raised before, nothing for a cause raised
    already, a "created" event and the audit entry for each new item. Written in bulk: a few
    queries for the batch, not a dozen per item. Returns how many were created."""
    by_key: dict[str, dict[str, Any]] = {}
    for values in items:
        key = values["key"].render()
        if not key.strip():
            raise ValidationError({"dedupe_key": "A work item needs the identity of its cause."})
        by_key.setdefault(key, values)
    taken = set(
        WorkItem.objects.filter(dedupe_key__in=list(by_key)).values_list("dedupe_key", flat=True)
    )
    fresh: list[WorkItem] = []
    for key, values in by_key.items():
        if key in taken:
            continue
        team = values.get("team")
        patient = values.get("patient")
        if team is None and patient is not None:
            # As work_item_raise: the team that follows the patient (rare in a batch).
            team = rms_selectors.patient_team_list(patient=patient).order_by("name", "id").first()
        item = WorkItem(
            kind=values["kind"],
            dedupe_key=key,
            title=_cut(values["title"], _TITLE_MAX),
            explanation=values["explanation"].strip(),
            source=_cut(values["source"], _SOURCE_MAX),
            patient=patient,
            team=team,
            priority=values.get("priority", Priority.NORMAL),
            details=_details(values.get("details"), values.get("yield_group", "")),
            created_by=actor,
            **_timing(
                values.get("priority", Priority.NORMAL),
                values.get("due_date"),
                values.get("waiting_since"),
            ),
            risk_of_self_harm=values.get("risk_of_self_harm", False),
        )
        item.full_clean(
            exclude=_DATABASE_CHECKED, validate_unique=False, validate_constraints=False
        )
        fresh.append(item)
    if not fresh:
        return 0
    try:
        with transaction.atomic():
            WorkItem.objects.bulk_create(fresh)
            WorkItemEvent.objects.bulk_create(
                WorkItemEvent(
                    work_item=item,
                    action="created",
                    actor=actor,
                    to_status=item.status,
                    note=item.source,
                )
                for item in fresh
            )
            _audit_created(fresh)
    except IntegrityError:
        # Another transaction raised one of these causes a moment ago: one by one, each
        # finds theirs (work_item_raise handles the race per item).
        return sum(
            int(work_item_raise(actor=actor, **by_key[item.dedupe_key])[1]) for item in fresh
        )
    return len(fresh)


@transaction.atomic
def work_item_assign(*, item: WorkItem, assignee: User | None, actor: User) -> WorkItem:
    """Give the item to ``assignee`` (a clinician or team admin of its team), or to nobody
    with ``None``. Writes an "assigned" (or "unassigned") event. Assigning to the current
    assignee again is a no-op; a closed item cannot be reassigned."""
    _require_may_act(actor, item)
    fresh = _locked(item)
    if fresh.assignee_id == (assignee.pk if assignee else None):
        return _sync(item, fresh)
    _refuse_closed(fresh, "reassigned")
    if assignee is not None and not _may_act(assignee, fresh):
        raise ValidationError(
            {"assignee": "Assign the item to a clinician or team admin of its team."}
        )
    fresh.assignee = assignee
    fresh.save(update_fields=["assignee", "updated_at"])
    _event(
        fresh,
        action="assigned" if assignee else "unassigned",
        actor=actor,
        from_status=fresh.status,
        to_status=fresh.status,
        assignee=assignee,
    )
    return _sync(item, fresh)


@transaction.atomic
def work_item_start(*, item: WorkItem, actor: User) -> WorkItem:
    """Mark the item in progress (open → in progress). An unassigned item becomes the
    actor's. Writes a "started" event; starting an item in progress again is a no-op."""
    _require_may_act(actor, item)
    fresh = _locked(item)
    if fresh.status == Status.IN_PROGRESS:
        return _sync(item, fresh)
    _refuse_closed(fresh, "started")
    fields = ["status", "updated_at"]
    if fresh.assignee_id is None:
        # Whoever starts the work has it, so the worklist shows who is on it.
        fresh.assignee = actor
        fields.append("assignee")
    fresh.status = Status.IN_PROGRESS
    fresh.save(update_fields=fields)
    _event(
        fresh,
        action="started",
        actor=actor,
        from_status=Status.OPEN,
        to_status=Status.IN_PROGRESS,
        assignee=fresh.assignee,
    )
    return _sync(item, fresh)


@transaction.atomic
def work_item_complete(*, item: WorkItem, actor: User, outcome: str, note: str = "") -> WorkItem:
    """Close the item as done with its ``outcome`` (required: what was done) and an optional
    note. Writes a "completed" event. Completing a done item again is a no-op; a dismissed
    item cannot be completed."""
    _require_may_act(actor, item)
    outcome = outcome.strip()
    if not outcome:
        raise ValidationError({"outcome": "Say what was done (the outcome)."})
    if len(outcome) > _OUTCOME_MAX:
        raise ValidationError(
            {"outcome": f"Keep the outcome to {_OUTCOME_MAX} characters; use the note for more."}
        )
    fresh = _locked(item)
    if fresh.status == Status.DONE:
        return _sync(item, fresh)
    _refuse_closed(fresh, "completed")
    _close(
        fresh,
        to_status=Status.DONE,
        actor=actor,
        action="completed",
        outcome=outcome,
        note=note.strip(),
    )
    return _sync(item, fresh)


@transaction.atomic
def work_item_dismiss(*, item: WorkItem, actor: User, reason: str) -> WorkItem:
    """Close the item as dismissed (nothing to do), with the ``reason`` (required) kept as
    its outcome note. Writes a "dismissed" event. Dismissing a dismissed item again is a
    no-op; a done item cannot be dismissed."""
    _require_may_act(actor, item)
    reason = reason.strip()
    if not reason:
        raise ValidationError({"reason": "Say why the item needs no action."})
    fresh = _locked(item)
    if fresh.status == Status.DISMISSED:
        return _sync(item, fresh)
    _refuse_closed(fresh, "dismissed")
    _close(
        fresh,
        to_status=Status.DISMISSED,
        actor=actor,
        action="dismissed",
        outcome="Dismissed",
        note=reason,
    )
    return _sync(item, fresh)


@transaction.atomic
def work_item_close_by_system(*, item: WorkItem, actor: User, outcome: str, note: str) -> bool:
    """Close an item whose cause went away (a correction removed the breach, the held message
    was filed): → done, with ``outcome`` and ``note``, and a "closed_by_system" event. Only
    an item still open or in progress is closed; returns whether this call closed it."""
    fresh = _locked(item)
    if fresh.status not in WorkItem.ACTIVE:
        _sync(item, fresh)
        return False
    _close(
        fresh,
        to_status=Status.DONE,
        actor=actor,
        action="closed_by_system",
        outcome=_cut(outcome, _OUTCOME_MAX),
        note=note.strip(),
    )
    _sync(item, fresh)
    return True


def work_items_for(*, cause: CauseScope) -> QuerySet[WorkItem]:
    """Every item ever raised for ``cause``, open or closed (a raiser counting its earlier
    episodes of one cause). Reads only."""
    return WorkItem.objects.filter(dedupe_key__startswith=cause.prefix).order_by("created_at", "id")


def work_items_active_for(*, cause: CauseScope) -> QuerySet[WorkItem]:
    """The open and in-progress items of ``cause`` (for the code that raised them to find
    and close them). Reads only."""
    return work_items_for(cause=cause).filter(status__in=WorkItem.ACTIVE)


@transaction.atomic
def work_items_close_by_cause(
    *,
    cause: CauseScope,
    actor: User,
    outcome: str,
    note: str,
    kind: str | None = None,
    keep: WorkItem | None = None,
) -> int:
    """The cause went away: close its open items by the system (``outcome``, ``note``),
    only those of ``kind`` when given, and all but ``keep``. Returns how many this call
    closed; safe to repeat."""
    items = work_items_active_for(cause=cause)
    if kind is not None:
        items = items.filter(kind=kind)
    if keep is not None:
        items = items.exclude(pk=keep.pk)
    return sum(
        work_item_close_by_system(item=item, actor=actor, outcome=outcome, note=note)
        for item in items
    )


# ---------------------------------------------------------------------------
# Causes the worklists own: inbound messages held by the core's feed
# ---------------------------------------------------------------------------
@transaction.atomic
def work_item_raise_for_held_message(
    *, message: InboundMessage, actor: User
) -> tuple[WorkItem, bool]:
    """An inbound message was held (no patient found, a possible wrong patient, or, once
    acknowledged on storing, content that could not be filed): an item for an administrator,
    with no patient and no team. One item per processing attempt; a later hold of the same
    message closes the earlier item as superseded. Safe to repeat."""
    wrong_patient = message.status == InboundMessage.Status.REVIEW
    not_filed = message.status == InboundMessage.Status.ERROR
    other_sender = message.sender_check == InboundMessage.SenderCheck.OTHER_SENDER
    kind_of_message = message.message_type or "HL7"
    if other_sender:
        title = f"Inbound {kind_of_message} message held: a result another sending system filed"
    elif not_filed:
        title = f"Inbound {kind_of_message} message accepted but not filed"
    elif wrong_patient:
        title = f"Inbound {kind_of_message} message held: possible wrong patient"
    else:
        title = f"Inbound {kind_of_message} message held: patient not found"
    reason = message.error.strip() or "No reason was recorded."
    if other_sender:
        explanation = (
            f"{reason}\n\nNothing from this message has been filed. Ask the team of the "
            "sending system that filed the result whether this change is theirs. If it is (their "
            "system now sends under another name, for example), reprocess the message on the "
            "Inbound messages page of Django admin: it is then filed. If it is not, leave it "
            "unfiled and report it to the Trust's information security team: a system that "
            "did not file the result tried to change or add to it."
        )
    elif not_filed:
        explanation = (
            f"{reason}\n\nThe sending system was told the message was accepted (it was "
            "stored first and filed afterwards), so it will not send it again. Nothing from "
            "it has been filed. On the Inbound messages page of Django admin, read the "
            "message, have the cause fixed (or ask the sending system's team to send a "
            "corrected message) and reprocess it. This item closes itself when the message "
            "is filed."
        )
    else:
        explanation = (
            f"{reason}\n\nNothing from this message has been filed. On the Inbound messages "
            "page of Django admin, check the patient, then match the message to the right "
            "patient (or register the patient) and reprocess it. This item closes itself when "
            "the message is filed."
        )
    item, created = work_item_raise(
        kind=Kind.UNMATCHED_MESSAGE,
        key=HeldInboundKey(message_pk=message.pk, attempt=message.attempts),
        title=title,
        explanation=explanation,
        source=f"inbound:{message.pk}",
        actor=actor,
        priority=Priority.HIGH if wrong_patient or not_filed else Priority.NORMAL,
        details={
            "inbound_message": str(message.public_id),
            "message_type": message.message_type,
            "control_id": message.control_id,
            "sending_application": message.sending_application,
            "held_as": message.status,
        },
    )
    if created:
        work_items_close_by_cause(
            cause=HeldInboundKey.scope(message.pk),
            keep=item,
            actor=actor,
            outcome="Superseded",
            note="The message was processed again and held again; see the newer item.",
        )
    return item, created


@transaction.atomic
def work_items_close_for_filed_message(*, message: InboundMessage, actor: User) -> int:
    """A held inbound message was filed after review: close its open unmatched-message items
    ("Filed after review"). Returns how many this call closed; safe to repeat."""
    return work_items_close_by_cause(
        cause=HeldInboundKey.scope(message.pk),
        kind=Kind.UNMATCHED_MESSAGE,
        actor=actor,
        outcome="Filed after review",
        note=f"Reprocessed by {actor.get_username()} and filed to the patient's record.",
    )
