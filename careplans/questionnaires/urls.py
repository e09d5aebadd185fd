"""Questionnaire pages, included at /questionnaires/ by ``rms.urls``. Patients and responses are
addressed by their public ids, questionnaires by their code."""

from __future__ import annotations

from django.urls import URLPattern, path

from careplans.questionnaires import views

app_name = "questionnaires"

PATIENT = "patients/<uuid:public_id>/"

urlpatterns: list[URLPattern] = [
    path(PATIENT, views.patient_panel, name="patient"),
    path(f"{PATIENT}send/", views.send, name="send"),
    path(f"{PATIENT}latest/", views.latest, name="latest"),
    path(f"{PATIENT}enter/<slug:code>/", views.enter, name="enter"),
    path(f"{PATIENT}responses/<uuid:response_id>/", views.response_detail, name="response"),
]
