"""Writes of sign-in state: session stamps, session generations, two-factor devices.

Each service says whether it is safe to repeat. None of them touches patient data.
"""

from __future__ import annotations

import logging
import time

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import F
from django.http import HttpRequest
from django.utils import timezone
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from rms.models import AccountSecurity

logger = logging.getLogger("rms.security")

# Session keys: when the user signed in, when they were last active (both epoch seconds),
# and the generation of the user's sessions this one belongs to.
SIGNED_IN_AT = "rms_signed_in_at"
SEEN_AT = "rms_seen_at"
GENERATION = "rms_session_generation"

TOTP_DEVICE_NAME = "Authenticator app"
BACKUP_DEVICE_NAME = "Backup codes"
BACKUP_CODE_COUNT = 10


def session_generation(*, user_id: int) -> int:
    """The current generation of the user's sessions (0 until they first log out everywhere)."""
    generation = (
        AccountSecurity.objects.filter(user_id=user_id)
        .values_list("session_generation", flat=True)
        .first()
    )
    return generation or 0


def session_start(request: HttpRequest, *, user_id: int) -> None:
    """Stamp the request's session as starting now, in the user's current generation, not yet
    verified by a second factor. Called at every password login; safe to repeat."""
    now = time.time()
    session = request.session
    # Django keeps the session's data when the same user logs in again: a fresh password
    # login must not inherit the previous login's second factor.
    session.pop(DEVICE_ID_SESSION_KEY, None)
    session[SIGNED_IN_AT] = now
    session[SEEN_AT] = now
    session[GENERATION] = session_generation(user_id=user_id)


def sessions_end_all(*, user: User, actor: User) -> int:
    """End every session of ``user`` on every device: each one is refused at its next request
    (``SessionLimitsMiddleware``). Returns the new generation. Repeating it is harmless."""
    with transaction.atomic():
        state, _ = AccountSecurity.objects.select_for_update().get_or_create(user=user)
        state.session_generation = F("session_generation") + 1
        state.sessions_ended_at = timezone.now()
        state.sessions_ended_by = actor
        state.save(update_fields=["session_generation", "sessions_ended_at", "sessions_ended_by"])
        state.refresh_from_db(fields=["session_generation"])
    logger.info(
        "All sessions of user %s ended by user %s (generation %s)",
        user.pk,
        actor.pk,
        state.session_generation,
    )
    return state.session_generation


def totp_device(*, user: User, confirmed: bool = True) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=confirmed).order_by("pk").first()


def totp_enrolment_device(*, user: User) -> TOTPDevice:
    """The user's unconfirmed authenticator: the one already made (so reloading the page shows
    the same QR code), or a new one with a random key. Safe to repeat."""
    with transaction.atomic():
        device = totp_device(user=user, confirmed=False)
        if device is None:
            device = TOTPDevice.objects.create(user=user, name=TOTP_DEVICE_NAME, confirmed=False)
    return device


def totp_confirm(*, device: TOTPDevice, token: str) -> bool:
    """Confirm an enrolment with the first code the app shows; other unconfirmed devices of
    the user are removed. False (and nothing changed) for a wrong code."""
    with transaction.atomic():
        device = TOTPDevice.objects.select_for_update().get(pk=device.pk)
        if not device.verify_token(token):
            return False
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        TOTPDevice.objects.filter(user_id=device.user_id, confirmed=False).delete()
    logger.info("Two-factor authenticator confirmed for user %s", device.user_id)
    return True


def backup_codes_issue(*, user: User) -> list[str]:
    """Replace the user's backup codes with a new set and return them (shown once; each code
    works once). Earlier codes stop working."""
    codes = [StaticToken.random_token() for _ in range(BACKUP_CODE_COUNT)]
    with transaction.atomic():
        StaticDevice.objects.filter(user=user).delete()
        device = StaticDevice.objects.create(user=user, name=BACKUP_DEVICE_NAME, confirmed=True)
        StaticToken.objects.bulk_create(StaticToken(device=device, token=code) for code in codes)
    logger.info("Backup codes issued for user %s", user.pk)
    return codes


def two_factor_reset(*, user: User, actor: User) -> None:
    """Remove the user's authenticator and backup codes (a lost phone) and end their sessions:
    at their next login they enrol again. Safe to repeat."""
    with transaction.atomic():
        TOTPDevice.objects.filter(user=user).delete()
        StaticDevice.objects.filter(user=user).delete()
        sessions_end_all(user=user, actor=actor)
    logger.info("Two-factor devices of user %s removed by user %s", user.pk, actor.pk)
