"""django-axes hooks: the client address used for lockouts, and the locked-out page."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

logger = logging.getLogger("rms.security")

LOCKED_OUT_STATUS = 429


def client_address(request: HttpRequest) -> str:
    """REMOTE_ADDR, or with ``LOGIN_TRUSTED_PROXY_COUNT`` proxies in front, the address the
    outermost of them saw (each proxy appends the address it received from; anything further
    left in X-Forwarded-For came from the client and may be forged)."""
    proxies = settings.LOGIN_TRUSTED_PROXY_COUNT
    remote = str(request.META.get("REMOTE_ADDR", ""))
    if not proxies:
        return remote
    forwarded = [
        part.strip()
        for part in str(request.META.get("HTTP_X_FORWARDED_FOR", "")).split(",")
        if part.strip()
    ]
    if len(forwarded) < proxies:
        return remote
    return forwarded[-proxies]


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None, credentials: Any = None
) -> HttpResponse:
    """The page for a locked-out username and address, logged without the password (and
    without the typed username, which is sometimes a password typed in the wrong box)."""
    username = ""
    if isinstance(credentials, dict):
        username = str(credentials.get("username") or "")
    if not username:
        username = str(request.POST.get("username", ""))
    user_id = User.objects.filter(username=username).values_list("pk", flat=True).first()
    logger.warning(
        "Sign-in refused: locked out after repeated failures (user %s, address %s, path %s)",
        user_id if user_id is not None else "unknown",
        client_address(request),
        request.path,
    )
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    return render(
        request,
        "registration/locked_out.html",
        {"cooloff_minutes": minutes, "failure_limit": settings.AXES_FAILURE_LIMIT},
        status=LOCKED_OUT_STATUS,
    )
