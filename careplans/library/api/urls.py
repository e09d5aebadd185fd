"""Resource library endpoints, included into the ``api`` namespace."""

from __future__ import annotations

from django.urls import URLPattern, path

from careplans.library.api import views

urlpatterns: list[URLPattern] = [
    path(
        "teams/<uuid:team_id>/resources/",
        views.TeamResourceListApi.as_view(),
        name="team-resources",
    ),
    path(
        "patients/<uuid:public_id>/resource-shares/",
        views.PatientShareApi.as_view(),
        name="patient-resource-shares",
    ),
    path(
        "patients/<uuid:public_id>/milestones/",
        views.PatientMilestoneApi.as_view(),
        name="patient-milestones",
    ),
]
