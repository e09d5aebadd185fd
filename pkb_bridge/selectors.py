"""Reads of the PKB bridge for the clinician panel, the API, the delivery view and admin.

Patient scope comes from ``rms.selectors``: a caller first opens the patient with
``rms.access.patient_for_request`` (clinician pages, API) and passes it in, or asks for the
staff scope (``staff_patients``) where a page lists many patients' rows. Nothing here writes.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AnonymousUser, User
from django.db.models import Count, Min, Prefetch, Q, QuerySet
from django.db.models.functions import Coalesce

from pkb_bridge.models import (
    Connection,
    DeliveryAttempt,
    Enrolment,
    OutboundMessage,
    Publication,
)
from rms import selectors as rms_selectors
from rms.models import NhsNumberStatus, Patient

AnyUser = User | AnonymousUser
Status = OutboundMessage.Status

# How many rows of each attention list the delivery view shows (the admin lists have the rest).
DELIVERY_LIST_LIMIT = 25


def shared_patient_ids() -> QuerySet[Enrolment, Any]:
    """The ids of the patients shared with PKB now (an active enrolment), as a subquery
    (``values("patient_id")``). Reads only."""
    return Enrolment.objects.filter(status=Enrolment.Status.ACTIVE).values("patient_id")


def shared_with_pkb(*, patient_id: int | None) -> bool:
    """Whether the patient with this id is shared with PKB now (an active enrolment). Reads
    only; one small query, for the events' consumer to pass over everyone else."""
    if patient_id is None:
        return False
    return shared_patient_ids().filter(patient_id=patient_id).exists()


def enrolment_active(*, patient: Patient) -> Enrolment | None:
    """The patient's active enrolment, with who opted them in, or None."""
    return (
        Enrolment.objects.select_related("team", "opted_in_by")
        .filter(patient=patient, status=Enrolment.Status.ACTIVE)
        .first()
    )


def enrolment_latest(*, patient: Patient) -> Enrolment | None:
    """The active enrolment, else the most recent withdrawn one (to say who stopped sharing
    and why), else None: the patient was never shared."""
    return (
        Enrolment.objects.select_related("team", "opted_in_by", "withdrawn_by")
        .filter(patient=patient)
        .order_by("status", "-opted_in_at", "-id")  # "active" sorts before "withdrawn"
        .first()
    )


def publication_list(*, enrolment: Enrolment) -> QuerySet[Publication]:
    """The items of an enrolment with what the panel shows of each (item, message, who
    decided), newest clinical time first, in one query."""
    clinical_time = Coalesce(
        "result__observed_at", "document__authored_at", "appointment__starts_at"
    )
    return (
        Publication.objects.filter(enrolment=enrolment)
        .select_related("result", "document", "appointment", "message", "decided_by", "patient")
        # Neither a letter's PDF nor a message's payload is needed to describe the item.
        .defer("document__content_pdf", "message__payload")
        .order_by(clinical_time.desc(), "-id")
    )


def publication_get(*, patient: Patient, item_id: uuid.UUID | str) -> Publication | None:
    """The publication, in the patient's active enrolment, of the result, document or
    appointment whose public id is ``item_id``; None for anything else. Publications have
    no public id of their own: the item's is the one that appears in URLs."""
    try:
        key = uuid.UUID(str(item_id))
    except ValueError:
        return None
    return (
        Publication.objects.select_related("enrolment")
        .filter(
            patient=patient,
            enrolment__status=Enrolment.Status.ACTIVE,
        )
        .filter(
            Q(result__public_id=key) | Q(document__public_id=key) | Q(appointment__public_id=key)
        )
        .first()
    )


def queued_count(*, enrolment: Enrolment) -> int:
    """Messages of the enrolment still waiting to be sent."""
    return OutboundMessage.objects.filter(enrolment=enrolment, status=Status.PENDING).count()


@dataclass(frozen=True)
class ShareCounts:
    """What an opt-in queued, and how much of it PKB has accepted so far."""

    registrations: int
    items: int
    delivered: int
    pending: int
    held: int


def share_counts(*, enrolment: Enrolment) -> ShareCounts:
    """The enrolment's messages by kind and status, and its items held for review. Counted
    whatever their status: with in-process tasks (the demo) they may all be delivered before
    the clinician's page is drawn."""
    counts = OutboundMessage.objects.filter(enrolment=enrolment).aggregate(
        registrations=Count("pk", filter=Q(kind=OutboundMessage.Kind.REGISTRATION)),
        total=Count("pk"),
        delivered=Count("pk", filter=Q(status=Status.DELIVERED)),
        pending=Count("pk", filter=Q(status__in=[Status.PENDING, Status.IN_FLIGHT])),
    )
    return ShareCounts(
        registrations=counts["registrations"],
        items=counts["total"] - counts["registrations"],
        delivered=counts["delivered"],
        pending=counts["pending"],
        held=held_count(enrolment=enrolment),
    )


def held_count(*, enrolment: Enrolment) -> int:
    """Items of the enrolment held back from the patient until a clinician releases them."""
    return Publication.objects.filter(enrolment=enrolment, state=Publication.State.HELD).count()


# --- staff scope (the delivery view and admin) -------------------------------------------------


def sees_every_patient(user: AnyUser) -> bool:
    return bool(user.is_authenticated and user.is_active and user.is_superuser)


def staff_patients(*, user: AnyUser) -> QuerySet[Patient]:
    """Every patient for an active superuser; the team scope for other staff."""
    return rms_selectors.patient_list_for_admin(user=user).order_by()


def _scoped(queryset: QuerySet[OutboundMessage], user: AnyUser) -> QuerySet[OutboundMessage]:
    if sees_every_patient(user):
        return queryset
    return queryset.filter(patient__in=staff_patients(user=user))


def message_list(*, user: AnyUser) -> QuerySet[OutboundMessage]:
    """Outbox rows of the patients in the user's staff scope."""
    return _scoped(OutboundMessage.objects.all(), user)


def enrolment_list(*, user: AnyUser) -> QuerySet[Enrolment]:
    enrolments = Enrolment.objects.all()
    if sees_every_patient(user):
        return enrolments
    return enrolments.filter(patient__in=staff_patients(user=user))


def connection_get() -> Connection | None:
    return Connection.objects.filter(name="pkb").first()


@dataclass(frozen=True)
class DeliverySummary:
    counts: dict[str, int]
    oldest_pending_at: dt.datetime | None
    connection: Connection | None
    rejections: list[OutboundMessage]
    blocked: list[OutboundMessage]
    onboarding: list[Enrolment]
    stalled: list[OutboundMessage]
    held_unverified: list[OutboundMessage]


def delivery_summary(*, user: AnyUser) -> DeliverySummary:
    """What an administrator needs to see of the outbox, in a fixed number of queries
    however many rows there are: counts by status, the oldest waiting message, the
    connection, the latest rejections, blocked queues and patients to help register."""
    messages = message_list(user=user)
    totals = messages.aggregate(
        **{status: Count("id", filter=Q(status=status)) for status in Status.values},
        oldest=Min("created_at", filter=Q(status=Status.PENDING)),
    )
    oldest: dt.datetime | None = totals.pop("oldest")
    rejections = list(
        messages.filter(status=Status.REJECTED)
        .select_related("patient")
        .defer("payload")
        .order_by("-id")[:DELIVERY_LIST_LIMIT]
    )
    blocked = list(
        messages.filter(status=Status.REJECTED, kind=OutboundMessage.Kind.REGISTRATION)
        .select_related("patient")
        .defer("payload")
        .order_by("-id")[:DELIVERY_LIST_LIMIT]
    )
    onboarding = list(
        enrolment_list(user=user)
        .filter(
            status=Enrolment.Status.ACTIVE,
            invitation__in=[Enrolment.Invitation.NO_EMAIL, Enrolment.Invitation.FAILED],
        )
        .select_related("patient", "team")
        .order_by("-opted_in_at", "-id")[:DELIVERY_LIST_LIMIT]
    )
    stalled = list(
        messages.filter(status__in=OutboundMessage.OPEN, stalled_at__isnull=False)
        .select_related("patient")
        .defer("payload")
        .order_by("stalled_at", "id")[:DELIVERY_LIST_LIMIT]
    )
    held_unverified = list(
        messages.filter(status=Status.PENDING)
        .exclude(patient__nhs_number_status=NhsNumberStatus.VERIFIED)
        .select_related("patient")
        .defer("payload")
        .order_by("patient_id", "seq")[:DELIVERY_LIST_LIMIT]
    )
    return DeliverySummary(
        counts={status: totals[status] for status in Status.values},
        oldest_pending_at=oldest,
        connection=connection_get(),
        rejections=rejections,
        blocked=blocked,
        onboarding=onboarding,
        stalled=stalled,
        held_unverified=held_unverified,
    )


def patient_for_staff(*, user: AnyUser, public_id: uuid.UUID | str) -> Patient | None:
    """One patient in the user's staff scope, or None."""
    try:
        key = uuid.UUID(str(public_id))
    except ValueError:
        return None
    return staff_patients(user=user).filter(public_id=key).first()


def patient_message_history(*, patient: Patient) -> QuerySet[OutboundMessage]:
    """All of a patient's messages in ``seq`` order, each with its attempts (oldest first,
    without the bodies), in two queries."""
    attempts = DeliveryAttempt.objects.defer("request_body", "response_body").order_by(
        "started_at", "id"
    )
    return (
        OutboundMessage.objects.filter(patient=patient)
        .select_related("enrolment", "patient")
        .defer("payload")
        .prefetch_related(Prefetch("deliveries", queryset=attempts))
        .order_by("seq")
    )
