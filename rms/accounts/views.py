"""The sign-in pages: password, the two-factor code, enrolment, and log out everywhere."""

from __future__ import annotations

import logging
from base64 import b32encode
from typing import Any
from urllib.parse import urlencode

import qrcode
import qrcode.image.svg
from axes.handlers.proxy import AxesProxyHandler
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.signals import user_login_failed
from django.contrib.auth.views import LoginView
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.middleware.csrf import rotate_token
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods
from django_otp import devices_for_user, user_has_device, verify_token
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice

from rms.accounts import services
from rms.accounts.forms import CodeForm, EnrolForm
from rms.web import signed_in_user as _user

logger = logging.getLogger("rms.security")


def _next_url(request: HttpRequest) -> str:
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return reverse(settings.LOGIN_REDIRECT_URL)


def _step_url(name: str, next_url: str) -> str:
    return f"{reverse(name)}?{urlencode({'next': next_url})}"


class SignInView(LoginView):
    """Username and password. With ``RMS_REQUIRE_2FA`` the password alone reaches only the
    code step, and the answer to it says nothing about the password: a right one (with or
    without an authenticator yet) and a wrong one (or an unknown username) all get the same
    redirect to the same code page, a new session and a new CSRF token. A right password of a
    user with no authenticator also emails them a set-up code, which the code page takes in
    place of the app's code and which alone opens enrolment. Which it was shows only after
    the second factor."""

    form_class = AuthenticationForm

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        user = self.request.user
        verified = getattr(user, "is_verified", lambda: False)()
        context["signed_in"] = user.is_authenticated and (verified or not settings.RMS_REQUIRE_2FA)
        return context

    def form_valid(self, form: AuthenticationForm) -> HttpResponse:
        response = super().form_valid(form)  # Django's login(): a new session key
        user = form.get_user()
        services.session_start(self.request, user_id=user.pk)
        if not settings.RMS_REQUIRE_2FA:
            return response
        answer = redirect(_step_url("account_two_factor", self.get_success_url()))
        if not user_has_device(user, confirmed=True):
            # Sent when the response is closed (the WSGI server closes it after sending it;
            # Django's own list of what to run then, as FileResponse uses it).
            send = services.setup_code_send(self.request, user=user)
            answer._resource_closers.append(send)  # type: ignore[attr-defined]
        return answer

    def form_invalid(self, form: AuthenticationForm) -> HttpResponse:
        if not settings.RMS_REQUIRE_2FA or not _is_wrong_credentials(form):
            return super().form_invalid(form)
        # As a right password would: a new session (logged out, if it was not) held at the
        # code step, and a new CSRF token. The failure is already counted by the lockout.
        logout(self.request)
        services.pending_sign_in_start(self.request)
        rotate_token(self.request)
        return redirect(_step_url("account_two_factor", self.get_success_url()))


def _is_wrong_credentials(form: AuthenticationForm) -> bool:
    """Both fields given and refused (not a blank field, which says nothing)."""
    return bool(form.data.get("username")) and bool(form.data.get("password"))


def _verified(request: HttpRequest, device: Any) -> None:
    otp_login(request, device)
    # A new session key on each rise in privilege (ASVS 3.2.1), as at the password.
    request.session.cycle_key()


CODE_REFUSED = (
    "That code is not right. Check the code and try again; if you are not sure of your "
    "password, log in again."
)


CODE_REUSED = (
    "That code has just been used to log in. Each code works once: wait for the next code "
    "in your app and enter that."
)


def _code_page(request: HttpRequest, form: CodeForm, next_url: str) -> HttpResponse:
    # The same page whatever the password was: no user name, no navigation.
    return render(request, "rms/account/two_factor_verify.html", {"form": form, "next": next_url})


@never_cache
@require_http_methods(["GET", "POST"])
def two_factor_verify(request: HttpRequest) -> HttpResponseBase:
    """The second factor: the authenticator's code or a backup code, or for a user with no
    authenticator yet the emailed set-up code (which opens enrolment). A session whose
    password was wrong gets the same page and the same refusal of every code."""
    next_url = _next_url(request)
    if not request.user.is_authenticated:
        if not services.pending_sign_in(request):
            return redirect(f"{reverse('login')}?{urlencode({'next': next_url})}")
        form = CodeForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            form.add_error("code", CODE_REFUSED)
        return _code_page(request, form, next_url)
    user = _user(request)
    if getattr(user, "is_verified", lambda: False)():
        return redirect(next_url)
    if not user_has_device(user, confirmed=True):
        return _setup_code_step(request, user, next_url)
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        credentials = {"username": user.get_username()}
        if AxesProxyHandler.is_locked(request, credentials):
            logout(request)
            request.axes_locked_out = True  # type: ignore[attr-defined]
            request.axes_credentials = credentials  # type: ignore[attr-defined]
            return redirect("login")  # AxesMiddleware answers with the locked-out page
        token = form.cleaned_data["code"]
        for device in devices_for_user(user, confirmed=True):
            accepted = verify_token(user, device.persistent_id, token)
            if accepted is not None:
                _verified(request, accepted)
                logger.info("Two-factor code accepted for user %s", user.pk)
                return redirect(next_url)
        if services.totp_is_replay(user=user, token=token):
            # Refused (each code works once) but no guess: not counted towards the lockout.
            logger.info("Two-factor code refused as already used for user %s", user.pk)
            form.add_error("code", CODE_REUSED)
            return _code_page(request, form, next_url)
        # A wrong code counts towards the lockout like a wrong password.
        user_login_failed.send(sender=__name__, credentials=credentials, request=request)
        logger.info("Two-factor code refused for user %s", user.pk)
        if getattr(request, "axes_locked_out", False):
            logout(request)
            return redirect("login")  # AxesMiddleware answers with the locked-out page
        form.add_error("code", CODE_REFUSED)
    return _code_page(request, form, next_url)


def _setup_code_step(request: HttpRequest, user: Any, next_url: str) -> HttpResponseBase:
    """The code page for a user with no authenticator: the set-up code they were emailed
    opens enrolment; a wrong one counts towards the lockout like a wrong code."""
    if services.enrolment_allowed(request):
        return redirect(_step_url("account_two_factor_enrol", next_url))
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        credentials = {"username": user.get_username()}
        if AxesProxyHandler.is_locked(request, credentials):
            logout(request)
            request.axes_locked_out = True  # type: ignore[attr-defined]
            request.axes_credentials = credentials  # type: ignore[attr-defined]
            return redirect("login")
        if services.setup_code_check(request, code=form.cleaned_data["code"]):
            logger.info("Two-factor set-up code accepted for user %s", user.pk)
            return redirect(_step_url("account_two_factor_enrol", next_url))
        user_login_failed.send(sender=__name__, credentials=credentials, request=request)
        logger.info("Two-factor set-up code refused for user %s", user.pk)
        if getattr(request, "axes_locked_out", False):
            logout(request)
            return redirect("login")
        form.add_error("code", CODE_REFUSED)
    return _code_page(request, form, next_url)


def _qr_svg(device: TOTPDevice) -> str:
    image = qrcode.make(
        device.config_url,
        image_factory=qrcode.image.svg.SvgPathImage,
        box_size=20,
        border=2,
    )
    return str(image.to_string(encoding="unicode"))


def _grouped(secret: str) -> str:
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


@never_cache
@require_http_methods(["GET", "POST"])
def two_factor_enrol(request: HttpRequest) -> HttpResponseBase:
    """Set up an authenticator app: scan the QR code (or type the key), then give the first
    code. Only for a user with no confirmed authenticator: replacing one needs an
    administrator (``Reset two-factor`` in admin), so a password alone cannot swap it."""
    next_url = _next_url(request)
    # Only after the emailed set-up code; before it, everyone (a right password, a wrong one,
    # nobody signed in) is sent to the code step alike: this page must not tell them apart.
    if not request.user.is_authenticated:
        return redirect(_step_url("account_two_factor", next_url))
    user = _user(request)
    if user_has_device(user, confirmed=True) or not services.enrolment_allowed(request):
        return redirect(_step_url("account_two_factor", next_url))
    device = services.totp_enrolment_device(user=user)
    form = EnrolForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if services.totp_confirm(device=device, token=form.cleaned_data["code"]):
            device.refresh_from_db()
            _verified(request, device)
            services.enrolment_done(request)
            codes = services.backup_codes_issue(user=user)
            return render(
                request,
                "rms/account/backup_codes.html",
                {"codes": codes, "next": next_url},
            )
        form.add_error("code", "That code is not right. Check the app's clock and try again.")
    secret = b32encode(device.bin_key).decode("ascii").rstrip("=")
    return render(
        request,
        "rms/account/two_factor_enrol.html",
        {"form": form, "next": next_url, "qr_svg": _qr_svg(device), "secret": _grouped(secret)},
    )


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def logout_everywhere(request: HttpRequest) -> HttpResponseBase:
    """End all of the user's sessions, this one and those on any other device."""
    user = _user(request)
    if request.method == "POST":
        services.sessions_end_all(user=user, actor=user)
        logout(request)
        messages.success(request, "You are logged out on every device.")
        return redirect("login")
    return render(request, "rms/account/logout_everywhere.html")
