"""Work items: whatever needs a clinician or an administrator, raised by the other apps.

A work item is raised once per cause (``dedupe_key``): the same breach, the same overdue
test, the same rejected message never makes a second item. Every change is a
``WorkItemEvent`` row (who, when, what), so the history of an item is stored, not inferred.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from rms.models import Patient, Team


class WorkItem(models.Model):
    class Kind(models.TextChoices):
        THRESHOLD_BREACH = "threshold_breach", "Threshold breach"
        OVERDUE_TEST = "overdue_test", "Overdue test"
        RESULT_TO_REVIEW = "result_to_review", "Result to review"
        DELIVERY_FAILURE = "delivery_failure", "PKB delivery failure"
        ONBOARDING_NEEDED = "onboarding_needed", "PKB onboarding needed"
        UNMATCHED_MESSAGE = "unmatched_message", "Unmatched inbound message"
        QUESTIONNAIRE_ALERT = "questionnaire_alert", "Questionnaire alert"
        RESOURCE_REVIEW = "resource_review", "Resource due for review"
        PATIENT_DATA = "patient_data", "Patient-entered data to review"

    class Priority(models.IntegerChoices):
        # Lower sorts first: worklists order by priority, then age.
        URGENT = 1, "Urgent"
        HIGH = 2, "High"
        NORMAL = 3, "Normal"
        LOW = 4, "Low"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        IN_PROGRESS = "in_progress", "In progress"
        DONE = "done", "Done"
        DISMISSED = "dismissed", "Dismissed"

    ACTIVE = (Status.OPEN, Status.IN_PROGRESS)

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    kind = models.CharField(max_length=24, choices=Kind.choices)
    # Null only for items that belong to no patient yet (an unmatched message).
    patient = models.ForeignKey(
        Patient, on_delete=models.PROTECT, null=True, blank=True, related_name="work_items"
    )
    team = models.ForeignKey(
        Team, on_delete=models.PROTECT, null=True, blank=True, related_name="work_items"
    )
    priority = models.PositiveSmallIntegerField(choices=Priority.choices, default=Priority.NORMAL)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.OPEN)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="assigned_work_items",
    )
    due_date = models.DateField(null=True, blank=True)
    # When the cause happened for the patient (the result was taken): what "waiting" counts
    # from and the worklist orders by. Null only on rows older than the field (then the
    # item's creation stands in).
    waiting_since = models.DateTimeField(null=True, blank=True)
    # A patient's answer says they have thought of harming themself (PHQ-9 item 9 above 0):
    # the item sorts above everything else, whatever its priority or age.
    risk_of_self_harm = models.BooleanField(default=False)
    title = models.CharField(max_length=200)
    explanation = models.TextField(help_text="What happened, in words a clinician reads")
    # What raised the item ("rule:12", "outbound:345", "inbound:678") and the cause's identity:
    # one item per cause, ever.
    source = models.CharField(max_length=120)
    dedupe_key = models.CharField(max_length=255, unique=True)
    details = models.JSONField(default=dict, blank=True)
    outcome = models.CharField(max_length=60, blank=True)
    outcome_note = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-risk_of_self_harm", "priority", "waiting_since", "created_at", "id"]
        indexes = [
            # The worklists: active items by team, ordered by priority then age.
            models.Index(
                fields=["team", "priority", "created_at"],
                condition=Q(status__in=["open", "in_progress"]),
                name="workitem_active_team_idx",
            ),
            models.Index(
                fields=["assignee", "priority", "created_at"],
                condition=Q(status__in=["open", "in_progress"]),
                name="workitem_active_assignee_idx",
            ),
            models.Index(fields=["patient", "status"], name="workitem_patient_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["open", "in_progress"]) | Q(closed_at__isnull=False),
                name="workitem_closed_has_time",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.title}"


class WorkItemEvent(models.Model):
    """One change of a work item: created, assigned, started, completed, dismissed, closed
    by the system. Append-only."""

    work_item = models.ForeignKey(WorkItem, on_delete=models.CASCADE, related_name="events")
    action = models.CharField(max_length=20)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField(auto_now_add=True)
    from_status = models.CharField(max_length=12, blank=True)
    to_status = models.CharField(max_length=12, blank=True)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.action} by {self.actor} at {self.at:%Y-%m-%d %H:%M}"


class Outcome(models.Model):
    """One entry of the configurable list of what a clinician did when they completed a work
    item ("contacted patient", "repeat test requested", ...). ``WorkItem.outcome`` holds the
    ``code``; an outcome no longer offered is made inactive, never deleted, so the items that
    name it still say what was done. ``counts_as_action`` decides the alert yield: an item
    closed with an outcome that does not count (e.g. "no action needed") did not change
    anything for the patient."""

    label = models.CharField(max_length=60, help_text="As clinicians read it in the worklist")
    code = models.SlugField(
        max_length=60,
        unique=True,
        help_text="Stored on each completed work item; do not change it once used",
    )
    counts_as_action = models.BooleanField(
        default=True, help_text="Counts towards a rule's alert yield (something was done)"
    )
    active = models.BooleanField(default=True, help_text="Offered when completing an item")
    order = models.PositiveSmallIntegerField(default=0, help_text="Position in the list")

    class Meta:
        ordering = ["order", "label", "id"]

    def __str__(self) -> str:
        return self.label
