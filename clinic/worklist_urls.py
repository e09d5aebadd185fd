"""The pages under /worklists/ (mounted by ``rms.urls``, namespace ``worklists``): the
worklists' own pages and the caseload, which reads every app and so lives here."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from clinic import views
from worklists import urls as worklist_urls

app_name = "worklists"

urlpatterns: list[URLPattern | URLResolver] = [
    *worklist_urls.urlpatterns,
    path("caseload/", views.caseload, name="caseload"),
]
