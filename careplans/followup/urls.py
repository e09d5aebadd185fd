"""The follow-up plan pages, included at /plans/ by ``rms.urls``. Patients and plans are
addressed by their public ids."""

from __future__ import annotations

from django.urls import URLPattern, path

from careplans.followup import views

app_name = "careplans"

PLAN = "patients/<uuid:public_id>/plans/<uuid:plan_id>/"

urlpatterns: list[URLPattern] = [
    path("patients/<uuid:public_id>/", views.patient_plans, name="patient_plans"),
    path("patients/<uuid:public_id>/start/", views.plan_start, name="plan_start"),
    path(PLAN, views.plan_detail, name="plan_detail"),
    path(f"{PLAN}pause/", views.plan_status, {"verb": "pause"}, name="plan_pause"),
    path(f"{PLAN}resume/", views.plan_status, {"verb": "resume"}, name="plan_resume"),
    path(f"{PLAN}end/", views.plan_status, {"verb": "end"}, name="plan_end"),
    path(f"{PLAN}interval/", views.plan_interval, name="plan_interval"),
    path(f"{PLAN}rule/", views.plan_rule, name="plan_rule"),
    path(f"{PLAN}tests/", views.plan_add_test, name="plan_add_test"),
    path(f"{PLAN}events/", views.plan_event, name="plan_event"),
]
