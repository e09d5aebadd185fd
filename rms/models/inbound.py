"""Inbound HL7 v2 messages, kept raw before anything else is done with them."""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q

from rms.models.patients import Patient


class InboundMessage(models.Model):
    """One message received from a Trust system, exactly as its bytes arrived.

    The row is written before the message is parsed, so nothing received is ever lost: a
    message that cannot be parsed, or whose patient we cannot match, stays here with its
    status and reason until an administrator fixes and reprocesses it. The same sender and
    MSH-10 again is answered with the stored acknowledgement, not processed twice.
    """

    class Status(models.TextChoices):
        RECEIVED = "received", "Received, not yet processed"
        PROCESSED = "processed", "Processed"
        IGNORED = "ignored", "Accepted, nothing to file"
        UNMATCHED = "unmatched", "Held: patient not found"
        REVIEW = "review", "Held: possible wrong patient"
        ERROR = "error", "Refused"

    # Messages an administrator has to look at.
    NEEDS_ATTENTION = (Status.UNMATCHED, Status.REVIEW, Status.ERROR)

    class SenderCheck(models.TextChoices):
        """Why a message was refused or held because of who sent it (docs/security.md)."""

        NOT_ALLOWED = "not_allowed", "Refused: sender not allowed from where it came"
        NOT_PAS = "not_pas", "Refused: demographics from a sender that is not the PAS"
        OTHER_SENDER = "other_sender", "Held: changes a result another sender filed"

    class Channel(models.TextChoices):
        MLLP = "mllp", "MLLP"
        API = "api", "REST API"
        ADMIN = "admin", "Admin"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)
    channel = models.CharField(max_length=10, choices=Channel.choices)
    peer = models.CharField(max_length=100, blank=True, help_text="Source address")
    # Who the sender proved to be beyond its address: cn:NAME (a verified TLS client
    # certificate) or user:NAME (an API account); checked again against MLLP_SENDERS when a
    # message refused for its sender is reprocessed.
    credential = models.CharField(
        max_length=200, blank=True, help_text="TLS client certificate (cn:) or API account (user:)"
    )
    raw = models.BinaryField(help_text="The message bytes as received, unframed")
    # From MSH, read before full parsing; blank when MSH could not be read.
    sending_application = models.CharField(max_length=180, blank=True)
    sending_facility = models.CharField(max_length=180, blank=True)
    control_id = models.CharField("Control id (MSH-10)", max_length=200, blank=True)
    message_type = models.CharField(max_length=20, blank=True, help_text="e.g. ORU^R01")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.RECEIVED)
    error = models.TextField(blank=True, help_text="Why the message was refused or held")
    ack_code = models.CharField(max_length=2, blank=True)
    ack = models.TextField(blank=True, help_text="The acknowledgement sent back")
    patient = models.ForeignKey(
        Patient,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="inbound_messages",
    )
    processed_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    filing_keys = models.TextField(
        blank=True,
        default="",
        help_text="What it is filed in order with (patient identifiers, filler order numbers), "
        "one a line; set when stored for filing later (rms.inbound.partition)",
    )
    sender_check = models.CharField(
        max_length=20,
        choices=SenderCheck.choices,
        blank=True,
        help_text="Refused or held because of who sent it (blank: not)",
    )

    class Meta:
        ordering = ["-received_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["sending_application", "sending_facility", "control_id"],
                condition=~Q(control_id=""),
                name="inbound_once_per_sender_and_control_id",
            ),
        ]
        indexes = [
            models.Index(
                fields=["status", "received_at"],
                condition=Q(status__in=["unmatched", "review", "error", "received"]),
                name="inbound_attention_idx",
            ),
        ]
        permissions = [("submit_inbound", "Can submit results and HL7 messages through the API")]

    def __str__(self) -> str:
        return f"{self.message_type or 'HL7'} {self.control_id or self.public_id} ({self.status})"

    @property
    def raw_bytes(self) -> bytes:
        return bytes(self.raw)
