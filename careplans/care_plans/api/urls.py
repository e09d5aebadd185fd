"""Care plan and consent endpoints, included into the ``api`` namespace."""

from __future__ import annotations

from django.urls import URLPattern, path

from careplans.care_plans.api import views

PATIENT = "patients/<uuid:public_id>/"
PLAN = f"{PATIENT}care-plans/<uuid:care_plan_id>/"

urlpatterns: list[URLPattern] = [
    path(
        f"{PATIENT}care-plans/",
        views.PatientCarePlanListApi.as_view(),
        name="patient-care-plans",
    ),
    path(PLAN, views.PatientCarePlanDetailApi.as_view(), name="patient-care-plan"),
    path(
        f"{PLAN}versions/",
        views.PatientCarePlanVersionListApi.as_view(),
        name="patient-care-plan-versions",
    ),
    path(f"{PATIENT}consents/", views.PatientConsentListApi.as_view(), name="patient-consents"),
    path(
        f"{PATIENT}consents/<uuid:consent_id>/withdraw/",
        views.PatientConsentWithdrawApi.as_view(),
        name="patient-consent-withdraw",
    ),
]
