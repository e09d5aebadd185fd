"""Audit pages (who has seen or changed a record), included at /audit/ by ``rms.urls``."""

from __future__ import annotations

from django.urls import URLPattern, path

from rms import audit_views

app_name = "audit"

urlpatterns: list[URLPattern] = [
    path("patients/<uuid:public_id>/", audit_views.patient_audit, name="patient"),
    path(
        "patients/<uuid:public_id>/export.csv",
        audit_views.patient_audit_export,
        name="patient_export",
    ),
]
