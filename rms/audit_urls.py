"""Audit pages (who has seen or changed a record), included at /audit/ by ``rms.urls``."""

from __future__ import annotations

from django.urls import URLPattern

app_name = "audit"

urlpatterns: list[URLPattern] = []
