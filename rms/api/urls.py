"""REST API v1, mounted at /api/v1/. Patients are addressed by their public id (a UUID) only;
anything else in that place of the path is a 404."""

from __future__ import annotations

from django.urls import include, path

from rms.api import views

app_name = "api"

urlpatterns = [
    path("inbound/hl7/", views.InboundHl7Api.as_view(), name="inbound-hl7"),
    path("results/", views.ResultRecordApi.as_view(), name="results"),
    path("patients/", views.PatientListApi.as_view(), name="patient-list"),
    path("patients/<uuid:public_id>/", views.PatientDetailApi.as_view(), name="patient-detail"),
    path(
        "patients/<uuid:public_id>/diagnoses/",
        views.PatientDiagnosisListApi.as_view(),
        name="patient-diagnoses",
    ),
    path(
        "patients/<uuid:public_id>/results/",
        views.PatientResultListApi.as_view(),
        name="patient-results",
    ),
    path(
        "patients/<uuid:public_id>/appointments/",
        views.PatientAppointmentListApi.as_view(),
        name="patient-appointments",
    ),
    path(
        "patients/<uuid:public_id>/documents/",
        views.PatientDocumentListApi.as_view(),
        name="patient-documents",
    ),
    path(
        "patients/<uuid:public_id>/documents/<uuid:document_public_id>/",
        views.PatientDocumentDetailApi.as_view(),
        name="patient-document-detail",
    ),
    # The PKB bridge's endpoints, by dotted path: rms imports nothing of the other apps.
    path("", include("pkb_bridge.api.urls")),
    path("", include("careplans.api.urls")),
    path("worklist/", include("worklists.api.urls")),
]
