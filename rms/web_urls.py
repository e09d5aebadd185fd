"""The clinician pages, included at the site root by ``rms.urls``."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.urls import URLPattern, path
from django.views.generic import RedirectView

from rms import views

app_name = "rms"
urlpatterns: list[URLPattern] = [
    # The worklist is where a clinician's day starts (after logging in, for the anonymous).
    path(
        "",
        login_required(RedirectView.as_view(pattern_name="worklists:list")),
        name="home",
    ),
    path("patients/", views.patient_list, name="patient_list"),
    path("patients/new/", views.patient_create, name="patient_create"),
    path("patients/<uuid:public_id>/", views.patient_detail, name="patient_detail"),
    path("patients/<uuid:public_id>/edit/", views.patient_edit, name="patient_edit"),
    path(
        "patients/<uuid:public_id>/documents/<uuid:document_id>/",
        views.document_detail,
        name="document_detail",
    ),
    path("demo/emails/", views.demo_mailbox, name="demo_mailbox"),
]
