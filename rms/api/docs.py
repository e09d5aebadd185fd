"""The API docs page (Swagger UI) under the Content Security Policy.

Swagger UI's files are pinned and bundled (drf-spectacular-sidecar, served as static files
from this site), so the page works offline and the site-wide policy needs no exception: no
CDN. Its start-up script is served from the same URL (``?script``) rather than inline, and
the template drops the inline ``<style>`` block, so nothing inline is allowed.
"""

from __future__ import annotations

from drf_spectacular.views import SpectacularSwaggerSplitView


class ApiDocsView(SpectacularSwaggerSplitView):
    template_name = "rms/api_docs.html"
