"""Questionnaire pages, included at /questionnaires/ by ``rms.urls``."""

from __future__ import annotations

from django.urls import URLPattern

app_name = "questionnaires"

urlpatterns: list[URLPattern] = []
