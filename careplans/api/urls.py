"""The follow-up plan endpoints, included into the ``api`` namespace by ``rms.api.urls``."""

from __future__ import annotations

from django.urls import URLPattern, path

from careplans.api import views

urlpatterns: list[URLPattern] = [
    path(
        "patients/<uuid:public_id>/plans/",
        views.PatientPlanListApi.as_view(),
        name="patient-plans",
    ),
]
