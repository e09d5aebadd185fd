"""The worklist pages, under /worklists/ (``rms.urls`` mounts them through
``clinic.worklist_urls``, which adds the caseload). Items are addressed by their public ids."""

from __future__ import annotations

from django.urls import URLPattern, path

from worklists import views

app_name = "worklists"

ITEM = "items/<uuid:public_id>/"

urlpatterns: list[URLPattern] = [
    path("", views.worklist, name="list"),
    path(f"{ITEM}assign/", views.item_assign, name="assign"),
    path(f"{ITEM}start/", views.item_start, name="start"),
    path(f"{ITEM}complete/", views.item_complete, name="complete"),
    path(f"{ITEM}dismiss/", views.item_dismiss, name="dismiss"),
    path("bulk/", views.bulk, name="bulk"),
    path("tabs/", views.tabs, name="tabs"),
    path("patients/<uuid:public_id>/act/", views.patient_act, name="patient_act"),
    path("yield/", views.alert_yield, name="yield"),
]
