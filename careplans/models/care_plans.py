"""Care plan documents (templates by pathway, versioned patient care plans) and consent.

A care plan template belongs to a pathway and is a list of ordered sections. A patient's care
plan is made from a template and never edited in place: each save is a new
``CarePlanVersion`` holding a full copy of every section, with its author, time and note, so
any version can be read again and any two compared. Each version is shared with PKB as one
``rms.Document`` under the plan's fixed document number (TXA-12), which PKB replaces while it
keeps the earlier versions.

Consent records are append-only: a withdrawal is a new record pointing at the one it
withdraws, with who recorded it and when, so the history of what the patient agreed to is
never edited.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from careplans.models.followup import FollowUpPlan, Pathway
from careplans.models.library import Resource
from rms.models import Document, Patient, Team

__all__ = [
    "PKB_SHARING_TOPIC",
    "CarePlan",
    "CarePlanSection",
    "CarePlanTemplate",
    "CarePlanTemplateSection",
    "CarePlanVersion",
    "ConsentMethod",
    "ConsentRecord",
    "ConsentStatus",
    "SectionKind",
]


class SectionKind(models.TextChoices):
    SCHEDULE = "schedule", "Your follow-up schedule"
    SYMPTOMS = "symptoms", "Symptoms to report"
    CONTACTS = "contacts", "Who to contact"
    FREE = "free", "Free section"


class CarePlanTemplate(models.Model):
    """The starting text of a pathway's care plans, as ordered sections."""

    pathway = models.ForeignKey(
        Pathway, on_delete=models.PROTECT, related_name="care_plan_templates"
    )
    name = models.CharField(max_length=200)
    introduction = models.TextField(
        blank=True, help_text="Opening words shown to the patient above the sections."
    )
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["pathway__name", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["pathway", "name"], name="care_plan_template_name_once"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class CarePlanTemplateSection(models.Model):
    """One section of a template. In a "who to contact" section ``{team_name}`` and
    ``{team_contact}`` are filled in from the patient's team and the team contact setting;
    a "follow-up schedule" section has the patient's scheduled tests added below its body."""

    template = models.ForeignKey(
        CarePlanTemplate, on_delete=models.CASCADE, related_name="sections"
    )
    position = models.PositiveSmallIntegerField()
    kind = models.CharField(max_length=10, choices=SectionKind.choices, default=SectionKind.FREE)
    heading = models.CharField(max_length=200)
    body = models.TextField(blank=True)

    class Meta:
        ordering = ["template", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["template", "position"], name="care_plan_template_section_position_once"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.position}. {self.heading}"


class CarePlan(models.Model):
    """A patient's care plan; its text is in its versions (the latest is the current one)."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="care_plans")
    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="+")
    template = models.ForeignKey(
        CarePlanTemplate, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    follow_up_plan = models.ForeignKey(
        FollowUpPlan, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    title = models.CharField(max_length=200)
    # The TXA-12 every version is sent under, so PKB replaces the plan and keeps its history.
    document_number = models.CharField(max_length=80, unique=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.title


class CarePlanVersion(models.Model):
    """One saved state of a care plan: every section, who saved it, when and why. Never
    changed once written."""

    care_plan = models.ForeignKey(CarePlan, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    note = models.CharField(max_length=500, blank=True)
    # The patient-facing HTML of this version, as it was shared.
    content_html = models.TextField()
    document = models.ForeignKey(
        Document, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["care_plan", "number"]
        constraints = [
            models.UniqueConstraint(fields=["care_plan", "number"], name="care_plan_version_once"),
        ]

    def __str__(self) -> str:
        return f"{self.care_plan} version {self.number}"


class CarePlanSection(models.Model):
    """One section of one version of a care plan."""

    version = models.ForeignKey(CarePlanVersion, on_delete=models.CASCADE, related_name="sections")
    position = models.PositiveSmallIntegerField()
    kind = models.CharField(max_length=10, choices=SectionKind.choices, default=SectionKind.FREE)
    heading = models.CharField(max_length=200)
    body = models.TextField(blank=True)

    class Meta:
        ordering = ["version", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["version", "position"], name="care_plan_section_position_once"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.position}. {self.heading}"


# The topic of a consent to share the record with Patients Know Best: what the PKB bridge
# looks for before a patient is opted in (matched without regard to case).
PKB_SHARING_TOPIC = "Sharing records with Patients Know Best"


class ConsentMethod(models.TextChoices):
    VERBAL = "verbal", "Verbal"
    WRITTEN = "written", "Written"
    DIGITAL = "digital", "Digital"


class ConsentStatus(models.TextChoices):
    GIVEN = "given", "Given"
    DECLINED = "declined", "Declined"
    WITHDRAWN = "withdrawn", "Withdrawn"


class ConsentRecord(models.Model):
    """What the patient consented to (or declined, or withdrew), on what information, how,
    when, and who recorded it. Append-only: a withdrawal is a new record that ``withdraws``
    an earlier one."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="consent_records")
    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="+")
    topic = models.CharField(max_length=300, help_text="What was consented to.")
    information_given = models.CharField(
        max_length=300,
        blank=True,
        help_text="The version of the information given, e.g. a leaflet and its version.",
    )
    resource = models.ForeignKey(
        Resource, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    method = models.CharField(max_length=10, choices=ConsentMethod.choices)
    status = models.CharField(max_length=10, choices=ConsentStatus.choices)
    given_at = models.DateTimeField(help_text="When the patient gave, declined or withdrew it.")
    note = models.TextField(blank=True)
    withdraws = models.OneToOneField(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="withdrawal"
    )
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    recorded_at = models.DateTimeField(auto_now_add=True)
    document = models.ForeignKey(
        Document, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-given_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status="withdrawn", withdraws__isnull=False)
                | (~Q(status="withdrawn") & Q(withdraws__isnull=True)),
                name="consent_withdrawal_names_what_it_withdraws",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.topic}: {self.get_status_display()}"
