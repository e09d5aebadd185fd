"""The clinical record: diagnoses, results and observations, appointments and documents."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from rms.models.patients import Patient


class Diagnosis(models.Model):
    class CodeSystem(models.TextChoices):
        # The text PKB needs in DG1-3.3 for its privacy-label mapping is "SNOMED CT".
        SNOMED_CT = "SNOMED CT", "SNOMED CT"
        ICD10 = "ICD-10", "ICD-10"

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        REMISSION = "remission", "In remission"
        RECURRENCE = "recurrence", "Recurrence"
        RESOLVED = "resolved", "Resolved"
        ENTERED_IN_ERROR = "entered_in_error", "Entered in error"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="diagnoses")
    code = models.CharField(max_length=20)
    code_system = models.CharField(max_length=20, choices=CodeSystem.choices)
    text = models.CharField(max_length=255)
    diagnosed_on = models.DateField()
    tumour_site = models.CharField(max_length=30, blank=True)
    stage = models.CharField(max_length=60, blank=True, help_text="e.g. T2N0M0, Dukes B")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.ACTIVE)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "diagnoses"
        ordering = ["diagnosed_on", "id"]

    def __str__(self) -> str:
        return f"{self.text} ({self.code_system} {self.code})"


class Result(models.Model):
    """One report from a lab or radiology system (an OBR group), with its observations."""

    class Category(models.TextChoices):
        LAB = "lab", "Laboratory"
        RADIOLOGY = "radiology", "Radiology"
        # Symptoms and measurements the patient recorded in PKB: shown apart from the lab's
        # and radiology's results, and never sent back to PKB.
        PATIENT = "patient", "Patient-entered"

    class Status(models.TextChoices):
        PRELIMINARY = "preliminary", "Preliminary"
        FINAL = "final", "Final"
        CORRECTED = "corrected", "Corrected"
        CANCELLED = "cancelled", "Cancelled"
        DELETED = "deleted", "Deleted"

    # Results in these states no longer count: not shown as current, not monitored.
    WITHDRAWN = frozenset({Status.CANCELLED, Status.DELETED})

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    # Not indexed on its own: result_patient_time_idx and result_patient_filler_idx both
    # begin with the patient, and each result filed writes every index of the table.
    patient = models.ForeignKey(
        Patient, on_delete=models.CASCADE, related_name="results", db_index=False
    )
    category = models.CharField(max_length=20, choices=Category.choices)
    source_system = models.CharField(max_length=60, help_text="Sending application (MSH-3)")
    # The sending system that filed it, the only one whose corrections and deletions are
    # applied (docs/security.md, "Trust boundaries"): MSH-3^MSH-4 of the HL7 message, or
    # api:USERNAME for a result sent as JSON. Blank for results from elsewhere (PKB).
    sender = models.CharField(max_length=200, blank=True)
    placer_order_number = models.CharField(max_length=60, blank=True)
    # Room for a FHIR resource reference ("Observation/" and an id of up to 64 characters) as
    # well as an HL7 filler order number.
    filler_order_number = models.CharField(max_length=100)
    service_code = models.CharField(max_length=40, blank=True)
    service_name = models.CharField(max_length=200, blank=True)
    observed_at = models.DateTimeField(help_text="When the specimen was taken or the study done")
    reported_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.FINAL)
    ordering_clinician = models.CharField(max_length=200, blank=True)
    report_text = models.TextField(blank=True)
    # Incremented by each correction; the observations of earlier versions are kept,
    # marked superseded, so the history of what was reported stays visible.
    version = models.PositiveIntegerField(default=1)
    last_message = models.ForeignKey(
        "rms.InboundMessage", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # Patient-entered results: which clinician marked the entry as seen, and when.
    seen_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    seen_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-observed_at", "-id"]
        constraints = [
            # A filler order number identifies one report within its sending system; a
            # repeat (a correction) updates the same row rather than adding another.
            models.UniqueConstraint(
                fields=["source_system", "filler_order_number"],
                name="result_filler_order_unique_per_source",
            ),
        ]
        indexes = [
            models.Index(fields=["patient", "-observed_at"], name="result_patient_time_idx"),
            # Filing looks up the patient's results under a filler order number from any
            # sender (rms.services.results.results_lock_for_filing, rms.inbound.express).
            models.Index(
                fields=["patient", "filler_order_number"], name="result_patient_filler_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.service_name or self.service_code} {self.filler_order_number}"

    @property
    def counts(self) -> bool:
        return self.status not in self.WITHDRAWN


class Observation(models.Model):
    """One value of a result (an OBX). ``value_text`` is always what the lab sent;
    ``value_numeric`` is its number where there is one, with any ``<``/``>`` comparator apart
    (an undetectable PSA arrives as ``<0.01``)."""

    class Status(models.TextChoices):
        PRELIMINARY = "preliminary", "Preliminary"
        FINAL = "final", "Final"
        CORRECTED = "corrected", "Corrected"
        CANCELLED = "cancelled", "Cancelled"
        DELETED = "deleted", "Deleted"

    class ValueType(models.TextChoices):
        NUMERIC = "NM", "Numeric"
        TEXT = "TX", "Text"

    result = models.ForeignKey(Result, on_delete=models.CASCADE, related_name="observations")
    sequence = models.PositiveIntegerField(default=1)
    code = models.CharField(max_length=40)
    code_system = models.CharField(max_length=40, blank=True)
    name = models.CharField(max_length=200)
    value_type = models.CharField(max_length=2, choices=ValueType.choices)
    value_text = models.TextField(blank=True)
    value_numeric = models.DecimalField(max_digits=18, decimal_places=6, null=True, blank=True)
    comparator = models.CharField(max_length=2, blank=True, help_text="<, <=, > or >=")
    units = models.CharField(max_length=40, blank=True)
    reference_range = models.CharField(max_length=60, blank=True)
    abnormal_flag = models.CharField(max_length=10, blank=True)
    observed_at = models.DateTimeField()
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.FINAL)
    notes = models.TextField(blank=True)
    result_version = models.PositiveIntegerField(default=1)
    superseded_at = models.DateTimeField(
        null=True, blank=True, help_text="Set when a correction replaced this value"
    )

    class Meta:
        ordering = ["result", "sequence"]
        indexes = [
            models.Index(fields=["code", "observed_at"], name="observation_code_time_idx"),
            models.Index(
                fields=["result", "sequence"],
                condition=Q(superseded_at__isnull=True),
                name="observation_current_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} {self.comparator}{self.value_text} {self.units}".strip()


class Appointment(models.Model):
    class Status(models.TextChoices):
        BOOKED = "booked", "Booked"
        CANCELLED = "cancelled", "Cancelled"
        DID_NOT_ATTEND = "dna", "Did not attend"
        ATTENDED = "attended", "Attended"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="appointments")
    team = models.ForeignKey(
        "rms.Team", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    placer_id = models.CharField(
        max_length=60, unique=True, help_text="SCH-1 placer appointment id"
    )
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField(null=True, blank=True)
    appointment_type = models.CharField(max_length=100, blank=True)
    reason = models.CharField(max_length=200, blank=True)
    location = models.CharField(max_length=200, blank=True)
    clinician = models.CharField(max_length=200, blank=True)
    clinician_role = models.CharField(
        max_length=100, blank=True, help_text="AIP-4: the clinician's role (Doctor, Nurse...)"
    )
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.BOOKED)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-starts_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__isnull=True) | Q(ends_at__gte=models.F("starts_at")),
                name="appointment_ends_after_start",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.reason or self.appointment_type or 'Appointment'} {self.starts_at:%Y-%m-%d}"


class Document(models.Model):
    class DocumentType(models.TextChoices):
        # PKB code set PKBCS05 (the public list is cut off after TCI; more can be added).
        APPOINTMENT_LETTER = "AL", "Appointment letter"
        ALERT_NOTIFICATION = "AN", "Alert notification"
        BIRTH_REPORT = "BR", "Birth report"
        CLINIC_LETTER = "CL", "Clinic letter"
        CARE_PLAN = "CP", "Care plan"
        DISCHARGE_LETTER = "DL", "Discharge letter"
        DISCHARGE_SUMMARY = "DS", "Discharge summary"
        MDT_NOTES = "MDT", "MDT meeting notes"
        REFERRAL_LETTER = "RL", "Referral letter"
        TCI_LETTER = "TCI", "To come in letter"

    class ContentType(models.TextChoices):
        HTML = "html", "HTML"
        PDF = "pdf", "PDF"

    class Status(models.TextChoices):
        CURRENT = "current", "Current"
        DELETED = "deleted", "Deleted"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="documents")
    document_type = models.CharField(max_length=4, choices=DocumentType.choices)
    title = models.CharField(max_length=255)
    document_number = models.CharField(
        max_length=80, unique=True, help_text="TXA-12 unique document number"
    )
    authored_at = models.DateTimeField()
    author = models.CharField(max_length=200, blank=True)
    content_type = models.CharField(max_length=4, choices=ContentType.choices)
    content_html = models.TextField(blank=True)
    # Kept in the database, not on a file system, so a document and the outbox row that
    # sends it commit together. Size is capped by the services (settings.DOCUMENT_MAX_BYTES).
    content_pdf = models.BinaryField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.CURRENT)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-authored_at"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(content_type="html") & Q(content_pdf__isnull=True))
                | (Q(content_type="pdf") & Q(content_pdf__isnull=False)),
                name="document_content_matches_type",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_document_type_display()}: {self.title}"
