"""The API docs page (Swagger UI) under the Content Security Policy.

Swagger UI's files come from its CDN (drf-spectacular's default; the sidecar package that
would serve them locally is not installed), so this one page allows that CDN for scripts,
styles and images. Its start-up script is served from the same URL (``?script``) rather than
inline, and the template drops the inline ``<style>`` block, so nothing inline is allowed.
"""

from __future__ import annotations

from csp.decorators import csp_update
from django.utils.decorators import method_decorator
from drf_spectacular.views import SpectacularSwaggerSplitView

SWAGGER_CDN = "https://cdn.jsdelivr.net"


@method_decorator(
    csp_update({"script-src": [SWAGGER_CDN], "style-src": [SWAGGER_CDN], "img-src": [SWAGGER_CDN]}),
    name="dispatch",
)
class ApiDocsView(SpectacularSwaggerSplitView):
    template_name = "rms/api_docs.html"
