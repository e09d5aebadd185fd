"""Writes to work items: raise, assign, start, complete, dismiss, close by the system.

Every function is keyword-only, takes the ``actor`` who acts (background jobs and feeds pass
``rms.services.system_user()``), runs in one transaction, writes one ``WorkItemEvent`` for
each change it makes, and is safe to repeat: raising the same cause again, or repeating the
transition an item has already made, changes nothing and writes no event.

People act on an item only as a clinician or team admin of the item's team (a viewer reads
only); an item with no team (an inbound message we could not match to a patient) belongs to
the administrators, so only an active superuser acts on it. The system closes items whose
cause went away without that check.

The second half raises the items the other apps ask for through their signals (see
``worklists.receivers``): PKB rejections, onboarding, failed invitations, held inbound
messages. Their wording lives here, so a receiver stays a one-line call.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from rms import permissions
from rms import selectors as rms_selectors
from rms.models import InboundMessage, Patient, Resource, Team
from worklists.models import WorkItem, WorkItemEvent

if TYPE_CHECKING:
    # Annotations only: the worklists read what the PKB bridge sends, and import nothing of it.
    from pkb_bridge.models import Enrolment, OutboundMessage

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
@transaction.atomic
def work_item_raise(
    *,
    kind: str,
    dedupe_key: str,
    title: str,
    explanation: str,
    source: str,
    actor: User,
    patient: Patient | None = None,
    team: Team | None = None,
    priority: int = Priority.NORMAL,
    due_date: dt.date | None = None,
    details: dict[str, Any] | None = None,
) -> tuple[WorkItem, bool]:
    """Raise the item for one cause (``dedupe_key``), or return the one already raised for it:
    ``(item, created)``. A second raise never makes another item and never reopens a closed
    one. With no ``team``, the patient's first open-caseload team owns the item. Writes a
    "created" event when it creates."""
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
        due_date=due_date,
        details=details or {},
        created_by=actor,
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
        key = values["dedupe_key"]
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
            due_date=values.get("due_date"),
            details=values.get("details") or {},
            created_by=actor,
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


def work_items_active_for(*, dedupe_prefix: str) -> QuerySet[WorkItem]:
    """The open and in-progress items whose cause key starts with ``dedupe_prefix`` (for
    the code that raised them to find and close them). Reads only."""
    if not dedupe_prefix:
        # An empty prefix would match every item of every raiser.
        raise ValueError("dedupe_prefix must not be empty")
    return WorkItem.objects.filter(
        dedupe_key__startswith=dedupe_prefix, status__in=WorkItem.ACTIVE
    ).order_by("created_at", "id")


def _close_superseded(*, prefix: str, keep: WorkItem, actor: User, note: str) -> None:
    """Close the earlier items of the same cause (an earlier attempt of the same message)
    now that ``keep`` carries the latest state of it."""
    for older in work_items_active_for(dedupe_prefix=prefix).exclude(pk=keep.pk):
        work_item_close_by_system(item=older, actor=actor, outcome="Superseded", note=note)


# ---------------------------------------------------------------------------
# Items the other apps ask for (called by worklists.receivers)
# ---------------------------------------------------------------------------
# What a rejected message was, in words, by OutboundMessage.Kind value.
_REJECTED_WHAT = {
    "ADT^A28": "the registration",
    "ADT^A31": "a demographics and diagnoses update",
    "ORU^R01": "a laboratory result",
    "ORU^R01^RAD": "a radiology report",
    "MDM^T02": "a document",
    "MDM^T11": "a document deletion",
    "SIU^S12": "a new appointment",
    "SIU^S13": "an appointment change",
    "SIU^S15": "an appointment cancellation",
    "SIU^S26": "a did-not-attend notice",
}
_REGISTRATION = "ADT^A28"


@transaction.atomic
def work_item_raise_for_rejected_message(
    *, message: OutboundMessage, actor: User
) -> tuple[WorkItem, bool]:
    """A PKB delivery failure item for a rejected outbound message, quoting PKB's text. One
    item per rejection (message and attempt count); a new rejection after a requeue closes
    the earlier item of the same message as superseded. Safe to repeat."""
    what = _REJECTED_WHAT.get(message.kind, f"a {message.kind} message")
    registration = message.kind == _REGISTRATION
    said = (message.ack_text or message.last_error or "no reason given").strip()
    consequence = (
        "Nothing more is sent to PKB for this patient until the registration is accepted. "
        if registration
        else "The patient's later messages are still being sent. "
    )
    explanation = (
        f"PKB rejected {what}"
        f"{f' (answer {message.ack_code})' if message.ack_code else ''}: {said}\n\n"
        f"{consequence}Fix the cause (usually the patient's details or the team's PKB "
        "set-up), then requeue the message on the Outbound messages page of Django admin, or "
        "cancel it there if it should not be sent."
    )
    prefix = f"outbound:{message.pk}:"
    item, created = work_item_raise(
        kind=Kind.DELIVERY_FAILURE,
        dedupe_key=f"{prefix}{message.attempts}",
        title=f"PKB rejected {what}",
        explanation=explanation,
        source=f"outbound:{message.pk}",
        actor=actor,
        patient=message.patient,
        team=message.enrolment.team,
        priority=Priority.URGENT if registration else Priority.HIGH,
        details={
            "outbound_message": str(message.public_id),
            "message_kind": message.kind,
            "control_id": message.control_id,
            "ack_code": message.ack_code,
            "attempts": message.attempts,
        },
    )
    if created:
        _close_superseded(
            prefix=prefix,
            keep=item,
            actor=actor,
            note="The message was sent again and rejected again; see the newer item.",
        )
    return item, created


@transaction.atomic
def work_item_raise_for_stalled_message(
    *, message: OutboundMessage, actor: User
) -> tuple[WorkItem, bool]:
    """A message to PKB keeps failing (no answer, 5xx, SOAP fault, no ACK) past the stall
    threshold: an administrator's item (no team: the cause is usually the connection or PKB,
    not the patient's record). One item per stall, closed by the system when the message is
    delivered; but while ``STALLED_ITEMS_AT_MOST`` of them are open, further stalls share one
    item saying PKB or the connection is probably down (an outage stalls every patient's
    queue: hundreds of items would bury the cause), closed when nothing is stalled any more.
    Safe to repeat."""
    active_stalls = WorkItem.objects.filter(
        kind=Kind.DELIVERY_FAILURE,
        dedupe_key__startswith="outbound:",
        dedupe_key__contains=":stalled:",
        status__in=WorkItem.ACTIVE,
    )
    if (
        not active_stalls.filter(dedupe_key__startswith=f"outbound:{message.pk}:").exists()
        and active_stalls.count() >= STALLED_ITEMS_AT_MOST
    ):
        return _raise_for_many_stalled(actor=actor)
    what = _REJECTED_WHAT.get(message.kind, f"a {message.kind} message")
    since = message.failing_since or message.stalled_at or timezone.now()
    explanation = (
        f"Sending {what} to PKB has failed {message.failures} times in a row since "
        f"{timezone.localtime(since):%d %b %Y %H:%M}. The last error was: "
        f"{(message.last_error or 'none recorded').strip()}\n\n"
        "It is still being retried, but nothing later for this patient is sent until it goes. "
        "Check the PKB delivery page (/pkb/delivery/) and the message's attempts in Django "
        "admin: if every message fails, PKB or the connection is down (see the PKB outage "
        "runbook); if only this one does, PKB cannot take it: cancel it there, or have its "
        "cause fixed. This item closes itself when PKB accepts the message."
    )
    return work_item_raise(
        kind=Kind.DELIVERY_FAILURE,
        dedupe_key=f"outbound:{message.pk}:stalled:{message.failures}",
        title=f"Delivery to PKB stalled: {what} keeps failing",
        explanation=explanation,
        source=f"outbound:{message.pk}",
        actor=actor,
        priority=Priority.HIGH,
        details={
            "outbound_message": str(message.public_id),
            "message_kind": message.kind,
            "control_id": message.control_id,
            "failures": message.failures,
            "last_error": message.last_error[:500],
        },
    )


# Open "stalled" items, one per message, before further stalls share one outage item.
STALLED_ITEMS_AT_MOST = 5
_MANY_STALLED = "pkb_stalled_many:"


def _raise_for_many_stalled(*, actor: User) -> tuple[WorkItem, bool]:
    active = work_items_active_for(dedupe_prefix=_MANY_STALLED).first()
    if active is not None:
        return active, False
    earlier = WorkItem.objects.filter(dedupe_key__startswith=_MANY_STALLED).count()
    return work_item_raise(
        kind=Kind.DELIVERY_FAILURE,
        dedupe_key=f"{_MANY_STALLED}{earlier + 1}",
        title="Delivery to PKB stalled for many patients: PKB or the connection is down?",
        explanation=(
            f"More than {STALLED_ITEMS_AT_MOST} messages to PKB keep failing (no answer, an "
            "HTTP error, a SOAP fault or no acknowledgement): PKB or the connection to it is "
            "probably down. They are all still being retried, each patient's in order. Follow "
            "the PKB outage runbook (docs/operations.md); the delivery page (/pkb/delivery/) "
            "lists the stalled messages. This item closes itself when no message is stalled "
            "any more."
        ),
        source="pkb:stalled",
        actor=actor,
        priority=Priority.URGENT,
    )


@transaction.atomic
def work_items_close_for_cleared_stalls(*, actor: User) -> int:
    """No message to PKB is stalled any more: close the shared outage item. Returns how many
    this call closed; safe to repeat."""
    closed = 0
    for item in work_items_active_for(dedupe_prefix=_MANY_STALLED):
        closed += work_item_close_by_system(
            item=item,
            actor=actor,
            outcome="Delivered after a resend",
            note="Every stalled message has since been accepted by PKB (or cancelled).",
        )
    return closed


@transaction.atomic
def work_item_raise_for_auto_release(*, publication: Any, actor: User) -> tuple[WorkItem, bool]:
    """A held item (``pkb_bridge.models.Publication``) that the team's policy will release to
    the patient in PKB automatically: the team reviews it before then. One item per announced
    release; closed by the system when the item is released or kept held. Safe to repeat."""
    when = publication.auto_release_at or timezone.now()
    what = publication.get_category_display().lower()
    notified = publication.auto_release_notified_at
    announced = int(notified.timestamp()) if notified else 0
    explanation = (
        f"An item held back from the patient's PKB record ({what}) will be released to the "
        f"patient automatically on {timezone.localtime(when):%d %b %Y %H:%M}, as the team's "
        "release policy says. Review it on the patient's page (Patients Know Best panel): "
        "release it now, or keep it held (no automatic release). Nothing is released before "
        "that time. This item closes itself when the item is released or kept held."
    )
    return work_item_raise(
        kind=Kind.RESULT_TO_REVIEW,
        dedupe_key=f"auto_release:{publication.pk}:{announced}",
        title=f"Held {what} is released to the patient in PKB on {timezone.localtime(when):%d %b}",
        explanation=explanation,
        source=f"publication:{publication.pk}",
        actor=actor,
        patient=publication.patient,
        team=publication.enrolment.team,
        priority=Priority.HIGH,
        due_date=timezone.localdate(when),
        details={"auto_release_at": when.isoformat(), "category": publication.category},
    )


@transaction.atomic
def work_items_close_for_settled_auto_release(*, publication: Any, actor: User) -> int:
    """The announced automatic release is no longer to come (the item was released, or kept
    held): close its review items. Returns how many this call closed; safe to repeat."""
    closed = 0
    released = publication.state == "released"
    for item in work_items_active_for(dedupe_prefix=f"auto_release:{publication.pk}:"):
        closed += work_item_close_by_system(
            item=item,
            actor=actor,
            outcome="Released" if released else "Kept held",
            note=(
                f"{actor.get_full_name() or actor.get_username()} "
                f"{'released the item' if released else 'kept the item held'}."
            ),
        )
    return closed


@transaction.atomic
def work_item_raise_for_unverified_nhs_number(
    *, enrolment: Enrolment, actor: User
) -> tuple[WorkItem, bool]:
    """A patient shared with PKB whose NHS number is no longer verified: everything for PKB
    is held until it is. While an item for this enrolment is active it is returned and no
    other raised; a later loss of verification raises a new one. Safe to repeat."""
    prefix = f"pkb_unverified:{enrolment.pk}:"
    active = work_items_active_for(dedupe_prefix=prefix).first()
    if active is not None:
        return active, False
    episodes = WorkItem.objects.filter(dedupe_key__startswith=prefix).count()
    status = enrolment.patient.nhs_number_status
    return work_item_raise(
        kind=Kind.DELIVERY_FAILURE,
        dedupe_key=f"{prefix}{episodes + 1}",
        title="NHS number no longer verified: nothing is sent to PKB",
        explanation=(
            f"The patient's NHS number status is now {status or 'blank'}, not 01 (verified). "
            "PKB sends messages with an unverified number to manual review, so nothing more "
            "is sent to PKB for this patient (new results, letters and appointments are held, "
            "in order). Trace the number on the Spine and record it as verified: the held "
            "messages then go, in order, and this item closes itself. If the number itself "
            "has changed, stop sharing and contact PKB (it cannot merge records)."
        ),
        source=f"enrolment:{enrolment.pk}",
        actor=actor,
        patient=enrolment.patient,
        team=enrolment.team,
        priority=Priority.HIGH,
        details={"enrolment": str(enrolment.public_id), "nhs_number_status": status},
    )


@transaction.atomic
def work_items_close_for_verified_nhs_number(*, enrolment: Enrolment, actor: User) -> int:
    """The NHS number is verified again: close the enrolment's "no longer verified" items.
    Returns how many this call closed; safe to repeat."""
    closed = 0
    for item in work_items_active_for(dedupe_prefix=f"pkb_unverified:{enrolment.pk}:"):
        closed += work_item_close_by_system(
            item=item,
            actor=actor,
            outcome="NHS number verified",
            note="The NHS number is verified (01) again; the held PKB messages are being sent.",
        )
    return closed


@transaction.atomic
def work_item_raise_for_refused_email(
    *, enrolment: Enrolment, actor: User
) -> tuple[WorkItem, bool]:
    """PKB refused the patient's email because another PKB record has it; the patient was
    registered (or updated) without it and no invitation goes to it. One item per refused
    address and enrolment; safe to repeat."""
    email = enrolment.email_refused.strip()
    return work_item_raise(
        kind=Kind.ONBOARDING_NEEDED,
        dedupe_key=f"email_refused:{enrolment.pk}:{email.casefold()}",
        title="PKB refused the patient's email: registered without it",
        explanation=(
            f"PKB refused the email address {email} because another PKB record already has "
            "it (PKB allows one record per address). The patient's details were sent to PKB "
            "without the email, so the rest of the record is shared, but no invitation was "
            "sent.\n\nCheck the address with the patient. If it is someone else's (a "
            "relative's), record the patient's own address and resend the invitation from "
            "the patient's PKB page. If the patient already has a PKB account under it, ask "
            "PKB's support to link it (PKB cannot merge records over HL7)."
        ),
        source=f"enrolment:{enrolment.pk}",
        actor=actor,
        patient=enrolment.patient,
        team=enrolment.team,
        priority=Priority.NORMAL,
        details={"enrolment": str(enrolment.public_id)},
    )


@transaction.atomic
def work_item_raise_for_onboarding(*, enrolment: Enrolment, actor: User) -> tuple[WorkItem, bool]:
    """PKB registered the patient but no email is recorded, so no invitation can be sent:
    the team helps the patient register. One item per enrolment; safe to repeat."""
    return work_item_raise(
        kind=Kind.ONBOARDING_NEEDED,
        dedupe_key=f"onboarding:{enrolment.pk}",
        title="No email recorded: help the patient register with PKB",
        explanation=(
            "PKB accepted the patient's registration, but there is no email address on the "
            "record to send the invitation to. Help the patient register with Patients Know "
            "Best (or the NHS App), or record their email and resend the invitation from the "
            "patient's PKB page."
        ),
        source=f"enrolment:{enrolment.pk}",
        actor=actor,
        patient=enrolment.patient,
        team=enrolment.team,
        priority=Priority.NORMAL,
        details={"enrolment": str(enrolment.public_id)},
    )


@transaction.atomic
def work_item_raise_for_invitation_failure(
    *, enrolment: Enrolment, actor: User
) -> tuple[WorkItem, bool]:
    """The invitation email failed every attempt: the team checks the address or helps the
    patient register. While an item for this enrolment is still active, it is returned and
    no other is raised; a later failure (after a resend) raises a new one."""
    prefix = f"invitation:{enrolment.pk}:"
    active = work_items_active_for(dedupe_prefix=prefix).first()
    if active is not None:
        return active, False
    # The sender holds the enrolment's row lock while it reports the failure, so counting
    # the earlier items gives each failure its own stable key.
    failures = WorkItem.objects.filter(dedupe_key__startswith=prefix).count()
    error = enrolment.invitation_error.strip() or "no error was recorded"
    return work_item_raise(
        kind=Kind.ONBOARDING_NEEDED,
        dedupe_key=f"{prefix}{failures + 1}",
        title="The PKB invitation email could not be sent",
        explanation=(
            f"Every attempt to send the patient's invitation email failed. The last error "
            f"was: {error}\n\nCheck the email address on the record and resend the "
            "invitation from the patient's PKB page, or help the patient register with PKB "
            "another way."
        ),
        source=f"enrolment:{enrolment.pk}",
        actor=actor,
        patient=enrolment.patient,
        team=enrolment.team,
        priority=Priority.NORMAL,
        details={"enrolment": str(enrolment.public_id), "error": error},
    )


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
    prefix = f"inbound:{message.pk}:"
    item, created = work_item_raise(
        kind=Kind.UNMATCHED_MESSAGE,
        dedupe_key=f"{prefix}{message.attempts}",
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
        _close_superseded(
            prefix=prefix,
            keep=item,
            actor=actor,
            note="The message was processed again and held again; see the newer item.",
        )
    return item, created


@transaction.atomic
def work_items_close_for_filed_message(*, message: InboundMessage, actor: User) -> int:
    """A held inbound message was filed after review: close its open unmatched-message items
    ("Filed after review"). Returns how many this call closed; safe to repeat."""
    closed = 0
    items = work_items_active_for(dedupe_prefix=f"inbound:{message.pk}:").filter(
        kind=Kind.UNMATCHED_MESSAGE
    )
    for item in items:
        closed += work_item_close_by_system(
            item=item,
            actor=actor,
            outcome="Filed after review",
            note=f"Reprocessed by {actor.get_username()} and filed to the patient's record.",
        )
    return closed


@transaction.atomic
def work_items_close_for_reviewed_resource(*, resource: Resource, actor: User) -> int:
    """A library resource was approved again with a new review date, or retired: close its
    open "due for review" items for any other review date ("Reviewed"). Returns how many this
    call closed; safe to repeat."""
    review_date = resource.review_date.isoformat() if resource.review_date else ""
    current = f"resource_review:{resource.pk}:{review_date}"
    closed = 0
    items = work_items_active_for(dedupe_prefix=f"resource_review:{resource.pk}:").filter(
        kind=Kind.RESOURCE_REVIEW
    )
    for item in items:
        if resource.status != Resource.Status.RETIRED and item.dedupe_key == current:
            continue  # due for the review date it has now: still to do
        done = "retired" if resource.status == Resource.Status.RETIRED else "approved again"
        closed += work_item_close_by_system(
            item=item,
            actor=actor,
            outcome="Reviewed",
            note=f"{actor.get_full_name() or actor.get_username()} {done} the resource.",
        )
    return closed


@transaction.atomic
def work_items_close_for_delivered_message(*, message: OutboundMessage, actor: User) -> int:
    """A message PKB had rejected was requeued and is now accepted: close its open delivery
    failure items ("Delivered after a resend"). Returns how many this call closed; safe to
    repeat."""
    closed = 0
    for item in work_items_active_for(dedupe_prefix=f"outbound:{message.pk}:").filter(
        kind=Kind.DELIVERY_FAILURE
    ):
        closed += work_item_close_by_system(
            item=item,
            actor=actor,
            outcome="Delivered after a resend",
            note="PKB accepted the message when it was sent again.",
        )
    return closed
