"""The site's URLs plus one that fails, to see the 500 page a real failure produces."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.urls import path

from rms.urls import handler403, handler404, handler500
from rms.urls import urlpatterns as site_urlpatterns

__all__ = ["handler403", "handler404", "handler500", "urlpatterns"]

LEAKY_DETAIL = "Patient Alfa Tester NHS 943 476 5919 failed"


def fails(request: HttpRequest) -> HttpResponse:
    raise RuntimeError(LEAKY_DETAIL)


urlpatterns = [*site_urlpatterns, path("fails-for-test/", fails)]
