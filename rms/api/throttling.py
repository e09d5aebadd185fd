"""Request rates of the API, counted per token.

A token is one client (a lab feed, a script), so the count is keyed by the token's digest, not
by its user: two tokens of one user are two clients, and a revoked token's count dies with it.
A browser session calling the API is counted per user; an anonymous caller per address (it is
refused anyway, but the refusals are counted too). Over the rate, DRF answers 429 with
Retry-After. The counts live in the ``throttle`` cache (Redis when ``REDIS_URL`` is set, so
every web process shares them).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings
from django.core.cache import caches
from knox.models import AuthToken
from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle

if TYPE_CHECKING:  # rest_framework.views imports this module through the settings
    from rest_framework.views import APIView

# Views of the inbound feeds say ``throttle_scope = INBOUND_SCOPE`` and get the tighter rate.
TOKEN_SCOPE = "token"  # noqa: S105 (a cache key part, not a secret)
INBOUND_SCOPE = "inbound"


class TokenRateThrottle(SimpleRateThrottle):
    """``API_RATE_LIMIT`` per token, or ``API_INBOUND_RATE_LIMIT`` on the inbound endpoints."""

    cache = caches["throttle"]
    scope = TOKEN_SCOPE

    def __init__(self) -> None:
        # The rate depends on the view, so it is read in allow_request, not here.
        pass

    def get_rate(self) -> str:
        if self.scope == INBOUND_SCOPE:
            return str(settings.API_INBOUND_RATE_LIMIT)
        return str(settings.API_RATE_LIMIT)

    def allow_request(self, request: Request, view: APIView) -> bool:
        self.scope = getattr(view, "throttle_scope", None) or TOKEN_SCOPE
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)

    def get_cache_key(self, request: Request, view: APIView) -> str | None:
        auth = request.auth
        if isinstance(auth, AuthToken):
            ident = f"token-{auth.digest[:32]}"
        elif request.user is not None and request.user.is_authenticated:
            ident = f"user-{request.user.pk}"
        else:
            ident = f"addr-{self.get_ident(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}
