"""The follow-up plan endpoints, included into the ``api`` namespace by ``rms.api.urls``."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, include, path

from careplans.api import views

urlpatterns: list[URLPattern | URLResolver] = [
    path(
        "patients/<uuid:public_id>/plans/",
        views.PatientPlanListApi.as_view(),
        name="patient-plans",
    ),
    path("", include("careplans.care_plans.api.urls")),
    path("", include("careplans.library.api.urls")),
    path("", include("careplans.questionnaires.api.urls")),
]
