"""Domain events: what happened to the record, written in the transaction that changed it.

Results, appointments, documents, demographics and diagnoses are told this way. The apps
above ``rms`` (monitoring, the PKB bridge) consume them after commit
(``rms.events``). One ``EventDelivery`` row per event and consumer is that consumer's
progress: done once, retried with backoff while it fails, and a patient's events are taken in
order by each consumer (docs/adr/0002-signals-between-apps.md).
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone

from rms.models.patients import Patient


class DomainEvent(models.Model):
    """One thing that happened to the record. The id gives the order."""

    class Kind(models.TextChoices):
        RESULT_RECORDED = "result_recorded", "Result recorded"
        RESULT_CORRECTED = "result_corrected", "Result corrected"
        RESULT_DELETED = "result_deleted", "Result deleted or cancelled"
        APPOINTMENT_CHANGED = "appointment_changed", "Appointment booked or changed"
        DOCUMENT_CHANGED = "document_changed", "Document filed, replaced or deleted"
        PATIENT_REGISTERED = "patient_registered", "Patient registered"
        PATIENT_CHANGED = "patient_changed", "Patient's identifiers or demographics changed"
        DIAGNOSES_CHANGED = "diagnoses_changed", "Diagnoses changed"

    id = models.BigAutoField(primary_key=True)
    # Null for an event about no one patient; a patient's events are consumed in order.
    patient = models.ForeignKey(
        Patient, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    kind = models.CharField(max_length=40, choices=Kind.choices)
    # The row the event is about: a Result, an Appointment, a Document, a Patient (registered
    # or changed) or a Diagnosis (the patient's set of diagnoses changed), by kind.
    subject_id = models.BigIntegerField()
    # Ids and states only, never clinical values: the record is read when consumed.
    payload = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["kind", "subject_id"], name="rms_event_subject")]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk}"


class EventDelivery(models.Model):
    """One consumer's progress on one event: pending until ``done_at``; a failure records the
    error and when to try again."""

    id = models.BigAutoField(primary_key=True)
    # Not indexed on its own: rms_event_once_each (event, consumer) begins with it.
    event = models.ForeignKey(
        DomainEvent, on_delete=models.CASCADE, related_name="deliveries", db_index=False
    )
    consumer = models.CharField(max_length=60)
    # Copied from the event so the per-patient order is checked without a join.
    patient_id = models.BigIntegerField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    done_at = models.DateTimeField(null=True, blank=True)
    # Seconds from the event's commit (its created_at) to its consumption: the lag metric.
    lag_s = models.FloatField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "event deliveries"
        constraints = [
            models.UniqueConstraint(fields=["event", "consumer"], name="rms_event_once_each")
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at", "event"],
                name="rms_event_pending",
                condition=Q(done_at__isnull=True),
            ),
            models.Index(
                fields=["consumer", "patient_id", "event"],
                name="rms_event_patient_pending",
                condition=Q(done_at__isnull=True),
            ),
            models.Index(fields=["consumer", "done_at"], name="rms_event_done"),
        ]

    def __str__(self) -> str:
        return f"{self.consumer} ← event #{self.event_id}"
