"""The PKB bridge's endpoints, included into the ``api`` namespace by ``rms.api.urls``."""

from __future__ import annotations

from django.urls import URLPattern, path

from pkb_bridge.api import views

urlpatterns: list[URLPattern] = [
    path(
        "patients/<uuid:public_id>/enrolment/",
        views.PatientEnrolmentApi.as_view(),
        name="patient-enrolment",
    ),
    path(
        "patients/<uuid:public_id>/enrolment/preview/",
        views.PatientEnrolmentPreviewApi.as_view(),
        name="patient-enrolment-preview",
    ),
]
