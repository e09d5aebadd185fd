"""The PKB bridge's work items: its causes (typed keys), its wording, raised and closed
through ``worklists.services`` by the receivers of the bridge's own signals
(``pkb_bridge.receivers``, connected in ``PkbBridgeConfig.ready``), inside the transaction
of the change that caused them.

Every function is safe to repeat: raising a cause again returns the item already raised.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from pkb_bridge.models import Enrolment, OutboundMessage, Publication
from worklists.keys import CauseKey, join
from worklists.models import WorkItem
from worklists.services import (
    work_item_raise,
    work_items_active_for,
    work_items_close_by_cause,
    work_items_for,
)

Kind = WorkItem.Kind
Priority = WorkItem.Priority


# ---------------------------------------------------------------------------
# Keys: one per cause. Their stored forms are those of earlier releases.
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class RejectedMessageKey(CauseKey):
    """PKB rejected an outbound message, once per attempt."""

    cause: ClassVar[str] = "outbound"
    message_pk: int
    attempt: int


@dataclass(frozen=True)
class StalledMessageKey(CauseKey):
    """A message kept failing past the stall threshold, once per failure count."""

    cause: ClassVar[str] = RejectedMessageKey.cause
    MARK: ClassVar[str] = ":stalled:"
    message_pk: int
    failures: int

    def render(self) -> str:
        return join(self.cause, self.message_pk, "stalled", self.failures)


@dataclass(frozen=True)
class ManyStalledKey(CauseKey):
    """Many messages stalled at once (PKB or the connection down), once per episode."""

    cause: ClassVar[str] = "pkb_stalled_many"
    episode: int


@dataclass(frozen=True)
class AutoReleaseKey(CauseKey):
    """A held item's announced automatic release (``announced``: when it was announced, in
    epoch seconds; 0 if never)."""

    cause: ClassVar[str] = "auto_release"
    publication_pk: int
    announced: int


@dataclass(frozen=True)
class UnverifiedNhsNumberKey(CauseKey):
    """An enrolled patient's NHS number no longer verified, once per episode."""

    cause: ClassVar[str] = "pkb_unverified"
    enrolment_pk: int
    episode: int


@dataclass(frozen=True)
class RefusedEmailKey(CauseKey):
    """PKB refused the patient's email (``email`` casefolded), once per address."""

    cause: ClassVar[str] = "email_refused"
    enrolment_pk: int
    email: str


@dataclass(frozen=True)
class OnboardingKey(CauseKey):
    """Registered with no email to invite: once per enrolment."""

    cause: ClassVar[str] = "onboarding"
    enrolment_pk: int


@dataclass(frozen=True)
class InvitationFailureKey(CauseKey):
    """The invitation email failed every attempt, once per failure."""

    cause: ClassVar[str] = "invitation"
    enrolment_pk: int
    failure: int


# ---------------------------------------------------------------------------
# Raising and closing, with the bridge's wording
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
    item, created = work_item_raise(
        kind=Kind.DELIVERY_FAILURE,
        key=RejectedMessageKey(message_pk=message.pk, attempt=message.attempts),
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
        work_items_close_by_cause(
            cause=RejectedMessageKey.scope(message.pk),
            keep=item,
            actor=actor,
            outcome="Superseded",
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
    # The stall keys are this module's own (StalledMessageKey): the one place that reads them.
    active_stalls = work_items_active_for(cause=RejectedMessageKey.scope()).filter(
        kind=Kind.DELIVERY_FAILURE, dedupe_key__contains=StalledMessageKey.MARK
    )
    this_message = RejectedMessageKey.scope(message.pk).prefix
    if (
        not active_stalls.filter(dedupe_key__startswith=this_message).exists()
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
        key=StalledMessageKey(message_pk=message.pk, failures=message.failures),
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


def _raise_for_many_stalled(*, actor: User) -> tuple[WorkItem, bool]:
    active = work_items_active_for(cause=ManyStalledKey.scope()).first()
    if active is not None:
        return active, False
    earlier = work_items_for(cause=ManyStalledKey.scope()).count()
    return work_item_raise(
        kind=Kind.DELIVERY_FAILURE,
        key=ManyStalledKey(episode=earlier + 1),
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
    return work_items_close_by_cause(
        cause=ManyStalledKey.scope(),
        actor=actor,
        outcome="Delivered after a resend",
        note="Every stalled message has since been accepted by PKB (or cancelled).",
    )


@transaction.atomic
def work_item_raise_for_auto_release(
    *, publication: Publication, actor: User
) -> tuple[WorkItem, bool]:
    """A held item (a ``Publication``) that the team's policy will release to
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
        key=AutoReleaseKey(publication_pk=publication.pk, announced=announced),
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
def work_items_close_for_settled_auto_release(*, publication: Publication, actor: User) -> int:
    """The announced automatic release is no longer to come (the item was released, or kept
    held): close its review items. Returns how many this call closed; safe to repeat."""
    released = publication.state == Publication.State.RELEASED
    return work_items_close_by_cause(
        cause=AutoReleaseKey.scope(publication.pk),
        actor=actor,
        outcome="Released" if released else "Kept held",
        note=(
            f"{actor.get_full_name() or actor.get_username()} "
            f"{'released the item' if released else 'kept the item held'}."
        ),
    )


@transaction.atomic
def work_item_raise_for_unverified_nhs_number(
    *, enrolment: Enrolment, actor: User
) -> tuple[WorkItem, bool]:
    """A patient shared with PKB whose NHS number is no longer verified: everything for PKB
    is held until it is. While an item for this enrolment is active it is returned and no
    other raised; a later loss of verification raises a new one. Safe to repeat."""
    cause = UnverifiedNhsNumberKey.scope(enrolment.pk)
    active = work_items_active_for(cause=cause).first()
    if active is not None:
        return active, False
    episodes = work_items_for(cause=cause).count()
    status = enrolment.patient.nhs_number_status
    return work_item_raise(
        kind=Kind.DELIVERY_FAILURE,
        key=UnverifiedNhsNumberKey(enrolment_pk=enrolment.pk, episode=episodes + 1),
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
    return work_items_close_by_cause(
        cause=UnverifiedNhsNumberKey.scope(enrolment.pk),
        actor=actor,
        outcome="NHS number verified",
        note="The NHS number is verified (01) again; the held PKB messages are being sent.",
    )


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
        key=RefusedEmailKey(enrolment_pk=enrolment.pk, email=email.casefold()),
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
        key=OnboardingKey(enrolment_pk=enrolment.pk),
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
    cause = InvitationFailureKey.scope(enrolment.pk)
    active = work_items_active_for(cause=cause).first()
    if active is not None:
        return active, False
    # The sender holds the enrolment's row lock while it reports the failure, so counting
    # the earlier items gives each failure its own stable key.
    failures = work_items_for(cause=cause).count()
    error = enrolment.invitation_error.strip() or "no error was recorded"
    return work_item_raise(
        kind=Kind.ONBOARDING_NEEDED,
        key=InvitationFailureKey(enrolment_pk=enrolment.pk, failure=failures + 1),
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
def work_items_close_for_delivered_message(*, message: OutboundMessage, actor: User) -> int:
    """A message PKB had rejected was requeued and is now accepted: close its open delivery
    failure items ("Delivered after a resend"). Returns how many this call closed; safe to
    repeat."""
    # The message's rejections and its stalls alike.
    return work_items_close_by_cause(
        cause=RejectedMessageKey.scope(message.pk),
        kind=Kind.DELIVERY_FAILURE,
        actor=actor,
        outcome="Delivered after a resend",
        note="PKB accepted the message when it was sent again.",
    )
