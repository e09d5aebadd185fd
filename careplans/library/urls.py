"""Resource library and information pack pages, included at /library/ by ``rms.urls``."""

from __future__ import annotations

from django.urls import URLPattern, path

from careplans.library import views

app_name = "library"

PATIENT = "patients/<uuid:public_id>/"

urlpatterns: list[URLPattern] = [
    path("", views.resource_list, name="resource_list"),
    path("new/", views.resource_create, name="resource_create"),
    path("<uuid:resource_id>/edit/", views.resource_edit, name="resource_edit"),
    path("<uuid:resource_id>/leaflet.pdf", views.resource_leaflet, name="resource_leaflet"),
    path("<uuid:resource_id>/approve/", views.resource_approve, name="resource_approve"),
    path("<uuid:resource_id>/retire/", views.resource_retire, name="resource_retire"),
    path(PATIENT, views.patient_panel, name="patient_panel"),
    path(f"{PATIENT}share/", views.share_resource, name="share_resource"),
    path(f"{PATIENT}share-pack/", views.share_pack, name="share_pack"),
    path(f"{PATIENT}milestone/", views.milestone, name="milestone"),
]
