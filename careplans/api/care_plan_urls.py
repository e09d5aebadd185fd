"""Care plan and consent endpoints, included into the ``api`` namespace."""

from __future__ import annotations

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []
