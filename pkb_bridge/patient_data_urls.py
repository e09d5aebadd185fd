"""Patient-entered data pages, included at /patient-data/ by ``rms.urls``."""

from __future__ import annotations

from django.urls import URLPattern, path

from pkb_bridge import patient_data_views as views

app_name = "patient_data"

urlpatterns: list[URLPattern] = [
    path("patients/<uuid:public_id>/", views.panel, name="panel"),
    path(
        "patients/<uuid:public_id>/entries/<uuid:result_id>/seen/",
        views.mark_seen,
        name="mark_seen",
    ),
]
