"""Django admin of the follow-up pathways and plans.

Pathways are templates shared by every team: a superuser, or a staff user who is a team admin
in any team, edits them here with their schedule steps and rules inline (Django's model
permissions still decide what each may do). A rule's parameters are checked by
``careplans.followup.rules`` before they are saved. A change to a pathway reaches only plans started
after it: each plan has its own copy.

Patients' plans are read-only here, scoped like ``rms.admin`` (a superuser sees every plan,
other staff those of their teams' patients), with their tests and history; clinicians change a
plan on the patient's plan page, where the services record who did what and why.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import Model, QuerySet
from django.http import HttpRequest

from careplans.followup.rules import RuleConfigError, validate
from careplans.models import FollowUpPlan, Pathway, PlanChange, PlanTest, Rule, ScheduleStep
from rms import permissions
from rms.admin.record import PatientScopedAdmin, ViewOnlyMixin


def _may_edit_pathways(request: HttpRequest) -> bool:
    user = request.user
    if not (user.is_active and user.is_staff):
        return False
    if user.is_superuser:
        return True
    return permissions.is_team_admin(user=user)


class PathwayEditorMixin:
    """Superusers and team admins (staff) may change pathways, within their Django permissions.
    (``*args``: a model admin's add permission takes the request alone, an inline's the parent
    object too.)"""

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return _may_edit_pathways(request) and super().has_add_permission(  # type: ignore[misc]
            request, *args
        )

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return _may_edit_pathways(request) and super().has_change_permission(  # type: ignore[misc]
            request, obj
        )

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return _may_edit_pathways(request) and super().has_delete_permission(  # type: ignore[misc]
            request, obj
        )


class RuleForm(forms.ModelForm):
    class Meta:
        model = Rule
        fields = (
            "name",
            "test_code",
            "rule_type",
            "params",
            "priority",
            "active",
            "description",
        )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        rule_type = cleaned.get("rule_type")
        if rule_type and "params" in cleaned:
            try:
                validate(rule_type, cleaned["params"])
            except RuleConfigError as exc:
                self.add_error("params", str(exc))
        return cleaned


class ScheduleStepInline(PathwayEditorMixin, admin.TabularInline):
    model = ScheduleStep
    fk_name = "pathway"
    extra = 0
    fields = ("test_code", "test_name", "from_month", "until_month", "every_months", "grace_days")


class RuleInline(PathwayEditorMixin, admin.StackedInline):
    model = Rule
    form = RuleForm
    fk_name = "pathway"
    extra = 0


@admin.register(Pathway)
class PathwayAdmin(PathwayEditorMixin, admin.ModelAdmin):
    list_display = ("name", "code", "tumour_site", "treatment", "active", "updated_at")
    list_filter = ("tumour_site", "active")
    search_fields = ("name", "code", "treatment")
    readonly_fields = ("created_at", "updated_at")
    inlines = (ScheduleStepInline, RuleInline)

    def get_readonly_fields(self, request: HttpRequest, obj: Model | None = None) -> Any:
        # Commands, the API and imports name a pathway by its code: fixed once it exists.
        if obj is not None:
            return (*self.readonly_fields, "code")
        return self.readonly_fields


class PlanTestInline(ViewOnlyMixin, admin.TabularInline):
    model = PlanTest
    extra = 0
    fields = (
        "test_code",
        "test_name",
        "next_due_date",
        "confirm_by",
        "last_result_at",
        "grace_days",
    )
    readonly_fields = fields


class PlanChangeInline(ViewOnlyMixin, admin.TabularInline):
    model = PlanChange
    extra = 0
    fields = ("at", "actor", "action", "reason", "details")
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[PlanChange]:
        return super().get_queryset(request).select_related("actor")


@admin.register(FollowUpPlan)
class FollowUpPlanAdmin(ViewOnlyMixin, PatientScopedAdmin):
    access_action = "plan"
    list_display = ("public_id", "pathway", "team", "anchor_date", "status", "started_at")
    list_filter = ("status", "pathway", "team")
    list_select_related = ("pathway", "team")
    date_hierarchy = "started_at"
    fields = (
        "public_id",
        "patient_ref",
        "pathway",
        "team",
        "anchor_date",
        "status",
        "started_by",
        "started_at",
        "ended_at",
    )
    readonly_fields = fields
    inlines = (PlanTestInline, PlanChangeInline)

    @admin.display(description="Patient (public id)")
    def patient_ref(self, obj: FollowUpPlan) -> str:
        return str(obj.patient.public_id)


# The admin of the other careplans subjects lives in modules of their own.
from careplans.care_plans import admin as care_plan_admin  # noqa: E402, F401
from careplans.library import admin as library_admin  # noqa: E402, F401
from careplans.questionnaires import admin as questionnaire_admin  # noqa: E402, F401
