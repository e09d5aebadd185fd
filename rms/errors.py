"""The error pages: 403, 404 and 500 that keep the site's navigation and say why.

A 403 shows the reason the view gave (``PermissionDenied("The alert yield is for team
admins.")``). A 404 shows its message only when it was written for people: a sentence of
ours such as "No such patient."; Django's own messages (a URL that matches nothing, a
model's name) are not shown. A 500 says nothing of what failed (an exception's text can carry
patient details) and renders from the settings alone: no request context, no database, so it
renders when the database is the thing that failed.
"""

from __future__ import annotations

import logging
import re

from django.conf import settings
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseForbidden,
    HttpResponseNotFound,
    HttpResponseServerError,
)
from django.template import loader

logger = logging.getLogger(__name__)

# A reason meant for people: one or two sentences of ours, capitalised, ending in a full stop;
# no quotes (Django's static and URL messages quote paths), no "matches the given query".
_PEOPLE_REASON = re.compile(r"[A-Z][^\"“”<>{}]{2,200}[.!]")
_DJANGO_WORDING = ("matches the given query", "found matching the query", "Directory indexes")


def reason_for_people(exception: BaseException | None) -> str:
    """The exception's message when it is a sentence written for the person reading it."""
    if exception is None or not exception.args:
        return ""
    message = exception.args[0]
    if not isinstance(message, str):
        return ""
    message = message.strip()
    if not _PEOPLE_REASON.fullmatch(message) or any(w in message for w in _DJANGO_WORDING):
        return ""
    return message


def permission_denied(request: HttpRequest, exception: BaseException) -> HttpResponse:
    body = loader.render_to_string(
        "403.html",
        {"reason": reason_for_people(exception), "role_advice": True},
        request=request,
    )
    return HttpResponseForbidden(body)


# A form posted after its page's token went stale (signed out, signed in again elsewhere, the
# page left open across a log-out): Django's own page for this is a bare "403 Forbidden".
CSRF_REASON = (
    "This form could not be accepted because the page was out of date (you may have signed "
    "out, or signed in again in another tab). Nothing was saved: go back, reload the page and "
    "submit it again."
)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """``CSRF_FAILURE_VIEW``: the 403 page with what to do; Django's technical reason is not
    shown (it is logged by Django as a warning)."""
    body = loader.render_to_string("403.html", {"reason": CSRF_REASON}, request=request)
    return HttpResponseForbidden(body)


def page_not_found(request: HttpRequest, exception: BaseException) -> HttpResponse:
    body = loader.render_to_string(
        "404.html", {"reason": reason_for_people(exception)}, request=request
    )
    return HttpResponseNotFound(body)


def server_error(request: HttpRequest) -> HttpResponse:
    context = {"site_name": settings.SITE_NAME, "trust_name": settings.TRUST_NAME}
    try:
        body = loader.get_template("500.html").render(context)
    except Exception:  # the page must never fail in turn
        logger.exception("The 500 page could not be rendered")
        body = "<!doctype html><title>Server error</title><h1>Something went wrong</h1>"
    return HttpResponseServerError(body)
