"""Shared by the sign-in security tests: authenticator devices and their current codes."""

from __future__ import annotations

from django.contrib.auth.models import User
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

PASSWORD = "correct-horse-battery"


def sign_in_security_on(settings) -> None:  # type: ignore[no-untyped-def]
    """What production runs: two-factor required and the lockout backend in front (the test
    defaults in tests/conftest.py turn both off)."""
    settings.RMS_REQUIRE_2FA = True
    settings.AUTHENTICATION_BACKENDS = [
        "axes.backends.AxesStandaloneBackend",
        "django.contrib.auth.backends.ModelBackend",
    ]


def authenticator_for(user: User) -> TOTPDevice:
    return TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=True)


def code_now(device: TOTPDevice) -> str:
    """The code the user's app shows at this moment (time-machine's time, in the tests)."""
    device.refresh_from_db()
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    return f"{totp.token():0{device.digits}d}"
