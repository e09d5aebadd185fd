"""Session limits and the two-factor gate.

``SessionLimitsMiddleware`` ends a session that has been idle too long
(``SESSION_IDLE_TIMEOUT_S``), is older than ``SESSION_ABSOLUTE_TIMEOUT_S``, or belongs to an
earlier generation of the user's sessions ("log out everywhere"). ``TwoFactorMiddleware``
holds a user who has given a password but not yet a code at the two-factor step
(``RMS_REQUIRE_2FA``). API requests with a token are not sessions: both leave them alone.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django_htmx.http import HttpResponseClientRedirect

from rms.accounts import services

logger = logging.getLogger("rms.security")

# The last-activity stamp is written at most this often (not on every request), so a session
# may end up to this much before the idle limit, never after it.
SEEN_AT_RESOLUTION_S = 60.0

EXPIRY_MESSAGES = {
    "idle": "You were logged out after {minutes} minutes without activity. Log in again.",
    "absolute": "You were logged out: a session lasts at most {hours} hours. Log in again.",
    "ended": "You were logged out on this device. Log in again.",
}

Handler = Callable[[HttpRequest], HttpResponseBase]


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def _is_htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


def _go(request: HttpRequest, url: str) -> HttpResponseBase:
    # htmx would swap a redirected page into a panel; HX-Redirect makes it load the page.
    if _is_htmx(request):
        return HttpResponseClientRedirect(url)
    return redirect(url)


def _with_next(url: str, request: HttpRequest) -> str:
    if request.method == "GET" and not _is_htmx(request):
        return f"{url}?{urlencode({'next': request.get_full_path()})}"
    return url


class SessionLimitsMiddleware:
    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if request.user.is_authenticated:
            refused = self._check(request)
            if refused is not None:
                return refused
        return self.get_response(request)

    def _check(self, request: HttpRequest) -> HttpResponseBase | None:
        session = request.session
        user_id = int(str(request.user.pk))
        now = time.time()
        signed_in_at = session.get(services.SIGNED_IN_AT)
        if signed_in_at is None:
            # A session that predates these stamps (or a test's force_login): it starts now.
            services.session_start(request, user_id=user_id)
            return None
        reason = None
        if session.get(services.GENERATION) != services.session_generation(user_id=user_id):
            reason = "ended"
        elif now - float(signed_in_at) >= settings.SESSION_ABSOLUTE_TIMEOUT_S:
            reason = "absolute"
        elif now - float(session.get(services.SEEN_AT, 0)) >= settings.SESSION_IDLE_TIMEOUT_S:
            reason = "idle"
        if reason is None:
            if now - float(session.get(services.SEEN_AT, 0)) >= SEEN_AT_RESOLUTION_S:
                session[services.SEEN_AT] = now
            return None

        logger.info("Session of user %s ended: %s", user_id, reason)
        logout(request)
        if _is_api(request):
            return None  # the API view answers the now anonymous request (401/403)
        messages.info(
            request,
            EXPIRY_MESSAGES[reason].format(
                minutes=settings.SESSION_IDLE_TIMEOUT_S // 60,
                hours=settings.SESSION_ABSOLUTE_TIMEOUT_S // 3600,
            ),
        )
        return _go(request, _with_next(reverse("login"), request))


class TwoFactorMiddleware:
    """With ``RMS_REQUIRE_2FA``, a user who has not given a second factor in this session
    reaches only the sign-in pages; everything else (patient pages, Django admin, the API
    through the session) sends them to the code, or to enrolment if they have no app yet."""

    OPEN_URL_NAMES = ("login", "logout", "account_two_factor", "account_two_factor_enrol")

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if settings.RMS_REQUIRE_2FA and self._held(request):
            return self._refuse(request)
        return self.get_response(request)

    def _held(self, request: HttpRequest) -> bool:
        user = request.user
        if not user.is_authenticated:
            # A wrong password is held at the code step exactly as a right one: nothing a
            # page answers may tell the two apart before the second factor.
            if not services.pending_sign_in(request):
                return False
        else:
            is_verified = getattr(user, "is_verified", None)
            if is_verified is not None and is_verified():
                return False
        open_paths = {reverse(name) for name in self.OPEN_URL_NAMES}
        return request.path not in open_paths

    def _refuse(self, request: HttpRequest) -> HttpResponse | HttpResponseBase:
        if _is_api(request):
            return JsonResponse(
                {"detail": "Two-factor verification is required for this session."},
                status=403,
            )
        # Always the code step (enrolment opens from there, after the emailed set-up code).
        return _go(request, _with_next(reverse("account_two_factor"), request))
