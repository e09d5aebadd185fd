"""The trend chart fragment, included at /charts/ by ``rms.urls`` (by dotted path: rms imports
nothing of careplans)."""

from __future__ import annotations

from django.urls import URLPattern, path

from careplans.followup import chart_views

app_name = "charts"
urlpatterns: list[URLPattern] = [
    path("patients/<uuid:public_id>/", chart_views.patient_charts_view, name="patient_charts"),
]
