"""The virtual review, included at /review/ by ``rms.urls`` (by dotted path: rms imports
nothing of careplans). Patients and letters are addressed by their public ids."""

from __future__ import annotations

from django.urls import URLPattern, path

from careplans.followup import review_views

app_name = "review"
urlpatterns: list[URLPattern] = [
    path("patients/<uuid:public_id>/", review_views.patient_review, name="patient_review"),
    path(
        "patients/<uuid:public_id>/plan-summary/",
        review_views.plan_summary,
        name="plan_summary",
    ),
    path(
        "patients/<uuid:public_id>/decisions/",
        review_views.plan_decisions,
        name="plan_decisions",
    ),
    path("letters/<uuid:document_id>.pdf", review_views.letter_pdf, name="letter_pdf"),
]
