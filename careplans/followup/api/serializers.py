"""Input and output shapes of the follow-up plan endpoints. Nothing here saves."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from careplans.models import FollowUpPlan, PlanTest, Rule, RuleType, ScheduleStep


class PlanTestOutputSerializer(serializers.ModelSerializer[PlanTest]):
    class Meta:
        model = PlanTest
        ref_name = "PlanTest"
        fields = (
            "test_code",
            "test_name",
            "next_due_date",
            "last_result_at",
            "grace_days",
            "confirm_by",
        )
        read_only_fields = fields
        extra_kwargs = {
            "next_due_date": {"help_text": "Null when the schedule has ended or the plan ended."},
            "last_result_at": {"help_text": "When the latest result that counts was taken."},
            "confirm_by": {
                "help_text": (
                    "Awaiting confirmation: repeat the test by this date (the next due date is "
                    "no later). Null when no repeat is awaited."
                )
            },
        }


class ScheduleStepOutputSerializer(serializers.ModelSerializer[ScheduleStep]):
    class Meta:
        model = ScheduleStep
        ref_name = "PlanScheduleStep"
        fields = ("test_code", "test_name", "from_month", "until_month", "every_months")
        read_only_fields = fields


class RuleOutputSerializer(serializers.ModelSerializer[Rule]):
    rule_type = serializers.ChoiceField(choices=RuleType.choices, read_only=True)
    params = serializers.JSONField(
        read_only=True, help_text="The rule's parameters, as careplans.followup.rules takes them."
    )
    priority = serializers.CharField(
        source="get_priority_display", read_only=True, help_text="Urgent, High, Normal or Low."
    )

    class Meta:
        model = Rule
        ref_name = "PlanRule"
        fields = ("name", "test_code", "rule_type", "params", "priority", "active")
        read_only_fields = fields


class PlanOutputSerializer(serializers.ModelSerializer[FollowUpPlan]):
    pathway: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="code", read_only=True, help_text="The pathway's stable code."
    )
    pathway_name = serializers.CharField(source="pathway.name", read_only=True)
    team: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="code", read_only=True, help_text="Code of the team whose plan it is."
    )
    started_by: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, help_text="Username of who started the plan."
    )
    status = serializers.CharField(read_only=True, help_text="active, paused or ended.")
    tests = PlanTestOutputSerializer(many=True, read_only=True)
    schedule = ScheduleStepOutputSerializer(many=True, read_only=True)
    rules = RuleOutputSerializer(many=True, read_only=True)

    class Meta:
        model = FollowUpPlan
        ref_name = "FollowUpPlan"
        fields = (
            "public_id",
            "pathway",
            "pathway_name",
            "team",
            "anchor_date",
            "status",
            "started_at",
            "started_by",
            "ended_at",
            "tests",
            "schedule",
            "rules",
        )
        read_only_fields = fields


class PlanStartInputSerializer(serializers.Serializer[Any]):
    pathway = serializers.CharField(
        max_length=60,
        help_text="Code of the pathway, e.g. prostate-post-prostatectomy or colorectal-cea.",
    )
    anchor_date = serializers.DateField(
        help_text="The treatment date the schedule counts from (YYYY-MM-DD); not in the future."
    )
    team = serializers.CharField(
        required=False,
        allow_blank=True,
        help_text="Code of the team whose plan it is (one of the patient's teams where you may "
        "write); by default the first of them by name.",
    )

    class Meta:
        ref_name = "PlanStartInput"
