"""Root URL configuration."""

from __future__ import annotations

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from rms.api.docs import ApiDocsView
from rms.ops import health, metrics

urlpatterns = [
    path("", include("rms.web_urls")),
    # Included by dotted path: rms imports nothing of the other apps.
    path("pkb/", include("pkb_bridge.urls")),
    path("plans/", include("careplans.followup.urls")),
    path("worklists/", include("clinic.worklist_urls")),
    path("worklists/patients/", include("worklists.patient_urls")),
    path("charts/", include("careplans.followup.chart_urls")),
    path("review/", include("careplans.followup.review_urls")),
    path("care-plans/", include("careplans.care_plans.urls")),
    path("library/", include("careplans.library.urls")),
    path("questionnaires/", include("careplans.questionnaires.urls")),
    path("patient-data/", include("pkb_bridge.patient_data_urls")),
    path("audit/", include("rms.audit_urls")),
    # Sign-in: password, two-factor code, log out (everywhere): rms.accounts.
    path("accounts/", include("rms.account_urls")),
    path("admin/", admin.site.urls),
    path("api/v1/", include("rms.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", ApiDocsView.as_view(url_name="api-schema"), name="api-docs"),
    # Operations (docs/operations.md): probes for the orchestrator, metrics for Prometheus.
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", metrics.metrics, name="metrics"),
]

# Friendly error pages with the navigation and the reason (rms.errors).
handler403 = "rms.errors.permission_denied"
handler404 = "rms.errors.page_not_found"
handler500 = "rms.errors.server_error"
