"""Display logic of the PKB pages: what an enrolment, an item and a message look like in words.

Presenters never query the database: the views hand them what the selectors loaded.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.contrib.auth.models import User
from django.utils import timezone
from django.utils.timesince import timesince

from pkb_bridge.models import (
    Connection,
    DeliveryAttempt,
    Enrolment,
    OutboundMessage,
    Publication,
)
from rms.models import NhsNumberStatus, Patient

if TYPE_CHECKING:
    from pkb_bridge.selectors import ShareCounts
    from pkb_bridge.services import OptInPreview
from rms.presenters import format_date, format_datetime

Status = OutboundMessage.Status
State = Publication.State

# What may still be held back: PKB has not received (nor is receiving) the message.
_NOT_YET_WITH_PKB = frozenset({Status.PENDING, Status.REJECTED, Status.CANCELLED})
OPEN = frozenset(OutboundMessage.OPEN)
# The source reference of the messages that pack a run of historic lab results on opt-in
# (pkb_bridge.services.enrolment._upload_history).
PACKED_HISTORY_PREFIX = "history:lab:"


def patient_name(patient: Patient) -> str:
    """SMITH, John: as the patient list shows names."""
    return f"{patient.family_name.upper()}, {patient.given_name}"


def user_name(user: User | None) -> str:
    if user is None:
        return "nobody"
    return user.get_full_name() or user.get_username()


def delivery_words(message: OutboundMessage | None, *, patient: Patient | None = None) -> str:
    """A message's delivery status as a clinician reads it (``patient``: the message's, when
    the caller has it already)."""
    if message is None:
        return "Not sent"
    patient = patient or message.patient
    verified = patient.nhs_number_status == NhsNumberStatus.VERIFIED
    if message.status in (Status.PENDING, Status.IN_FLIGHT) and message.stalled_at is not None:
        return (
            f"Stalled: {message.failures} failed attempts in a row, still retried "
            f"(last error: {message.last_error or 'none recorded'})"
        )
    if message.status == Status.PENDING and not verified:
        return "Held: the patient's NHS number is not verified; sent once it is verified again"
    if message.status == Status.PENDING:
        return "Waiting to be sent"
    if message.status == Status.IN_FLIGHT:
        return "Being sent"
    if message.status == Status.DELIVERED:
        return f"Accepted by PKB on {format_datetime(message.delivered_at)}"
    if message.status == Status.REJECTED:
        return f"Rejected: {message.ack_text or message.last_error or 'PKB gave no reason'}"
    return "Cancelled"


def _counted(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def share_summary(counts: ShareCounts) -> str:
    """What an opt-in queued and PKB has accepted so far: "queued 1 registration and 12
    messages of the record; all 13 delivered to PKB" (the clinician's message, the command's)."""
    parts = [
        f"queued {_counted(counts.registrations, 'registration')} and "
        f"{_counted(counts.items, 'message')} of the record"
    ]
    total = counts.registrations + counts.items
    if total and counts.delivered == total:
        everything = {1: "delivered to PKB", 2: "both delivered to PKB"}
        parts.append(everything.get(total, f"all {total} delivered to PKB"))
    elif counts.delivered:
        parts.append(f"{counts.delivered} delivered to PKB, {counts.pending} still to send")
    elif counts.pending:
        parts.append("they are sent to PKB in the background, registration first")
    if counts.held:
        parts.append(f"{_counted(counts.held, 'item')} held for review")
    return "; ".join(parts)


def share_words(counts: ShareCounts) -> str:
    """The clinician's message after sharing a patient."""
    return f"Shared with Patients Know Best: {share_summary(counts)}."


class EnrolmentPresenter:
    """A patient's sharing with PKB, for the panel (``enrolment`` None: never shared)."""

    def __init__(self, enrolment: Enrolment | None) -> None:
        self.enrolment = enrolment

    @property
    def is_active(self) -> bool:
        return self.enrolment is not None and self.enrolment.status == Enrolment.Status.ACTIVE

    @property
    def is_withdrawn(self) -> bool:
        return self.enrolment is not None and self.enrolment.status == Enrolment.Status.WITHDRAWN

    @property
    def status(self) -> str:
        enrolment = self.enrolment
        if enrolment is None:
            return "Not shared with Patients Know Best"
        if enrolment.status == Enrolment.Status.ACTIVE:
            return (
                f"Shared since {format_date(timezone.localdate(enrolment.opted_in_at))} "
                f"by {user_name(enrolment.opted_in_by)} ({enrolment.team.name})"
            )
        withdrawn = format_date(
            timezone.localdate(enrolment.withdrawn_at) if enrolment.withdrawn_at else None
        )
        return f"Sharing stopped on {withdrawn} by {user_name(enrolment.withdrawn_by)}"

    @property
    def consent(self) -> str:
        """What the sharing rests on: a consent record, or the clinician's statement."""
        enrolment = self.enrolment
        if enrolment is None or not self.is_active:
            return ""
        record = enrolment.consent_record
        if record is not None:
            return (
                f"Consent recorded on {format_date(timezone.localdate(record.given_at))} "
                f"({record.get_method_display().lower()})"
            )
        if enrolment.consent_attestation:
            return (
                f"Stated by {user_name(enrolment.opted_in_by)} on "
                f"{format_date(timezone.localdate(enrolment.opted_in_at))}: "
                f"{enrolment.consent_attestation}"
            )
        return "Not recorded (shared before consent was asked for)"

    @property
    def patient_id(self) -> str:
        return str(self.enrolment.patient.public_id) if self.enrolment else ""

    @property
    def patient_name(self) -> str:
        return patient_name(self.enrolment.patient) if self.enrolment else ""

    @property
    def invitation_status(self) -> str:
        """The invitation state alone, whatever the enrolment's status."""
        return self.enrolment.get_invitation_display() if self.enrolment else ""

    @property
    def withdrawal_reason(self) -> str:
        return self.enrolment.withdrawal_reason if self.is_withdrawn and self.enrolment else ""

    @property
    def registration(self) -> str:
        enrolment = self.enrolment
        if enrolment is None or not self.is_active:
            return ""
        if enrolment.registered_at is None:
            return "Not yet accepted by PKB"
        return f"Accepted by PKB on {format_datetime(enrolment.registered_at)}"

    @property
    def is_registered(self) -> bool:
        return self.enrolment is not None and self.enrolment.registered_at is not None

    @property
    def invitation(self) -> str:
        enrolment = self.enrolment
        if enrolment is None or not self.is_active:
            return ""
        words = enrolment.get_invitation_display()
        if enrolment.invitation == Enrolment.Invitation.SENT and enrolment.invitation_sent_at:
            words += f" on {format_datetime(enrolment.invitation_sent_at)}"
        if enrolment.invitation == Enrolment.Invitation.FAILED and enrolment.invitation_error:
            words += f" ({enrolment.invitation_error})"
        return words

    @property
    def can_resend_invitation(self) -> bool:
        # PKB has to hold the account before an invitation means anything.
        return self.is_active and self.is_registered


class OptInPreviewPresenter:
    """The preview before an opt-in, in words: per category what is published, delayed and
    held, the consent it rests on and the open breaches."""

    def __init__(self, preview: OptInPreview) -> None:
        self.preview = preview
        self.team = preview.team.name
        self.total = preview.total
        self.breach_evidence = preview.breach_evidence
        self.consent_problem = preview.consent_problem

    @property
    def consent(self) -> str:
        record = self.preview.consent
        if record is None:
            return ""
        return (
            f"{record.get_method_display()} consent to \u201c{record.topic}\u201d given on "
            f"{format_date(timezone.localdate(record.given_at))}, recorded by "
            f"{user_name(record.recorded_by)}"
        )

    @property
    def needs_attestation(self) -> bool:
        return self.preview.attestation_allowed

    @property
    def rows(self) -> list[dict[str, object]]:
        out: list[dict[str, object]] = []
        for row in self.preview.categories:
            held = f"{row.held}"
            if row.held and row.auto_release_days is not None:
                held += f" (released automatically after {row.auto_release_days} days)"
            delayed = f"{row.delayed} (shown {row.delay_days} days after)" if row.delayed else "0"
            out.append(
                {
                    "label": row.label,
                    "published": row.published,
                    "delayed": delayed,
                    "held": held,
                    "held_for_breach": row.held_for_breach,
                }
            )
        return out

    @property
    def breaches(self) -> list[dict[str, str]]:
        return [
            {
                "title": item.title,
                "priority": item.get_priority_display(),
                "raised": format_date(timezone.localdate(item.created_at)),
                "status": item.get_status_display(),
            }
            for item in self.preview.breaches
        ]


class PublicationPresenter:
    """One item of an enrolment: what it is, whether it is published, and where its message is."""

    def __init__(self, publication: Publication) -> None:
        self.publication = publication

    @property
    def item_id(self) -> str:
        """The public id of the result, document or appointment (the id in the URLs)."""
        publication = self.publication
        item = publication.result or publication.document or publication.appointment
        return str(item.public_id) if item is not None else ""

    @property
    def item(self) -> str:
        publication = self.publication
        if publication.result is not None:
            result = publication.result
            name = result.service_name or result.service_code or "Result"
            return f"{name}, taken {format_date(timezone.localdate(result.observed_at))}"
        if publication.document is not None:
            document = publication.document
            return f"{document.title}, {format_date(timezone.localdate(document.authored_at))}"
        if publication.appointment is not None:
            appointment = publication.appointment
            what = appointment.appointment_type or appointment.reason or "Appointment"
            return f"{what}, {format_datetime(appointment.starts_at)}"
        return ""

    @property
    def category(self) -> str:
        return self.publication.get_category_display()

    @property
    def state(self) -> str:
        return self.publication.get_state_display()

    @property
    def is_held(self) -> bool:
        return self.publication.state == State.HELD

    @property
    def delay(self) -> str:
        days = self.publication.delay_days
        if not days:
            return "None"
        return "1 day" if days == 1 else f"{days} days"

    @property
    def delivery(self) -> str:
        publication = self.publication
        if publication.message is None or publication.state == State.HELD:
            if publication.state == State.HELD and publication.auto_release_at is not None:
                return (
                    "Not sent: held; released automatically on "
                    f"{format_datetime(publication.auto_release_at)} by the team's policy "
                    "unless a clinician holds it"
                )
            if publication.state == State.HELD:
                return "Not sent: held until a clinician releases it"
            if publication.state == State.WITHDRAWN:
                return "Not sent"
        return delivery_words(publication.message, patient=publication.patient)

    @property
    def can_release(self) -> bool:
        return self.publication.state == State.HELD

    @property
    def can_keep_held(self) -> bool:
        """Held, with an automatic release to come: the clinician can stop it."""
        publication = self.publication
        return publication.state == State.HELD and publication.auto_release_at is not None

    @property
    def can_hold(self) -> bool:
        publication = self.publication
        if publication.state != State.RELEASED:
            return False
        message = publication.message
        if message is None:
            return True
        if message.source_ref.startswith(PACKED_HISTORY_PREFIX) and message.status in OPEN:
            # One message carries several historic results; holding one cannot take it out
            # (publication_hold cancels only the item's own messages), so the patient would
            # get it anyway. Offered again once the pack is no longer waiting.
            return False
        return message.status in _NOT_YET_WITH_PKB


@dataclass(frozen=True)
class MessagePresenter:
    """One outbox row for the delivery pages."""

    message: OutboundMessage

    @property
    def patient_id(self) -> str:
        return str(self.message.patient.public_id)

    @property
    def patient_name(self) -> str:
        return patient_name(self.message.patient)

    @property
    def kind(self) -> str:
        return self.message.get_kind_display()

    @property
    def status(self) -> str:
        return self.message.get_status_display()

    @property
    def delivery(self) -> str:
        return delivery_words(self.message)

    @property
    def pkb_text(self) -> str:
        message = self.message
        return message.ack_text or message.last_error or message.cancelled_reason

    @property
    def created_at(self) -> str:
        return format_datetime(self.message.created_at)

    @property
    def next_attempt_at(self) -> str:
        if self.message.status != Status.PENDING:
            return ""
        return format_datetime(self.message.next_attempt_at)


@dataclass(frozen=True)
class AttemptPresenter:
    attempt: DeliveryAttempt

    @property
    def started_at(self) -> str:
        return format_datetime(self.attempt.started_at)

    @property
    def outcome(self) -> str:
        return self.attempt.get_outcome_display()

    @property
    def detail(self) -> str:
        attempt = self.attempt
        parts = [
            f"HTTP {attempt.http_status}" if attempt.http_status else "",
            attempt.ack_code,
            attempt.ack_text,
            attempt.error,
        ]
        return " · ".join(p for p in parts if p)


def age_in_words(since: dt.datetime | None, *, now: dt.datetime | None = None) -> str:
    """How long ago ``since`` was, e.g. "3 hours, 4 minutes"; blank for None."""
    if since is None:
        return ""
    return timesince(since, now or timezone.now())


def connection_words(connection: Connection | None) -> str:
    if connection is None or not connection.paused:
        return "Sending"
    return f"Paused since {format_datetime(connection.paused_at)}"
