"""Patient-entered data pages, included at /patient-data/ by ``rms.urls``."""

from __future__ import annotations

from django.urls import URLPattern

app_name = "patient_data"

urlpatterns: list[URLPattern] = []
