"""Follow-up pathways (templates) and each patient's follow-up plan made from one.

A pathway says which tests, how often in each phase after treatment, and which rules the
results are checked against. A plan copies them for one patient at start (anchored on the
treatment date) so they can be customised for that patient; every change is a ``PlanChange``
row with who, when and why.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q

from rms.models import Patient, Team, TumourSite


class RuleType(models.TextChoices):
    ABSOLUTE_LIMIT = "absolute_limit", "Absolute limit (optionally confirmed)"
    RISE_ABOVE_NADIR = "rise_above_nadir", "Rise above nadir"
    CONSECUTIVE_RISES = "consecutive_rises", "Consecutive rises"
    DOUBLING_TIME = "doubling_time", "Doubling time below a limit"
    PERCENTAGE_RISE = "percentage_rise", "Percentage rise"
    PERCENT_CHANGE = "percent_change", "Percentage change within a window"
    VELOCITY = "velocity", "Velocity (least-squares slope a year) above a limit"
    CASTRATION_RESISTANCE = "castration_resistance", "Castration-resistant progression (PCWG3)"


class Priority(models.IntegerChoices):
    URGENT = 1, "Urgent"
    HIGH = 2, "High"
    NORMAL = 3, "Normal"
    LOW = 4, "Low"


class Pathway(models.Model):
    """A named follow-up protocol for a tumour site and treatment."""

    code = models.SlugField(max_length=60, unique=True)
    name = models.CharField(max_length=200)
    tumour_site = models.CharField(max_length=30, choices=TumourSite.choices)
    treatment = models.CharField(max_length=200)
    description = models.TextField(help_text="What it is for, and its published source")
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ScheduleStep(models.Model):
    """How often a test is due in one phase after the anchor (treatment) date: from month
    ``from_month`` until ``until_month`` (blank: for ever), every ``every_months``.
    Belongs to a pathway (the template) or to a plan (the patient's copy)."""

    pathway = models.ForeignKey(
        Pathway, on_delete=models.CASCADE, null=True, blank=True, related_name="schedule"
    )
    plan = models.ForeignKey(
        "careplans.FollowUpPlan",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="schedule",
    )
    test_code = models.CharField(
        max_length=40, help_text="The test this step schedules, e.g. PSA (matches OBX-3)"
    )
    test_name = models.CharField(max_length=100)
    from_month = models.PositiveSmallIntegerField(default=0)
    until_month = models.PositiveSmallIntegerField(null=True, blank=True)
    every_months = models.PositiveSmallIntegerField(validators=[MinValueValidator(1)])
    grace_days = models.PositiveSmallIntegerField(
        default=28, help_text="Days after the due date before the test counts as overdue"
    )

    class Meta:
        ordering = ["test_code", "from_month"]
        constraints = [
            models.CheckConstraint(
                condition=Q(pathway__isnull=False, plan__isnull=True)
                | Q(pathway__isnull=True, plan__isnull=False),
                name="schedule_step_belongs_to_one",
            ),
            models.CheckConstraint(
                condition=Q(until_month__isnull=True) | Q(until_month__gt=models.F("from_month")),
                name="schedule_step_ends_after_start",
            ),
        ]

    def __str__(self) -> str:
        until = f"to month {self.until_month}" if self.until_month else "onwards"
        return (
            f"{self.test_name} every {self.every_months} months "
            f"from month {self.from_month} {until}"
        )


class Rule(models.Model):
    """A threshold or trend rule on one test (parameters as JSON, checked by
    ``careplans.followup.rules.evaluate``). Belongs to a pathway or to a plan."""

    pathway = models.ForeignKey(
        Pathway, on_delete=models.CASCADE, null=True, blank=True, related_name="rules"
    )
    plan = models.ForeignKey(
        "careplans.FollowUpPlan",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="rules",
    )
    name = models.CharField(max_length=120)
    # What the rule detects, the same on every plan made from one pathway (a plan's copy of a
    # rule may be renamed or retuned): e.g. bcr_post_rp, phoenix_failure.
    code = models.SlugField(
        max_length=60, blank=True, help_text="What the rule detects, e.g. phoenix_failure"
    )
    test_code = models.CharField(max_length=40)
    rule_type = models.CharField(max_length=24, choices=RuleType.choices)
    params = models.JSONField(default=dict)
    priority = models.PositiveSmallIntegerField(choices=Priority.choices, default=Priority.HIGH)
    active = models.BooleanField(default=True)
    description = models.TextField(blank=True, help_text="The clinical source of the rule")

    class Meta:
        ordering = ["test_code", "name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(pathway__isnull=False, plan__isnull=True)
                | Q(pathway__isnull=True, plan__isnull=False),
                name="rule_belongs_to_one",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class FollowUpPlan(models.Model):
    """A patient's follow-up plan: a pathway's schedule and rules, anchored on the treatment
    date and customised for the patient."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        PAUSED = "paused", "Paused"
        ENDED = "ended", "Ended"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="follow_up_plans")
    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="+")
    pathway = models.ForeignKey(Pathway, on_delete=models.PROTECT, related_name="plans")
    anchor_date = models.DateField(help_text="The treatment date the schedule counts from")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    started_at = models.DateTimeField(auto_now_add=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["patient", "pathway"],
                condition=Q(status__in=["active", "paused"]),
                name="plan_one_open_per_pathway",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.pathway} for {self.patient} from {self.anchor_date}"


class PlanTest(models.Model):
    """The next due date of one scheduled test of a plan, kept up to date as results arrive,
    so the overdue scan is one indexed query however many plans there are."""

    plan = models.ForeignKey(FollowUpPlan, on_delete=models.CASCADE, related_name="tests")
    test_code = models.CharField(max_length=40)
    test_name = models.CharField(max_length=100)
    last_result_at = models.DateTimeField(null=True, blank=True)
    next_due_date = models.DateField(null=True, blank=True)
    grace_days = models.PositiveSmallIntegerField(default=28)
    # Awaiting confirmation: a first value over a threshold that needs confirming asks for a
    # repeat by this date, which brings the next due date forward (the earlier of it and the
    # grid date) until a result of the test taken after ``confirm_after`` arrives.
    confirm_by = models.DateField(
        null=True, blank=True, help_text="Repeat the test by this date to confirm a raised value"
    )
    confirm_after = models.DateTimeField(
        null=True, blank=True, help_text="When the result that asked for the repeat was taken"
    )
    # The due date an overdue item (or reminder) was raised for: never twice for one date.
    overdue_raised_for = models.DateField(null=True, blank=True)
    reminder_sent_for = models.DateField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["plan", "test_code"], name="plan_test_once"),
        ]
        indexes = [models.Index(fields=["next_due_date"], name="plan_test_due_idx")]

    def __str__(self) -> str:
        return f"{self.test_name} next due {self.next_due_date}"


class PlanChange(models.Model):
    """One change to a plan: started, customised, paused, resumed, ended. Append-only."""

    plan = models.ForeignKey(FollowUpPlan, on_delete=models.CASCADE, related_name="changes")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField(auto_now_add=True)
    action = models.CharField(max_length=30)
    reason = models.TextField(blank=True)
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.action} by {self.actor} at {self.at:%Y-%m-%d %H:%M}"


class TreatmentEvent(models.Model):
    """A treatment recorded on a plan after its anchor (salvage radiotherapy, starting or stopping
    hormone therapy, further surgery). It starts a new episode: the plan's rules judge only the
    results taken on or after the latest event (a PSA doubling time before salvage radiotherapy
    says nothing of the PSA after it)."""

    class Kind(models.TextChoices):
        SALVAGE_RADIOTHERAPY = "salvage_radiotherapy", "Salvage radiotherapy"
        HORMONE_THERAPY_START = "hormone_therapy_start", "Hormone therapy started"
        HORMONE_THERAPY_STOP = "hormone_therapy_stop", "Hormone therapy stopped"
        FURTHER_SURGERY = "further_surgery", "Further surgery"

    plan = models.ForeignKey(FollowUpPlan, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=30, choices=Kind.choices)
    on = models.DateField(help_text="The date of the treatment (its first day)")
    note = models.TextField(blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["on", "id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} on {self.on}"


class RaisedBreach(models.Model):
    """One breach (a rule, and the key its evidence gives) and the work item it was raised on.

    A breach is raised once: the same evidence never raises it again, whatever became of its
    item; new evidence gives a new key and a new breach. Several breaches found on one result
    share one work item (one item per patient per event). Append-only but for ``vanished_at``,
    set when a correction or deletion removed the evidence."""

    rule = models.ForeignKey(Rule, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    work_item = models.ForeignKey("worklists.WorkItem", on_delete=models.PROTECT, related_name="+")
    # The newest result the breach was found on: a later re-evaluation of the history up to it
    # tells whether a correction removed the evidence.
    evaluated_until = models.DateTimeField(null=True, blank=True)
    explanation = models.TextField(blank=True)
    vanished_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["rule", "key"], name="raised_breach_once"),
        ]

    def __str__(self) -> str:
        return f"{self.rule} {self.key}"
