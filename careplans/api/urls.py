"""The careplans endpoints, one module a feature, included into the ``api`` namespace by
``rms.api.urls``."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, include, path

urlpatterns: list[URLPattern | URLResolver] = [
    path("", include("careplans.followup.api.urls")),
    path("", include("careplans.care_plans.api.urls")),
    path("", include("careplans.library.api.urls")),
    path("", include("careplans.questionnaires.api.urls")),
]
