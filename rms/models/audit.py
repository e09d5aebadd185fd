"""Who looked at which record. Model changes are in django-auditlog; reads are here."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from rms.models.patients import Patient


class AccessEvent(models.Model):
    """One read (or refused read) of a patient's record, or one list of patients (a patient
    list or search, a worklist, a caseload page, an API list or an export) naming every
    patient it returned in ``patients``. Append-only: nothing in the product updates or
    deletes these rows, and the admin shows them read-only."""

    class Outcome(models.TextChoices):
        ALLOWED = "allowed", "Allowed"
        DENIED = "denied", "Denied"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="access_events"
    )
    # Empty for a list: the patients it returned are in ``patients``.
    patient = models.ForeignKey(
        Patient,
        on_delete=models.PROTECT,
        related_name="access_events",
        null=True,
        blank=True,
    )
    patients = models.ManyToManyField(
        Patient,
        blank=True,
        related_name="listed_in_access_events",
        help_text="The patients a list, search, worklist or export returned",
    )
    action = models.CharField(max_length=60, help_text="What was viewed, e.g. record, results")
    channel = models.CharField(max_length=10, default="web", help_text="web, api or admin")
    outcome = models.CharField(max_length=10, choices=Outcome.choices, default=Outcome.ALLOWED)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-at"]
        indexes = [models.Index(fields=["patient", "-at"], name="access_patient_time_idx")]

    def __str__(self) -> str:
        what = self.patient if self.patient_id is not None else "a list of patients"
        return f"{self.user} {self.action} {what} {self.outcome} at {self.at:%Y-%m-%d %H:%M}"


class NhsNumberStatusChange(models.Model):
    """One change of a patient's NHS number status: who, why, from what to what, and where
    it came from. PKB relies on status 01 (verified) to avoid merging two people, so only a
    team admin (with a reason) or the PAS feed changes it. Append-only, like the access log."""

    class Source(models.TextChoices):
        PERSON = "person", "A team admin"
        REGISTRATION = "registration", "Registration"
        PAS = "pas", "The PAS feed"
        IMPORT = "import", "A patient import"
        SYSTEM = "system", "The system"

    patient = models.ForeignKey(
        Patient, on_delete=models.PROTECT, related_name="nhs_number_status_changes"
    )
    from_status = models.CharField(max_length=2, blank=True)
    to_status = models.CharField(max_length=2)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    reason = models.TextField()
    source = models.CharField(max_length=12, choices=Source.choices, default=Source.PERSON)
    at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.patient} NHS number status {self.from_status or '-'} to {self.to_status}"
