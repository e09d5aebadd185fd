"""The follow-up plan endpoints, included by ``careplans.api.urls``."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from careplans.followup.api import views

urlpatterns: list[URLPattern | URLResolver] = [
    path(
        "patients/<uuid:public_id>/plans/",
        views.PatientPlanListApi.as_view(),
        name="patient-plans",
    ),
]
