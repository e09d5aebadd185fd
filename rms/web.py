"""Small helpers shared by the clinician pages of every app."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest


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
