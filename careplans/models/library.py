"""The resource library: a team's resources, information packs attached to pathway milestones,
and what was shared.

A resource (``Resource``: a link, a video or a PDF leaflet) is a team's and goes through its
approval (draft, approved with a review date, retired; ``careplans.library.services``). What
ties it to the follow-up pathways lives here too: a resource's pathway tags
(``PathwayResource``), the information packs a team gives at a milestone of a pathway, each
patient's milestones reached, and every share of a resource or a pack with a patient (with the
document it was sent to PKB as).
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from careplans.models.followup import Pathway
from rms.models import Document, Patient, Team

__all__ = [
    "InformationPack",
    "Milestone",
    "MilestoneReached",
    "PathwayResource",
    "Resource",
    "ResourceShare",
]


class Resource(models.Model):
    """An item of a team's resource library: a link, a video or a PDF leaflet."""

    class Kind(models.TextChoices):
        LINK = "link", "Web link"
        VIDEO = "video", "Video"
        LEAFLET = "leaflet", "PDF leaflet"

    class Status(models.TextChoices):
        # Only an approved resource is shared with patients (careplans.library.services).
        DRAFT = "draft", "Draft"
        APPROVED = "approved", "Approved"
        RETIRED = "retired", "Retired"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="resources")
    title = models.CharField(max_length=200)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    url = models.URLField(blank=True)
    file = models.FileField(upload_to="resources/", blank=True)
    description = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # The approval workflow: draft -> approved (by a team admin, with a review date) -> retired.
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    review_date = models.DateField(null=True, blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    retired_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    retired_at = models.DateTimeField(null=True, blank=True)
    # The review date a "due for review" reminder was raised for: never twice for one date.
    review_reminder_raised_for = models.DateField(null=True, blank=True)

    class Meta:
        # The table it had when the model was in the core record (rms): no data moved.
        db_table = "rms_resource"
        ordering = ["title"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(url="") | ~Q(file=""), name="resource_has_link_or_file"
            ),
            models.CheckConstraint(
                condition=~Q(status="approved")
                | Q(
                    review_date__isnull=False,
                    approved_by__isnull=False,
                    approved_at__isnull=False,
                ),
                name="resource_approved_has_review_date",
            ),
            models.CheckConstraint(
                condition=~Q(status="retired") | Q(retired_at__isnull=False),
                name="resource_retired_has_time",
            ),
        ]
        indexes = [
            models.Index(
                fields=["review_date"],
                condition=Q(status="approved"),
                name="resource_review_due_idx",
            ),
        ]

    def __str__(self) -> str:
        return self.title


class Milestone(models.TextChoices):
    BEFORE_TREATMENT = "before_treatment", "Before treatment"
    AFTER_TREATMENT = "after_treatment", "After treatment"
    REMOTE_FOLLOW_UP = "remote_follow_up", "Discharge to remote follow-up"


class PathwayResource(models.Model):
    """A resource tagged with a pathway it is written for (a foreign key, so a tag always
    names a real pathway)."""

    pathway = models.ForeignKey(Pathway, on_delete=models.CASCADE, related_name="resource_tags")
    resource = models.ForeignKey(Resource, on_delete=models.CASCADE, related_name="pathway_tags")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["pathway__name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["pathway", "resource"], name="pathway_resource_once"),
        ]

    def __str__(self) -> str:
        return f"{self.resource} — {self.pathway}"


class InformationPack(models.Model):
    """A named set of one team's resources, given to the team's patients on a pathway when
    they reach ``milestone``."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="information_packs")
    name = models.CharField(max_length=200)
    pathway = models.ForeignKey(Pathway, on_delete=models.PROTECT, related_name="packs")
    milestone = models.CharField(max_length=20, choices=Milestone.choices)
    description = models.TextField(blank=True, help_text="Shown to the patient above the list")
    resources = models.ManyToManyField(Resource, related_name="packs", blank=True)
    active = models.BooleanField(
        default=True, help_text="Only active packs are shared when a milestone is reached"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["team", "pathway", "milestone", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["team", "pathway", "milestone", "name"], name="information_pack_name_once"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class MilestoneReached(models.Model):
    """A patient reached a milestone of a pathway, with one of their teams. Once per patient,
    team, pathway and milestone."""

    class Source(models.TextChoices):
        CLINICIAN = "clinician", "Recorded by a clinician"
        PLAN_START = "plan_start", "Follow-up plan started"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="milestones")
    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="+")
    pathway = models.ForeignKey(Pathway, on_delete=models.PROTECT, related_name="+")
    milestone = models.CharField(max_length=20, choices=Milestone.choices)
    source = models.CharField(max_length=12, choices=Source.choices)
    reached_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    reached_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-reached_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["patient", "team", "pathway", "milestone"], name="milestone_reached_once"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_milestone_display()} ({self.pathway})"


class ResourceShare(models.Model):
    """One resource, or one information pack, shared with a patient: who, when, what was
    included and the document it went to PKB as. A pack is shared with a patient once."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="resource_shares")
    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="+")
    pack = models.ForeignKey(
        InformationPack, on_delete=models.PROTECT, null=True, blank=True, related_name="shares"
    )
    resource = models.ForeignKey(
        Resource, on_delete=models.PROTECT, null=True, blank=True, related_name="shares"
    )
    milestone = models.ForeignKey(
        MilestoneReached, on_delete=models.PROTECT, null=True, blank=True, related_name="shares"
    )
    # What was actually sent (a pack's approved, current resources at the time).
    included = models.ManyToManyField(Resource, related_name="+", blank=True)
    # The letter listing them (TXA-12 unique per share); null when nothing could be sent.
    document = models.OneToOneField(
        Document, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    note = models.TextField(blank=True, help_text="Why nothing, or not everything, was sent")
    shared_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    shared_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-shared_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(pack__isnull=False, resource__isnull=True)
                | Q(pack__isnull=True, resource__isnull=False),
                name="resource_share_pack_or_resource",
            ),
            # A repeated or concurrent milestone (or click) shares a pack once.
            models.UniqueConstraint(
                fields=["patient", "pack"],
                condition=Q(pack__isnull=False),
                name="resource_share_pack_once",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.pack or self.resource} shared {self.shared_at:%Y-%m-%d}"
