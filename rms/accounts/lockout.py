"""django-axes hooks: the client address used for lockouts, the per-address limit, and the
locked-out page."""

from __future__ import annotations

import logging
from typing import Any

from axes.attempts import get_cool_off_threshold
from axes.handlers.database import AxesDatabaseHandler
from axes.models import AccessAttempt
from axes.signals import user_locked_out
from django.conf import settings
from django.contrib.auth.models import User
from django.db.models import Sum
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


class AddressLimitHandler(AxesDatabaseHandler):
    """django-axes' database handler with a second, higher limit per client address.

    axes locks a (username, address) pair after ``LOGIN_FAILURE_LIMIT`` failures. Spraying a
    few passwords over many usernames (known or not) from one address never reaches that; so
    ``LOGIN_FAILURE_LIMIT_PER_ADDRESS`` failures from one address within the cool-off, over
    all usernames, lock that address for every username. High enough that a ward behind one
    Trust NAT address does not reach it by mistyping; the pair limit stays the first line."""

    def address_failures(self, request: HttpRequest) -> int:
        address = getattr(request, "axes_ip_address", None) or client_address(request)
        total = AccessAttempt.objects.filter(
            ip_address=address, attempt_time__gt=get_cool_off_threshold(request)
        ).aggregate(n=Sum("failures_since_start"))["n"]
        return int(total or 0)

    def address_locked(self, request: HttpRequest) -> bool:
        return self.address_failures(request) >= settings.LOGIN_FAILURE_LIMIT_PER_ADDRESS

    def is_locked(self, request: HttpRequest, credentials: dict[str, Any] | None = None) -> bool:
        return bool(super().is_locked(request, credentials)) or self.address_locked(request)

    def user_login_failed(
        self,
        sender: Any,
        credentials: dict[str, Any],
        request: HttpRequest | None = None,
        **kwargs: Any,
    ) -> None:
        super().user_login_failed(sender, credentials, request, **kwargs)
        if request is None or getattr(request, "axes_locked_out", False):
            return
        if self.address_locked(request):
            logger.warning(
                "Sign-in refused: %s failures from address %s within the cool-off",
                settings.LOGIN_FAILURE_LIMIT_PER_ADDRESS,
                client_address(request),
            )
            request.axes_locked_out = True  # type: ignore[attr-defined]
            request.axes_credentials = credentials  # type: ignore[attr-defined]
            user_locked_out.send(
                "axes",
                request=request,
                username=None,
                ip_address=getattr(request, "axes_ip_address", None),
            )


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
        {
            "cooloff_minutes": minutes,
            "failure_limit": settings.AXES_FAILURE_LIMIT,
            "address_limit": settings.LOGIN_FAILURE_LIMIT_PER_ADDRESS,
        },
        status=LOCKED_OUT_STATUS,
    )
