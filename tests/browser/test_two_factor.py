"""Two-factor login in Chromium: a clinician sets up an authenticator app from the QR page,
and another logs in with password and code."""

from __future__ import annotations

import re
from base64 import b32decode

import pytest
from django.core import mail
from django_otp.oath import TOTP
from playwright.sync_api import Page, expect

from tests.browser.conftest import log_in
from tests.factories import MembershipFactory, TeamFactory, UserFactory
from tests.rms.auth_helpers import PASSWORD, authenticator_for, code_now, sign_in_security_on

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def two_factor_on(settings) -> None:  # type: ignore[no-untyped-def]
    sign_in_security_on(settings)


def clinician(username: str):  # type: ignore[no-untyped-def]
    user = UserFactory(username=username)
    MembershipFactory(user=user, team=TeamFactory(code="URO"), role="clinician")
    return user


def password_step(page: Page, live_server, username: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()


def test_a_clinician_logs_in_with_password_and_code(page: Page, live_server) -> None:  # type: ignore[no-untyped-def]
    device = authenticator_for(clinician("cns.two"))

    password_step(page, live_server, "cns.two")
    page.wait_for_url(f"{live_server.url}/accounts/two-factor/**")
    expect(page.get_by_role("heading", name="Enter your code")).to_be_visible()
    page.get_by_label("Code").fill(code_now(device))
    page.get_by_role("button", name="Continue").click()

    page.wait_for_url(f"{live_server.url}/patients/**")
    expect(page.get_by_role("heading", level=1)).to_be_visible()


def test_a_clinician_sets_up_an_authenticator_at_first_login(page: Page, live_server) -> None:  # type: ignore[no-untyped-def]
    user = clinician("cns.new")

    password_step(page, live_server, "cns.new")
    # The same code page as for everyone; the first time, with the set-up code emailed.
    page.wait_for_url(f"{live_server.url}/accounts/two-factor/**")
    expect(page.get_by_role("heading", name="Enter your code")).to_be_visible()
    email = [m for m in mail.outbox if m.to == [user.email]][-1]
    setup_code = re.search(r"\b(\d{8})\b", email.body)
    assert setup_code
    page.get_by_label("Code").fill(setup_code.group(1))
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url(f"{live_server.url}/accounts/two-factor/set-up/**")
    expect(
        page.get_by_role("img", name="QR code for setting up your authenticator app")
    ).to_be_visible()
    secret = page.locator("#totp-secret").inner_text().replace(" ", "")
    key = b32decode(secret + "=" * (-len(secret) % 8))
    page.get_by_label("Code from the app").fill(f"{TOTP(key).token():06d}")
    page.get_by_role("button", name="Confirm").click()

    expect(page.get_by_role("heading", name="Two-factor login is set up")).to_be_visible()
    expect(page.get_by_role("list", name="Backup codes").get_by_role("listitem")).to_have_count(10)
    page.get_by_role("link", name="Continue").click()
    page.wait_for_url(f"{live_server.url}/patients/**")


def test_with_two_factor_off_the_password_alone_logs_in(page: Page, live_server, settings) -> None:  # type: ignore[no-untyped-def]
    settings.RMS_REQUIRE_2FA = False
    clinician("cns.plain")
    log_in(page, live_server, "cns.plain")
