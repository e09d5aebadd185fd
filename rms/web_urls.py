"""The clinician pages, included at the site root by ``rms.urls``."""

from __future__ import annotations

from django.urls import URLPattern, path

from rms import views

app_name = "rms"
urlpatterns: list[URLPattern] = [
    path("", views.home, name="home"),
    path("patients/", views.patient_list, name="patient_list"),
    path("patients/new/", views.patient_create, name="patient_create"),
    path("patients/<uuid:public_id>/", views.patient_detail, name="patient_detail"),
    path("patients/<uuid:public_id>/edit/", views.patient_edit, name="patient_edit"),
    path(
        "patients/<uuid:public_id>/documents/<uuid:document_id>/",
        views.document_detail,
        name="document_detail",
    ),
]
