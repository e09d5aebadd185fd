"""One patient's work items panel, included at /worklists/patients/ by ``rms.urls`` (by dotted
path: rms imports nothing of worklists). Patients and items are addressed by their public ids."""

from __future__ import annotations

from django.urls import URLPattern, path

from worklists import patient_views

app_name = "worklist_panels"

ITEM = "<uuid:public_id>/items/<uuid:item_id>/"

urlpatterns: list[URLPattern] = [
    path("<uuid:public_id>/", patient_views.patient_items, name="patient_items"),
    path(f"{ITEM}start/", patient_views.item_start, name="start"),
    path(f"{ITEM}assign/", patient_views.item_assign, name="assign"),
    path(f"{ITEM}complete/", patient_views.item_complete, name="complete"),
    path(f"{ITEM}dismiss/", patient_views.item_dismiss, name="dismiss"),
]
