"""Django admin of questionnaires and their responses.

Questionnaires are shared by every team: a superuser, or a staff user who is a team admin in any
team, uploads or edits the FHIR R4 Questionnaire JSON and the scoring and alert rules here. Both
are checked before saving (``careplans.questionnaires.scoring``), and the form shows the reason
for a refusal (the field path and the problem). ``pkb_questionnaire_id`` is set here once PKB has
the questionnaire. Which questionnaires a pathway schedules is edited inline.

Requests and responses are read-only here, scoped like ``rms.admin`` (opening one is logged as an
access to the patient's record); clinicians enter answers on the patient's page.
"""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest

from careplans.admin import PathwayEditorMixin
from careplans.models import (
    PathwayQuestionnaire,
    Questionnaire,
    QuestionnaireRequest,
    QuestionnaireResponse,
)
from careplans.questionnaires import scoring
from rms.admin.record import PatientScopedAdmin, ViewOnlyMixin


class QuestionnaireForm(forms.ModelForm):
    fhir_file = forms.FileField(
        required=False,
        label="Upload FHIR JSON",
        help_text="A FHIR R4 Questionnaire as a .json file; replaces the JSON below.",
    )

    class Meta:
        model = Questionnaire
        fields = (
            "code",
            "version",
            "title",
            "description",
            "active",
            "pkb_questionnaire_id",
            "fhir",
            "scoring",
        )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        upload = cleaned.get("fhir_file")
        if upload:
            try:
                cleaned["fhir"] = json.loads(upload.read().decode("utf-8"))
            except (ValueError, UnicodeDecodeError) as exc:
                self.add_error("fhir_file", f"The file is not valid JSON: {exc}")
                return cleaned
            self.errors.pop("fhir", None)
        if "fhir" not in cleaned:
            return cleaned  # Django's JSON field has said why already
        try:
            cleaned["fhir"] = scoring.validate_questionnaire_json(cleaned["fhir"])
        except ValidationError as exc:
            self.add_error("fhir_file" if upload else "fhir", exc)
            return cleaned
        if "scoring" in cleaned:
            try:
                cleaned["scoring"] = scoring.validate_scoring(
                    cleaned["scoring"] or {}, cleaned["fhir"]
                )
            except ValidationError as exc:
                self.add_error("scoring", exc)
        return cleaned

    def _post_clean(self) -> None:
        # The uploaded JSON goes onto the instance like the typed one.
        if "fhir" in self.cleaned_data:
            self.instance.fhir = self.cleaned_data["fhir"]
        super()._post_clean()  # type: ignore[misc]


class PathwayQuestionnaireInline(PathwayEditorMixin, admin.TabularInline):
    model = PathwayQuestionnaire
    fk_name = "questionnaire"
    extra = 0
    fields = ("pathway", "from_month", "every_months", "until_month")


@admin.register(Questionnaire)
class QuestionnaireAdmin(PathwayEditorMixin, admin.ModelAdmin):
    form = QuestionnaireForm
    list_display = ("title", "code", "version", "active", "pkb_questionnaire_id", "updated_at")
    list_filter = ("active",)
    search_fields = ("title", "code")
    readonly_fields = ("created_at", "updated_at")
    inlines = (PathwayQuestionnaireInline,)
    fieldsets = (
        (None, {"fields": ("code", "version", "title", "description", "active")}),
        ("PKB", {"fields": ("pkb_questionnaire_id",)}),
        ("Definition", {"fields": ("fhir_file", "fhir", "scoring")}),
        ("History", {"fields": ("created_at", "updated_at")}),
    )


@admin.register(QuestionnaireRequest)
class QuestionnaireRequestAdmin(ViewOnlyMixin, PatientScopedAdmin):
    access_action = "questionnaire_request"
    list_display = ("public_id", "questionnaire", "team", "channel", "status", "requested_at")
    list_filter = ("status", "channel", "questionnaire")
    list_select_related = ("questionnaire", "team")
    fields = (
        "public_id",
        "questionnaire",
        "team",
        "plan",
        "channel",
        "status",
        "requested_by",
        "requested_at",
        "due_date",
        "sent_at",
        "completed_at",
        "external_id",
        "attempts",
        "last_error",
    )
    readonly_fields = fields


@admin.register(QuestionnaireResponse)
class QuestionnaireResponseAdmin(ViewOnlyMixin, PatientScopedAdmin):
    access_action = "questionnaire_response"
    list_display = ("public_id", "questionnaire", "source", "authored_at", "received_at")
    list_filter = ("source", "questionnaire")
    list_select_related = ("questionnaire",)
    fields = (
        "public_id",
        "questionnaire",
        "team",
        "request",
        "source",
        "entered_by",
        "authored_at",
        "received_at",
        "external_id",
        "scores",
        "alerts",
        "fhir",
    )
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[QuestionnaireResponse]:
        return super().get_queryset(request).select_related("questionnaire")
