"""Care plan and consent pages, included at /care-plans/ by ``rms.urls``."""

from __future__ import annotations

from django.urls import URLPattern

app_name = "care_plans"

urlpatterns: list[URLPattern] = []
