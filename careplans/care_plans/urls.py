"""Care plan and consent pages, included at /care-plans/ by ``rms.urls``. Patients, care plans
and consent records are addressed by their public ids; versions by their number."""

from __future__ import annotations

from django.urls import URLPattern, path

from careplans.care_plans import views

app_name = "care_plans"

PATIENT = "patients/<uuid:public_id>/"
PLAN = f"{PATIENT}plans/<uuid:care_plan_id>/"

urlpatterns: list[URLPattern] = [
    path(PATIENT, views.patient_care_plans, name="patient_care_plans"),
    path(f"{PATIENT}new/", views.care_plan_create, name="care_plan_create"),
    path(PLAN, views.care_plan_detail, name="care_plan_detail"),
    path(f"{PLAN}versions/<int:number>/", views.care_plan_version, name="care_plan_version"),
    path(f"{PLAN}compare/", views.care_plan_compare, name="care_plan_compare"),
    path(
        f"{PLAN}sections/<int:position>/",
        views.care_plan_section_edit,
        name="care_plan_section_edit",
    ),
    path(f"{PATIENT}consent/", views.patient_consents, name="patient_consents"),
    path(f"{PATIENT}consent/new/", views.consent_create, name="consent_create"),
    path(
        f"{PATIENT}consent/<uuid:consent_id>/withdraw/",
        views.consent_withdraw,
        name="consent_withdraw",
    ),
]
