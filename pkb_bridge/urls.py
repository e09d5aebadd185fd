"""The PKB pages, included at /pkb/ by ``rms.urls``. Patients are addressed by public id, and
items (results, documents, appointments) by theirs."""

from __future__ import annotations

from django.urls import URLPattern, path

from pkb_bridge import views

app_name = "pkb"
urlpatterns: list[URLPattern] = [
    path("patients/<uuid:public_id>/", views.patient_panel, name="patient_panel"),
    path("patients/<uuid:public_id>/opt-in/", views.opt_in, name="opt_in"),
    path("patients/<uuid:public_id>/withdraw/", views.withdraw, name="withdraw"),
    path(
        "patients/<uuid:public_id>/invitation/resend/",
        views.invitation_resend,
        name="invitation_resend",
    ),
    path(
        "patients/<uuid:public_id>/publications/<uuid:item_id>/release/",
        views.publication_release,
        name="publication_release",
    ),
    path(
        "patients/<uuid:public_id>/publications/<uuid:item_id>/hold/",
        views.publication_hold,
        name="publication_hold",
    ),
    path("delivery/", views.delivery, name="delivery"),
    path("delivery/patients/<uuid:public_id>/", views.delivery_patient, name="delivery_patient"),
    path("delivery/connection/resume/", views.connection_resume, name="connection_resume"),
]
