"""Small helpers shared by the clinician pages of every app."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponseBase


def signed_in_user(request: HttpRequest) -> User:
    """The request's user. Views are behind ``login_required``, which has already sent
    anonymous users to the login page; this narrows the type (and refuses, never guesses)."""
    user = request.user
    if not isinstance(user, User):
        raise PermissionDenied
    return user


def is_htmx(request: HttpRequest) -> bool:
    """Whether htmx made the request (django-htmx's middleware sets ``request.htmx``)."""
    return bool(getattr(request, "htmx", False))


class PermissionsPolicyMiddleware:
    """Adds ``Permissions-Policy`` (``settings.PERMISSIONS_POLICY``) to every response: no
    page of ours uses the camera, microphone, location, payment or USB, so a script that
    got in could not either."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response
        self.header = ", ".join(
            f"{feature}=({' '.join(allow)})"
            for feature, allow in settings.PERMISSIONS_POLICY.items()
        )

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        if self.header:
            response.headers.setdefault("Permissions-Policy", self.header)
        return response
