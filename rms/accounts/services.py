"""Writes of sign-in state: session stamps, session generations, two-factor devices.

Each service says whether it is safe to repeat. None of them touches patient data.
"""

from __future__ import annotations

import hmac
import logging
import secrets
import time
from collections.abc import Callable

from django.conf import settings
from django.contrib.auth.models import User
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import F
from django.http import HttpRequest
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.oath import TOTP, hotp
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from rms.models import AccountSecurity

logger = logging.getLogger("rms.security")

# Session keys: when the user signed in, when they were last active (both epoch seconds),
# and the generation of the user's sessions this one belongs to.
SIGNED_IN_AT = "rms_signed_in_at"
SEEN_AT = "rms_seen_at"
GENERATION = "rms_session_generation"

# The sign-in of a wrong password, held at the code step like a right one (epoch seconds).
PENDING_SIGN_IN = "rms_pending_sign_in"
# The emailed set-up code of a user with no authenticator: its keyed hash, when it was sent,
# how many wrong tries it has had; and whether it has been given (which opens enrolment).
SETUP_CODE = "rms_setup_code"
SETUP_CODE_AT = "rms_setup_code_at"
SETUP_CODE_TRIES = "rms_setup_code_tries"
ENROLMENT_ALLOWED = "rms_enrolment_allowed"
SETUP_CODE_TTL_S = 15 * 60
SETUP_CODE_MAX_TRIES = 5
SETUP_CODE_DIGITS = 8

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
    for key in (PENDING_SIGN_IN, ENROLMENT_ALLOWED, SETUP_CODE, SETUP_CODE_AT, SETUP_CODE_TRIES):
        session.pop(key, None)
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


def totp_is_replay(*, user: User, token: str) -> bool:
    """True when ``token`` is the code the user's authenticator last gave, still within its
    time window: a second sign-in with the same 30-second code (another tab, another
    computer). django-otp refuses it (RFC 6238, section 5.2: a code is accepted once); it is
    no guess, so it does not count towards the lockout."""
    if not token.isdigit():
        return False
    for device in TOTPDevice.objects.filter(user=user, confirmed=True, last_t__gte=0):
        now = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
        now.time = time.time()
        if now.t() - device.last_t > device.tolerance:
            continue
        if int(token) == hotp(device.bin_key, device.last_t, device.digits):
            return True
    return False


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


def pending_sign_in_start(request: HttpRequest) -> None:
    """Hold a session whose password was wrong at the code step, as a right one is held
    (it has no user: every code is refused). Safe to repeat."""
    request.session[PENDING_SIGN_IN] = time.time()


def pending_sign_in(request: HttpRequest) -> bool:
    """Whether this anonymous session is a wrong password held at the code step (for as long
    as a signed-in session may stay idle)."""
    started = request.session.get(PENDING_SIGN_IN)
    return started is not None and time.time() - float(started) < settings.SESSION_IDLE_TIMEOUT_S


def _setup_code_hash(code: str) -> str:
    return salted_hmac("rms.accounts.setup-code", code, algorithm="sha256").hexdigest()


def setup_code_send(request: HttpRequest, *, user: User) -> Callable[[], None]:
    """Make a new one-time set-up code for a user with no authenticator who has just given
    the right password, and return the function that emails it (the caller runs it after
    the response has gone, so the time the mail server takes does not show in the answer to
    the password). Only the code's keyed hash is kept, in this session (server side). A user
    with no email address gets none: an administrator must add one. Each call replaces the
    previous code."""
    code = "".join(secrets.choice("0123456789") for _ in range(SETUP_CODE_DIGITS))
    session = request.session
    session[SETUP_CODE] = _setup_code_hash(code)
    session[SETUP_CODE_AT] = time.time()
    session[SETUP_CODE_TRIES] = 0
    session.pop(ENROLMENT_ALLOWED, None)
    user_id, address = user.pk, user.email

    def send() -> None:
        if not address:
            logger.warning("No email address for user %s: cannot send a set-up code", user_id)
            return
        try:
            send_mail(
                subject=f"Your {settings.SITE_NAME} set-up code",
                message=(
                    f"Your code to set up two-factor login to {settings.SITE_NAME} is "
                    f"{code}.\n\nEnter it on the page that asks for your code, within 15 "
                    "minutes. If you did not just log in, tell your system administrator: "
                    "someone has your password."
                ),
                from_email=settings.DEFAULT_FROM_EMAIL,
                recipient_list=[address],
            )
        except Exception:  # the response has gone: log it, the user can log in again
            logger.exception("Could not send the set-up code to user %s", user_id)
            return
        logger.info("Two-factor set-up code sent to user %s", user_id)

    return send


def setup_code_check(request: HttpRequest, *, code: str) -> bool:
    """True (and enrolment opens for this session) for the code last emailed to this
    session, within ``SETUP_CODE_TTL_S`` and ``SETUP_CODE_MAX_TRIES`` wrong tries; after
    that the code is gone and only a new password login sends another."""
    session = request.session
    expected = session.get(SETUP_CODE)
    sent_at = float(session.get(SETUP_CODE_AT, 0))
    if not expected or time.time() - sent_at > SETUP_CODE_TTL_S:
        session.pop(SETUP_CODE, None)
        return False
    if hmac.compare_digest(str(expected), _setup_code_hash(code)):
        for key in (SETUP_CODE, SETUP_CODE_AT, SETUP_CODE_TRIES):
            session.pop(key, None)
        session[ENROLMENT_ALLOWED] = True
        return True
    tries = int(session.get(SETUP_CODE_TRIES, 0)) + 1
    session[SETUP_CODE_TRIES] = tries
    if tries >= SETUP_CODE_MAX_TRIES:
        session.pop(SETUP_CODE, None)
    return False


def enrolment_allowed(request: HttpRequest) -> bool:
    return bool(request.session.get(ENROLMENT_ALLOWED))


def enrolment_done(request: HttpRequest) -> None:
    request.session.pop(ENROLMENT_ALLOWED, None)
