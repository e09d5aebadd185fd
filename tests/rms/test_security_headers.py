"""Security headers, the Content Security Policy, and no inline script or style in pages."""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.test import Client, override_settings
from django.urls import reverse

from rms.models import Patient
from tests.factories import DocumentFactory
from tests.rms.test_settings import PRODUCTION_ENV, run_manage

pytestmark = pytest.mark.django_db

PRODUCTION_LIKE = {
    "SECURE_SSL_REDIRECT": False,  # the test client speaks plain HTTP
    "SECURE_HSTS_SECONDS": 31_536_000,
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": True,
    "SECURE_HSTS_PRELOAD": True,
    "SESSION_COOKIE_SECURE": True,
    "CSRF_COOKIE_SECURE": True,
}
INLINE = re.compile(
    r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>"  # inline script
    r"|\son[a-z]+\s*="  # event handler attribute
    r"|\sstyle\s*="  # style attribute
    r"|<style",
    re.IGNORECASE,
)


def csp(response) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {
        part.split()[0]: part.strip()
        for part in response["Content-Security-Policy"].split(";")
        if part.strip()
    }


@override_settings(**PRODUCTION_LIKE)
def test_production_like_responses_carry_the_security_headers(client: Client, clinician) -> None:
    client.force_login(clinician)
    response = client.get(reverse("rms:patient_list"), secure=True)

    assert response["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    assert response["X-Content-Type-Options"] == "nosniff"


def test_every_response_denies_the_powerful_browser_features(client: Client, clinician) -> None:
    """Issue 19, defect 6: no Permissions-Policy header. W3C Permissions Policy: a feature
    listed with an empty allowlist ``()`` is disabled in the page and every frame."""
    client.force_login(clinician)
    for response in (
        client.get(reverse("rms:patient_list")),
        client.get(reverse("login")),
        client.get("/api/v1/patients/"),
    ):
        policy = {
            part.strip().split("=")[0]: part.strip().split("=")[1]
            for part in response["Permissions-Policy"].split(",")
        }
        for feature in ("camera", "microphone", "geolocation", "payment", "usb"):
            assert policy[feature] == "()"


@override_settings(**PRODUCTION_LIKE)
def test_cookies_are_secure_httponly_and_samesite(client: Client, clinician) -> None:
    response = client.post(
        reverse("login"), {"username": "clinician", "password": "x"}, secure=True
    )
    client.force_login(clinician)
    response = client.get(reverse("login"), secure=True)
    cookie = response.cookies["csrftoken"]
    assert cookie["secure"] and cookie["httponly"] and cookie["samesite"] == "Lax"
    assert settings.SESSION_COOKIE_HTTPONLY and settings.SESSION_COOKIE_SAMESITE == "Lax"


def test_every_page_has_the_content_security_policy(client: Client, clinician) -> None:
    client.force_login(clinician)
    policy = csp(client.get(reverse("rms:patient_list")))

    assert policy["default-src"] == "default-src 'self'"
    assert policy["script-src"] == "script-src 'self'"
    assert policy["style-src"] == "style-src 'self'"
    assert policy["img-src"] == "img-src 'self' data:"
    assert policy["frame-ancestors"] == "frame-ancestors 'none'"
    assert policy["form-action"] == "form-action 'self'"
    assert policy["base-uri"] == "base-uri 'self'"
    assert policy["object-src"] == "object-src 'none'"


def test_the_api_docs_page_needs_no_exception_to_the_policy_and_nothing_inline(
    client: Client, clinician
) -> None:
    """docs/security.md: scripts and styles only from our own static files, no inline
    scripts or styles, on every page; the docs page's Swagger UI is bundled, so its policy
    is the site's policy, with no other host."""
    client.force_login(clinician)
    response = client.get(reverse("api-docs"))

    assert response.status_code == 200
    policy = csp(response)
    assert policy["script-src"] == "script-src 'self'"
    assert policy["style-src"] == "style-src 'self'"
    assert "http" not in response["Content-Security-Policy"]
    assert "unsafe-inline" not in response["Content-Security-Policy"]
    assert not INLINE.search(response.content.decode())
    # The start-up script comes from the same URL, so 'self' covers it.
    assert client.get(reverse("api-docs") + "?script").status_code == 200


def pages(patient: Patient) -> list[str]:
    document = DocumentFactory(patient=patient)
    p = patient.public_id
    return [
        reverse("login"),
        reverse("rms:patient_list"),
        reverse("rms:patient_list") + "?q=Tester",
        reverse("rms:patient_create"),
        reverse("rms:patient_detail", args=[p]),
        reverse("rms:patient_edit", args=[p]),
        reverse("rms:document_detail", args=[p, document.public_id]),
        reverse("audit:patient", args=[p]),
        reverse("worklists:list"),
        reverse("worklists:caseload"),
        reverse("worklists:yield"),
        reverse("review:patient_review", args=[p]),
        reverse("pkb:delivery"),
        reverse("admin:index"),
        reverse("admin:rms_patient_changelist"),
        reverse("admin:rms_patient_change", args=[patient.pk]),
        reverse("admin:auditlog_logentry_changelist"),
        reverse("admin:knox_authtoken_changelist"),
    ]


def test_no_page_has_inline_script_event_handlers_or_style_attributes(
    client: Client, team_admin, patient: Patient
) -> None:
    team_admin.is_staff = team_admin.is_superuser = True
    team_admin.save()
    client.force_login(team_admin)
    offences = []
    for url in pages(patient):
        response = client.get(url, follow=True)
        assert response.status_code == 200, url
        if "text/html" not in response["Content-Type"]:
            continue
        html = response.content.decode()
        offences += [f"{url}: {m.group(0)}" for m in INLINE.finditer(html)]
    assert offences == []


def test_pkb_tls_verification_is_on_by_default() -> None:
    assert settings.PKB_VERIFY_TLS is True


def test_production_refuses_to_start_with_pkb_tls_verification_off_unless_insisted() -> None:
    env = {**PRODUCTION_ENV, "PKB_VERIFY_TLS": "false"}
    refused = run_manage("check", **env)
    assert refused.returncode != 0
    assert "PKB_VERIFY_TLS=false" in refused.stderr

    allowed = run_manage("check", PKB_ALLOW_UNVERIFIED_TLS="true", **env)
    assert "PKB_VERIFY_TLS" not in allowed.stderr
