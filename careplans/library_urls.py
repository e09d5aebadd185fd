"""Resource library and information pack pages, included at /library/ by ``rms.urls``."""

from __future__ import annotations

from django.urls import URLPattern

app_name = "library"

urlpatterns: list[URLPattern] = []
