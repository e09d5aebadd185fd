"""Django admin of information packs, resources' pathway tags, milestones and shares.

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

from careplans.models import InformationPack, MilestoneReached, PathwayResource, ResourceShare
from rms.admin.record import PatientScopedAdmin, TeamScopedAdmin, ViewOnlyMixin
from rms.models import Resource
from rms.services import library as rms_library


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
            kwargs["queryset"] = rms_library.resource_list(user=request.user).exclude(
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
