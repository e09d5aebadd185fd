"""The PKB bridge's record: who is shared with PKB, what is published when, and the outbox of
HL7 messages with every attempt to deliver them.

The outbox is the record and Celery only the doorbell (docs/adr/0003-pkb-outbox.md): every
message for PKB is a row written in the same transaction as the change that caused it; a
dispatcher claims rows, sends them outside any transaction and records what PKB answered.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from rms.models import Appointment, Document, Patient, Result, Team


class Enrolment(models.Model):
    """A patient shared with PKB: opted in by a clinician of one of their teams, until
    withdrawn. A patient can be enrolled again after a withdrawal (a new row)."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Shared with PKB"
        WITHDRAWN = "withdrawn", "Withdrawn"

    class Invitation(models.TextChoices):
        WAITING = "waiting", "Waiting for PKB to accept the registration"
        NO_EMAIL = "no_email", "No email recorded: the team must help the patient register"
        QUEUED = "queued", "Invitation email queued"
        SENT = "sent", "Invitation email sent"
        FAILED = "failed", "Invitation email could not be sent"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="pkb_enrolments")
    # The team whose PKB alias (MSH-4) and service code (PV1-10) the messages carry.
    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    opted_in_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    opted_in_at = models.DateTimeField(auto_now_add=True)
    # The patient's consent to share: a consent record of the RMS (careplans), or, where the
    # consent is recorded elsewhere (a paper form), the opting-in clinician's own statement of
    # it. One of the two is always set for an opt-in; who attested and when are opted_in_by/at.
    consent_record = models.ForeignKey(
        "careplans.ConsentRecord",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    consent_attestation = models.TextField(
        blank=True,
        help_text="The clinician's statement of the patient's consent, when no consent record "
        "of the RMS covers sharing with PKB",
    )
    # The choice made at opt-in: results that are the evidence of an open threshold-breach
    # work item were held until a clinician releases them.
    held_breach_evidence = models.BooleanField(default=False)
    withdrawn_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    withdrawn_at = models.DateTimeField(null=True, blank=True)
    withdrawal_reason = models.TextField(blank=True)
    registered_at = models.DateTimeField(
        null=True, blank=True, help_text="When PKB accepted the registration (ADT^A28)"
    )
    invitation = models.CharField(
        max_length=10, choices=Invitation.choices, default=Invitation.WAITING
    )
    invitation_sent_at = models.DateTimeField(null=True, blank=True)
    invitation_error = models.TextField(blank=True)
    invitation_attempts = models.PositiveIntegerField(default=0)
    invitation_next_attempt_at = models.DateTimeField(null=True, blank=True)
    # The email PKB refused because another PKB record holds it: the patient was registered
    # without it, and no invitation is sent to it.
    email_refused = models.CharField(max_length=254, blank=True)

    class Meta:
        ordering = ["-opted_in_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["patient"],
                condition=Q(status="active"),
                name="enrolment_one_active_per_patient",
            ),
        ]

    def __str__(self) -> str:
        return f"PKB enrolment of {self.patient} ({self.get_status_display()})"

    def email_is_refused(self) -> bool:
        """Whether PKB refused the patient's current email (another PKB record holds it)."""
        refused = self.email_refused.strip().casefold()
        return bool(refused) and refused == (self.patient.email or "").strip().casefold()


class ReleasePolicy(models.Model):
    """How a team first publishes one category of item to the patient in PKB."""

    class Category(models.TextChoices):
        LAB = "lab", "Laboratory results"
        RADIOLOGY = "radiology", "Radiology reports"
        DOCUMENT = "document", "Letters and documents"
        APPOINTMENT = "appointment", "Appointments"

    class Mode(models.TextChoices):
        IMMEDIATE = "immediate", "Release at once"
        DELAY = "delay", "Release after a delay (PKB hides the content until then)"
        HOLD = "hold", "Hold for clinician review"

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="release_policies")
    category = models.CharField(max_length=12, choices=Category.choices)
    mode = models.CharField(max_length=10, choices=Mode.choices, default=Mode.IMMEDIATE)
    delay_days = models.PositiveIntegerField(
        default=0, help_text="For 'delay': days after the clinical time (PKB advises 14 at most)"
    )
    auto_release_days = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="For 'hold': release automatically this many days after arrival (blank: never)",
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "release policies"
        constraints = [
            models.UniqueConstraint(
                fields=["team", "category"], name="release_policy_per_category"
            ),
            models.CheckConstraint(
                condition=~Q(mode="delay") | Q(delay_days__gte=1),
                name="release_policy_delay_has_days",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.team.code} {self.get_category_display()}: {self.get_mode_display()}"


class Publication(models.Model):
    """One item of a patient's record as far as PKB is concerned: whether and when it is
    published. Created when the item first becomes shareable (opt-in or arrival)."""

    class State(models.TextChoices):
        HELD = "held", "Held for review"
        RELEASED = "released", "Released"
        WITHDRAWN = "withdrawn", "Withdrawn (deleted at source)"

    enrolment = models.ForeignKey(Enrolment, on_delete=models.CASCADE, related_name="publications")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="+")
    category = models.CharField(max_length=12, choices=ReleasePolicy.Category.choices)
    result = models.ForeignKey(
        Result, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    document = models.ForeignKey(
        Document, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    appointment = models.ForeignKey(
        Appointment, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    state = models.CharField(max_length=10, choices=State.choices)
    delay_days = models.PositiveIntegerField(
        default=0, help_text="Days after the clinical time PKB hides the content"
    )
    auto_release_at = models.DateTimeField(null=True, blank=True)
    # When the team was told (a review work item) that the held item will be released
    # automatically: never released before PKB_AUTO_RELEASE_NOTICE_HOURS after this.
    auto_release_notified_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(auto_now_add=True)
    reason = models.CharField(max_length=200, blank=True)
    # The latest message that carries this item to PKB (its delivery status is the item's).
    message = models.ForeignKey(
        "pkb_bridge.OutboundMessage",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="publications",
    )

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(result__isnull=False, document__isnull=True, appointment__isnull=True)
                    | Q(result__isnull=True, document__isnull=False, appointment__isnull=True)
                    | Q(result__isnull=True, document__isnull=True, appointment__isnull=False)
                ),
                name="publication_has_one_item",
            ),
            models.UniqueConstraint(
                fields=["enrolment", "result"],
                condition=Q(result__isnull=False),
                name="publication_once_per_result",
            ),
            models.UniqueConstraint(
                fields=["enrolment", "document"],
                condition=Q(document__isnull=False),
                name="publication_once_per_document",
            ),
            models.UniqueConstraint(
                fields=["enrolment", "appointment"],
                condition=Q(appointment__isnull=False),
                name="publication_once_per_appointment",
            ),
        ]
        indexes = [
            models.Index(
                fields=["auto_release_at"],
                condition=Q(state="held", auto_release_at__isnull=False),
                name="publication_auto_release_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_category_display()} for {self.patient}: {self.get_state_display()}"


class PublicationDecision(models.Model):
    """Every change of a publication's state: who, when, from what to what, and why.
    Append-only."""

    publication = models.ForeignKey(Publication, on_delete=models.CASCADE, related_name="decisions")
    state = models.CharField(max_length=10, choices=Publication.State.choices)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(auto_now_add=True)
    reason = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["decided_at", "id"]

    def __str__(self) -> str:
        return (
            f"{self.get_state_display()} by {self.decided_by} at {self.decided_at:%Y-%m-%d %H:%M}"
        )


class OutboundMessage(models.Model):
    """One HL7 message for PKB, built once and sent as the same bytes with the same MSH-10
    however many times it takes. ``seq`` orders a patient's messages: none is sent before
    every earlier one of that patient has been delivered (or rejected, unless it was the
    registration, which then blocks the patient's queue until it is fixed and requeued)."""

    class Kind(models.TextChoices):
        REGISTRATION = "ADT^A28", "Registration (ADT^A28)"
        UPDATE = "ADT^A31", "Demographics and diagnoses (ADT^A31)"
        LAB = "ORU^R01", "Laboratory results (ORU^R01)"
        RADIOLOGY = "ORU^R01^RAD", "Radiology report (ORU^R01)"
        DOCUMENT = "MDM^T02", "Document (MDM^T02)"
        DOCUMENT_DELETE = "MDM^T11", "Document deletion (MDM^T11)"
        APPOINTMENT_NEW = "SIU^S12", "New appointment (SIU^S12)"
        APPOINTMENT_CHANGE = "SIU^S13", "Changed appointment (SIU^S13)"
        APPOINTMENT_CANCEL = "SIU^S15", "Cancelled appointment (SIU^S15)"
        APPOINTMENT_DNA = "SIU^S26", "Did not attend (SIU^S26)"

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting to be sent"
        IN_FLIGHT = "in_flight", "Being sent"
        DELIVERED = "delivered", "Accepted by PKB"
        REJECTED = "rejected", "Rejected by PKB"
        CANCELLED = "cancelled", "Cancelled"

    # Rows a dispatcher or the sweeper still has work to do on.
    OPEN = (Status.PENDING, Status.IN_FLIGHT)

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    enrolment = models.ForeignKey(Enrolment, on_delete=models.PROTECT, related_name="messages")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="+")
    seq = models.PositiveIntegerField()
    kind = models.CharField(max_length=12, choices=Kind.choices)
    # What caused the message ("result:12:v2"); unique per enrolment, so a repeated event
    # (two clicks, a re-run) cannot queue the same message twice.
    source_ref = models.CharField(max_length=120)
    control_id = models.CharField("MSH-10", max_length=64, unique=True)
    payload = models.TextField(help_text="The HL7 message exactly as sent (ER7)")
    # The identifiers PID-3 must carry when sent: checked before every attempt.
    expected_nhs_number = models.CharField(max_length=10)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    in_flight_since = models.DateTimeField(null=True, blank=True)
    claimed_by = models.CharField(max_length=100, blank=True)
    ack_code = models.CharField(max_length=2, blank=True)
    ack_text = models.TextField(blank=True, help_text="MSA-3 of PKB's last answer")
    last_error = models.TextField(blank=True)
    # The current run of failed sends (refused, timed out, 5xx, SOAP fault, no ACK): how many
    # and since when; cleared by an answer or a requeue. Past PKB_STALL_AFTER_ATTEMPTS or
    # PKB_STALL_AFTER_HOURS the message is "stalled": still retried, but an administrator is told.
    failures = models.PositiveIntegerField(default=0)
    failing_since = models.DateTimeField(null=True, blank=True)
    stalled_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    cancelled_reason = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["patient_id", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["patient", "seq"], name="outbound_seq_per_patient"),
            models.UniqueConstraint(
                fields=["enrolment", "source_ref"], name="outbound_once_per_source"
            ),
        ]
        indexes = [
            # The dispatcher's queue: only rows that are still to go.
            models.Index(
                fields=["patient", "seq"],
                condition=Q(status__in=["pending", "in_flight"]),
                name="outbound_open_idx",
            ),
            models.Index(
                fields=["next_attempt_at", "id"],
                condition=Q(status="pending"),
                name="outbound_due_idx",
            ),
            models.Index(
                fields=["patient"],
                condition=Q(status="rejected", kind="ADT^A28"),
                name="outbound_blocked_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} #{self.seq} for {self.patient} ({self.status})"


class DeliveryAttempt(models.Model):
    """One try at sending one message: the exact bytes sent and what came back.
    The bodies hold patient data and are pruned after ``PKB_BODY_RETENTION_DAYS``."""

    class Outcome(models.TextChoices):
        ACCEPTED = "accepted", "Accepted (AA)"
        REJECTED = "rejected", "Rejected (AR/AE)"
        TRANSIENT = "transient", "Failed, will retry"
        PAUSED = "paused", "Credentials or source address refused: connection paused"
        # Not sent: the pre-send check failed (the identifiers are not the patient's, or the
        # message departs from PKB's conformance profile); the reason is on the attempt.
        REFUSED = "refused", "Not sent: failed the check before sending"

    message = models.ForeignKey(
        OutboundMessage, on_delete=models.CASCADE, related_name="deliveries"
    )
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField()
    outcome = models.CharField(max_length=10, choices=Outcome.choices)
    http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    ack_code = models.CharField(max_length=2, blank=True)
    ack_control_id = models.CharField(max_length=64, blank=True)
    ack_text = models.TextField(blank=True)
    error_kind = models.CharField(max_length=30, blank=True)
    error = models.TextField(blank=True)
    request_body = models.BinaryField(null=True, blank=True)
    response_body = models.BinaryField(null=True, blank=True)
    bodies_pruned_at = models.DateTimeField(null=True, blank=True)
    worker = models.CharField(max_length=100, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]

        indexes = [
            models.Index(
                fields=["finished_at"],
                condition=Q(bodies_pruned_at__isnull=True),
                name="delivery_unpruned_idx",
            ),
        ]

    def __str__(self) -> str:
        return (
            f"Attempt on {self.message_id} at {self.started_at:%Y-%m-%d %H:%M:%S}: {self.outcome}"
        )


class Connection(models.Model):
    """The PKB connection as a whole (one row). Paused when PKB refuses our credentials or
    source address (HTTP 401/403): nothing is sent, nothing marked failed, until resumed."""

    name = models.CharField(max_length=20, unique=True, default="pkb")
    paused = models.BooleanField(default=False)
    paused_at = models.DateTimeField(null=True, blank=True)
    paused_reason = models.TextField(blank=True)
    resumed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    resumed_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"PKB connection ({'paused' if self.paused else 'active'})"


class PatientSequence(models.Model):
    """The next outbox ``seq`` per patient, taken under a row lock so two transactions
    adding messages for one patient cannot take the same number."""

    patient = models.OneToOneField(Patient, on_delete=models.CASCADE, related_name="+")
    last_seq = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"Outbox sequence of {self.patient}: {self.last_seq}"


class FhirCursor(models.Model):
    """How far the poll of one FHIR resource type has read PKB, per connection: the newest
    ``meta.lastUpdated`` filed. Moved on only after everything up to it was stored, so an
    outage or a crash re-reads (filing is idempotent) and never skips."""

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="cursors")
    resource_type = models.CharField(max_length=40)
    last_updated = models.DateTimeField(null=True, blank=True)
    polled_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "resource_type"], name="fhir_cursor_per_type"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.resource_type} read up to {self.last_updated}"


class FhirInbound(models.Model):
    """One resource PKB gave us (a QuestionnaireResponse or an Observation), kept as received
    with what became of it. One row per FHIR id and type: a second fetch updates it. A
    resource that cannot be filed (unknown patient or questionnaire, invalid) is ``held`` with
    the reason and a work item, never dropped; ``fhir_inbound_refile`` tries it again."""

    class Status(models.TextChoices):
        FILED = "filed", "Filed"
        HELD = "held", "Held: could not be filed"

    resource_type = models.CharField(max_length=40)
    fhir_id = models.CharField(max_length=120)
    last_updated = models.CharField(max_length=40, blank=True)
    resource = models.JSONField(help_text="The FHIR resource as PKB sent it")
    status = models.CharField(max_length=10, choices=Status.choices)
    reason = models.TextField(blank=True)
    nhs_number = models.CharField(max_length=10, blank=True)
    patient = models.ForeignKey(
        Patient, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    result = models.ForeignKey(
        Result, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    response = models.ForeignKey(
        "careplans.QuestionnaireResponse",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    received_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["resource_type", "fhir_id"], name="fhir_inbound_once_per_resource"
            ),
        ]
        indexes = [
            models.Index(
                fields=["received_at"], condition=Q(status="held"), name="fhir_inbound_held_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.resource_type}/{self.fhir_id} ({self.get_status_display()})"
