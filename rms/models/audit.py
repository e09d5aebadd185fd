"""Who looked at which record. Model changes are in django-auditlog; reads are here."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from rms.models.patients import Patient


class AccessEvent(models.Model):
    """One read (or refused read) of a patient's record. Append-only: nothing in the product
    updates or deletes these rows, and the admin shows them read-only."""

    class Outcome(models.TextChoices):
        ALLOWED = "allowed", "Allowed"
        DENIED = "denied", "Denied"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="access_events"
    )
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="access_events")
    action = models.CharField(max_length=60, help_text="What was viewed, e.g. record, results")
    channel = models.CharField(max_length=10, default="web", help_text="web, api or admin")
    outcome = models.CharField(max_length=10, choices=Outcome.choices, default=Outcome.ALLOWED)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-at"]
        indexes = [models.Index(fields=["patient", "-at"], name="access_patient_time_idx")]

    def __str__(self) -> str:
        return (
            f"{self.user} {self.action} {self.patient} {self.outcome} at {self.at:%Y-%m-%d %H:%M}"
        )
