"""Questionnaires (FHIR R4 Questionnaire JSON) with scoring and alert rules; requests; responses.

A ``Questionnaire`` holds the FHIR resource as JSON (checked with ``fhir.resources`` before it is
saved) and our own ``scoring`` definition: the scores (sums or means of item answers, over listed
linkIds) and the alert rules over scores and single answers. An answer's number is the
``ordinalValue`` extension (``http://hl7.org/fhir/StructureDefinition/ordinalValue``) of the
chosen ``answerOption`` (or of its ``valueCoding``), or the ``valueInteger`` of an integer option
or an integer item. ``careplans.questionnaires.scoring`` reads and checks both.

A ``QuestionnaireRequest`` asks a patient to complete one (through PKB, or by a clinician on the
phone); a ``QuestionnaireResponse`` is one completed questionnaire, scored when it was stored.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q

from rms.models import Patient, Team

__all__ = [
    "PathwayQuestionnaire",
    "Questionnaire",
    "QuestionnaireRequest",
    "QuestionnaireResponse",
]


class Questionnaire(models.Model):
    """A questionnaire definition: the FHIR resource plus how it is scored and when it alerts."""

    code = models.SlugField(max_length=60, help_text="Our short name, e.g. phq-9")
    version = models.CharField(max_length=20, default="1")
    title = models.CharField(max_length=200)
    description = models.TextField(help_text="What it measures, its source and its licence")
    active = models.BooleanField(default=True)
    fhir = models.JSONField(help_text="The FHIR R4 Questionnaire resource (JSON)")
    scoring = models.JSONField(
        default=dict,
        blank=True,
        help_text=(
            "Scores and alert rules (JSON; see careplans.questionnaires.scoring for the format)"
        ),
    )
    pkb_questionnaire_id = models.CharField(
        max_length=120,
        blank=True,
        help_text="The id of this questionnaire on PKB's side (blank until set)",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["title", "version"]
        constraints = [
            models.UniqueConstraint(fields=["code", "version"], name="questionnaire_code_version"),
        ]

    def __str__(self) -> str:
        return f"{self.title} (v{self.version})"


class PathwayQuestionnaire(models.Model):
    """A questionnaire a pathway asks for: from month ``from_month`` after the plan's anchor
    date, then every ``every_months`` (blank: once) until ``until_month`` (blank: for ever).
    Read for each active plan of the pathway by the schedule task."""

    pathway = models.ForeignKey(
        "careplans.Pathway", on_delete=models.CASCADE, related_name="questionnaires"
    )
    questionnaire = models.ForeignKey(
        Questionnaire, on_delete=models.PROTECT, related_name="schedules"
    )
    from_month = models.PositiveSmallIntegerField(default=0)
    every_months = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1)]
    )
    until_month = models.PositiveSmallIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["pathway", "from_month", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(until_month__isnull=True) | Q(until_month__gte=models.F("from_month")),
                name="pathway_questionnaire_ends_after_start",
            ),
        ]

    def __str__(self) -> str:
        every = f"every {self.every_months} months" if self.every_months else "once"
        return f"{self.questionnaire.title} {every} from month {self.from_month}"


class QuestionnaireRequest(models.Model):
    """One request to a patient to complete a questionnaire. Channel ``pkb``: pending until the
    PKB bridge delivers it (sent) or gives up (failed). Completed when a response arrives."""

    class Channel(models.TextChoices):
        PKB = "pkb", "Patients Know Best"
        CLINICIAN = "clinician", "Clinician (phone or clinic)"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"
        COMPLETED = "completed", "Completed"
        CANCELLED = "cancelled", "Cancelled"

    OPEN = (Status.PENDING, Status.SENT)

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    patient = models.ForeignKey(
        Patient, on_delete=models.PROTECT, related_name="questionnaire_requests"
    )
    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="+")
    questionnaire = models.ForeignKey(
        Questionnaire, on_delete=models.PROTECT, related_name="requests"
    )
    # Set when the pathway's schedule raised the request (one per plan, questionnaire, date).
    plan = models.ForeignKey(
        "careplans.FollowUpPlan",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="questionnaire_requests",
    )
    channel = models.CharField(max_length=10, choices=Channel.choices, default=Channel.PKB)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="Blank when the pathway's schedule requested it",
    )
    requested_at = models.DateTimeField(auto_now_add=True)
    due_date = models.DateField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    external_id = models.CharField(max_length=120, blank=True, help_text="PKB's id")
    last_error = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-requested_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["plan", "questionnaire", "due_date"],
                condition=Q(plan__isnull=False),
                name="questionnaire_request_once_per_plan_due",
            ),
        ]
        indexes = [
            # The PKB bridge's queue: pending requests of the PKB channel, oldest first.
            models.Index(
                fields=["requested_at"],
                condition=Q(status="pending", channel="pkb"),
                name="qreq_pending_pkb_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.questionnaire.title} for {self.patient} ({self.get_status_display()})"


class QuestionnaireResponse(models.Model):
    """One completed questionnaire: the FHIR QuestionnaireResponse JSON and its scores, computed
    when it was stored. ``alerts`` lists the rules that fired (and raised one work item)."""

    class Source(models.TextChoices):
        PKB = "pkb", "Patients Know Best"
        CLINICIAN = "clinician", "Entered by a clinician"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    patient = models.ForeignKey(
        Patient, on_delete=models.PROTECT, related_name="questionnaire_responses"
    )
    team = models.ForeignKey(
        Team, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    questionnaire = models.ForeignKey(
        Questionnaire, on_delete=models.PROTECT, related_name="responses"
    )
    request = models.ForeignKey(
        QuestionnaireRequest,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="responses",
    )
    fhir = models.JSONField(help_text="The FHIR R4 QuestionnaireResponse resource (JSON)")
    scores = models.JSONField(default=dict, blank=True)
    alerts = models.JSONField(default=list, blank=True)
    source = models.CharField(max_length=10, choices=Source.choices)
    entered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    authored_at = models.DateTimeField()
    received_at = models.DateTimeField(auto_now_add=True)
    external_id = models.CharField(max_length=120, blank=True, help_text="PKB's id")

    class Meta:
        ordering = ["-authored_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["external_id"],
                condition=~Q(external_id=""),
                name="questionnaire_response_external_once",
            ),
        ]
        indexes = [
            models.Index(fields=["patient", "authored_at"], name="qresp_patient_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.questionnaire.title} by {self.patient} at {self.authored_at:%Y-%m-%d}"
