"""Django admin of the resource library: resources, information packs, resources' pathway
tags, milestones and shares.

A resource is edited here by the staff of its team with the library's own checks on a link and
a leaflet; an edit of what a patient reads sends an approved resource back to draft. Approval
and retirement are read only here (the library pages make them).

A pack is managed by the staff of its team (``TeamScopedAdmin``: a superuser sees every team's)
and can hold only resources of its own team. Milestones reached and shares are read-only here,
scoped to the user's teams' patients: clinicians record them on the patient page, where the
services send what is due.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db.models import ManyToManyField
from django.http import HttpRequest

from careplans.library import services as library_services
from careplans.models import (
    InformationPack,
    MilestoneReached,
    PathwayResource,
    Resource,
    ResourceShare,
)
from rms.admin.record import PatientScopedAdmin, TeamScopedAdmin, ViewOnlyMixin, admin_user


class ResourceAdminForm(forms.ModelForm):
    """The library's own rules on a link and a leaflet (``careplans.library.services``),
    here too."""

    class Meta:
        model = Resource
        fields = ("team", "title", "kind", "url", "file", "description")

    def clean_url(self) -> str:
        url = str(self.cleaned_data.get("url") or "")
        refusal = library_services.link_refusal(url) if url else None
        if refusal:
            raise ValidationError(refusal)
        return url

    def clean_file(self) -> Any:
        upload = self.cleaned_data.get("file")
        if upload and "file" in self.changed_data:
            if not library_services.is_whole_pdf(upload):
                raise ValidationError("The leaflet must be a PDF file that opens.")
            upload = library_services.stored_as_random_name(upload)
        return upload


@admin.register(Resource)
class ResourceAdmin(TeamScopedAdmin):
    form = ResourceAdminForm
    # Approval and retirement are made on the library pages (careplans.library.services), by
    # a team admin of the resource's team; here they are read only.
    list_display = ("title", "team", "kind", "status", "review_date", "created_at")
    list_filter = ("status", "kind", "team")
    search_fields = ("title",)
    readonly_fields = (
        "public_id",
        "created_by",
        "created_at",
        "status",
        "review_date",
        "approved_by",
        "approved_at",
        "retired_by",
        "retired_at",
        "review_reminder_raised_for",
    )

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        if not change:
            obj.created_by = admin_user(request)
        elif set(form.changed_data) & set(library_services.CONTENT_FIELDS):
            # What a patient reads changed: an approved resource must be approved again.
            library_services.resource_content_changed(resource=obj)
        super().save_model(request, obj, form, change)


class InformationPackForm(forms.ModelForm):
    class Meta:
        model = InformationPack
        fields = ["team", "name", "pathway", "milestone", "description", "resources", "active"]

    def clean(self) -> dict[str, Any]:
        cleaned: dict[str, Any] = super().clean() or {}
        team = cleaned.get("team")
        resources = cleaned.get("resources") or []
        others = [r.title for r in resources if team is not None and r.team_id != team.pk]
        if others:
            raise ValidationError(
                {"resources": "A pack holds only its own team's resources: " + ", ".join(others)}
            )
        return cleaned


@admin.register(InformationPack)
class InformationPackAdmin(TeamScopedAdmin):
    form = InformationPackForm
    list_display = ("name", "team", "pathway", "milestone", "active")
    list_filter = ("milestone", "active", "team", "pathway")
    search_fields = ("name",)
    filter_horizontal = ("resources",)
    readonly_fields = ("public_id", "created_at")

    def formfield_for_manytomany(
        self, db_field: ManyToManyField[Any, Any], request: HttpRequest, **kwargs: Any
    ) -> forms.ModelMultipleChoiceField | None:
        if db_field.name == "resources":
            # Only resources the user's teams have (the form checks the pack's own team).
            kwargs["queryset"] = library_services.resource_list(user=request.user).exclude(
                status=Resource.Status.RETIRED
            )
            if request.user.is_active and request.user.is_superuser:
                kwargs["queryset"] = Resource.objects.exclude(status=Resource.Status.RETIRED)
        return super().formfield_for_manytomany(db_field, request, **kwargs)


@admin.register(PathwayResource)
class PathwayResourceAdmin(TeamScopedAdmin):
    team_path = "resource__team"
    list_display = ("resource", "pathway", "created_at")
    list_filter = ("pathway",)
    search_fields = ("resource__title",)


@admin.register(MilestoneReached)
class MilestoneReachedAdmin(ViewOnlyMixin, PatientScopedAdmin):
    access_action = "milestones"
    list_display = ("patient", "pathway", "milestone", "team", "source", "reached_by", "reached_at")
    list_filter = ("milestone", "source", "team")
    list_select_related = ("patient", "pathway", "team", "reached_by")


@admin.register(ResourceShare)
class ResourceShareAdmin(ViewOnlyMixin, PatientScopedAdmin):
    access_action = "resource_shares"
    list_display = ("patient", "pack", "resource", "team", "shared_by", "shared_at", "document")
    list_filter = ("team",)
    list_select_related = ("patient", "pack", "resource", "team", "shared_by", "document")
