"""Questionnaire endpoints, included into the ``api`` namespace."""

from __future__ import annotations

from django.urls import URLPattern, path

from careplans.questionnaires.api import views

urlpatterns: list[URLPattern] = [
    path("questionnaires/", views.QuestionnaireListApi.as_view(), name="questionnaires"),
    path(
        "patients/<uuid:public_id>/questionnaire-requests/",
        views.PatientRequestListApi.as_view(),
        name="patient-questionnaire-requests",
    ),
    path(
        "patients/<uuid:public_id>/questionnaire-responses/",
        views.PatientResponseListApi.as_view(),
        name="patient-questionnaire-responses",
    ),
]
