"""The worklist endpoints, included at /api/v1/worklist/ (in the ``api`` namespace) by
``rms.api.urls``."""

from __future__ import annotations

from django.urls import URLPattern, path

from worklists.api import views

urlpatterns: list[URLPattern] = [
    path("", views.WorkItemListApi.as_view(), name="worklist"),
    path("<uuid:public_id>/", views.WorkItemDetailApi.as_view(), name="worklist-detail"),
]
