"""Django admin of care plan templates, care plans and consent records.

Templates are edited like pathways (``careplans.admin``): by superusers, or staff who are a
team admin in any team, with their sections inline. A change reaches only care plans made
after it: each plan has its own copy of the text.

Patients' care plans (with their versions) and consent records are read-only here, scoped to
the patients of the user's teams like ``rms.admin``; clinicians change them on the patient's
pages, where the services record who did what and share the result with PKB.
"""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from careplans.admin import PathwayEditorMixin
from careplans.models import (
    CarePlan,
    CarePlanTemplate,
    CarePlanTemplateSection,
    CarePlanVersion,
    ConsentRecord,
)
from rms.admin.record import PatientScopedAdmin, ViewOnlyMixin


class CarePlanTemplateSectionInline(PathwayEditorMixin, admin.StackedInline):
    model = CarePlanTemplateSection
    extra = 0
    fields = ("position", "kind", "heading", "body")
    ordering = ("position",)


@admin.register(CarePlanTemplate)
class CarePlanTemplateAdmin(PathwayEditorMixin, admin.ModelAdmin):
    list_display = ("name", "pathway", "active", "updated_at")
    list_filter = ("active", "pathway")
    list_select_related = ("pathway",)
    search_fields = ("name", "pathway__name", "pathway__code")
    readonly_fields = ("created_at", "updated_at")
    inlines = (CarePlanTemplateSectionInline,)


class CarePlanVersionInline(ViewOnlyMixin, admin.TabularInline):
    model = CarePlanVersion
    extra = 0
    fields = ("number", "created_at", "author", "note")
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[CarePlanVersion]:
        return super().get_queryset(request).select_related("author")


@admin.register(CarePlan)
class CarePlanAdmin(ViewOnlyMixin, PatientScopedAdmin):
    access_action = "care_plan"
    list_display = ("public_id", "title", "team", "created_at", "updated_at")
    list_filter = ("team",)
    list_select_related = ("team",)
    date_hierarchy = "created_at"
    fields = (
        "public_id",
        "patient_ref",
        "title",
        "team",
        "template",
        "document_number",
        "created_by",
        "created_at",
        "updated_at",
    )
    readonly_fields = fields
    inlines = (CarePlanVersionInline,)

    @admin.display(description="Patient (public id)")
    def patient_ref(self, obj: CarePlan) -> str:
        return str(obj.patient.public_id)


@admin.register(ConsentRecord)
class ConsentRecordAdmin(ViewOnlyMixin, PatientScopedAdmin):
    access_action = "consent"
    list_display = ("public_id", "topic", "status", "method", "given_at", "team")
    list_filter = ("status", "method", "team")
    list_select_related = ("team",)
    date_hierarchy = "given_at"
    fields = (
        "public_id",
        "patient_ref",
        "team",
        "topic",
        "information_given",
        "resource",
        "method",
        "status",
        "given_at",
        "note",
        "withdraws",
        "recorded_by",
        "recorded_at",
    )
    readonly_fields = fields

    @admin.display(description="Patient (public id)")
    def patient_ref(self, obj: ConsentRecord) -> str:
        return str(obj.patient.public_id)
