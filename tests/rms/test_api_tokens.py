"""API tokens: hashed, expiring, revocable, and rate-limited per token."""

from __future__ import annotations

import datetime as dt
from io import StringIO

import pytest
import time_machine
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client, override_settings
from django.urls import reverse
from knox.models import AuthToken
from rest_framework.test import APIClient

from rms.api.tokens import token_create
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

LIST_URL = reverse("api:patient-list")
HL7_URL = reverse("api:inbound-hl7")


def client_with(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def test_a_new_token_works_and_is_stored_only_as_a_hash(clinician) -> None:
    token, key = token_create(user=clinician)

    assert client_with(key).get(LIST_URL).status_code == 200
    assert not AuthToken.objects.filter(digest=key).exists()
    assert key not in token.digest


@override_settings(API_TOKEN_TTL_HOURS=24)
def test_a_token_expires_after_api_token_ttl_hours(clinician) -> None:
    _, key = token_create(user=clinician)

    with time_machine.travel(dt.timedelta(hours=23), tick=False):
        assert client_with(key).get(LIST_URL).status_code == 200
    with time_machine.travel(dt.timedelta(hours=25), tick=False):
        response = client_with(key).get(LIST_URL)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"


def test_the_default_lifetime_is_thirty_days(clinician) -> None:
    token, _ = token_create(user=clinician)
    assert token.expiry is not None
    assert token.expiry - token.created == pytest.approx(
        dt.timedelta(hours=720), abs=dt.timedelta(seconds=5)
    )


def test_a_revoked_token_is_refused_at_once(clinician) -> None:
    token, key = token_create(user=clinician)
    assert client_with(key).get(LIST_URL).status_code == 200

    out = StringIO()
    call_command("rms_token", "--revoke", token.token_key, stdout=out)

    assert "Revoked 1 token." in out.getvalue()
    assert client_with(key).get(LIST_URL).status_code == 401


def test_revoke_all_ends_every_token_of_the_user_and_no_one_elses(
    clinician, other_team_clinician
) -> None:
    _, first = token_create(user=clinician)
    _, second = token_create(user=clinician)
    _, others = token_create(user=other_team_clinician)

    call_command("rms_token", "--revoke-all", "--username", clinician.username, stdout=StringIO())

    assert client_with(first).get(LIST_URL).status_code == 401
    assert client_with(second).get(LIST_URL).status_code == 401
    assert client_with(others).get(LIST_URL).status_code == 200


def test_list_shows_key_prefixes_and_never_a_key(clinician) -> None:
    token, key = token_create(user=clinician)
    out = StringIO()

    call_command("rms_token", "--list", stdout=out)

    assert token.token_key in out.getvalue()
    assert "clinician" in out.getvalue()
    assert key not in out.getvalue()


def test_create_prints_the_key_alone_on_standard_output(clinician) -> None:
    out, err = StringIO(), StringIO()
    call_command("rms_token", "--create", "--username", "clinician", "--ttl-hours", "2",
                 stdout=out, stderr=err)  # fmt: skip

    key = out.getvalue().strip()
    assert client_with(key).get(LIST_URL).status_code == 200
    assert "expires" in err.getvalue()


def test_revoking_an_unknown_prefix_is_an_error(clinician) -> None:
    with pytest.raises(CommandError, match="No token"):
        call_command("rms_token", "--revoke", "x" * 15, stdout=StringIO())


def test_an_admin_revokes_a_token_from_the_token_list(clinician, admin_client: Client) -> None:
    token, key = token_create(user=clinician)
    url = reverse("admin:knox_authtoken_changelist")

    assert token.token_key in admin_client.get(url).content.decode()
    response = admin_client.post(
        url, {"action": "revoke", "_selected_action": [token.pk]}, follow=True
    )

    assert response.status_code == 200
    assert client_with(key).get(LIST_URL).status_code == 401


@override_settings(API_RATE_LIMIT="3/min")
def test_over_the_rate_a_token_gets_429_with_retry_after_while_another_users_token_works(
    clinician, other_team_clinician
) -> None:
    _, busy = token_create(user=clinician)
    _, quiet = token_create(user=other_team_clinician)

    statuses = [client_with(busy).get(LIST_URL).status_code for _ in range(4)]
    refused = client_with(busy).get(LIST_URL)

    assert statuses == [200, 200, 200, 429]
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) > 0
    assert client_with(quiet).get(LIST_URL).status_code == 200


@override_settings(API_RATE_LIMIT="2/min")
def test_the_rate_is_counted_per_token_not_per_user(clinician) -> None:
    _, first = token_create(user=clinician)
    _, second = token_create(user=clinician)

    assert [client_with(first).get(LIST_URL).status_code for _ in range(3)] == [200, 200, 429]
    assert client_with(second).get(LIST_URL).status_code == 200


@override_settings(API_RATE_LIMIT="100/min", API_INBOUND_RATE_LIMIT="2/min")
def test_the_inbound_feed_has_its_own_tighter_rate() -> None:
    feed = UserFactory(username="feed")
    feed.user_permissions.add(Permission.objects.get(codename="submit_inbound"))
    _, key = token_create(user=feed)
    client = client_with(key)

    statuses = [
        client.generic("POST", HL7_URL, b"garbage\r", content_type="text/plain").status_code
        for _ in range(3)
    ]

    assert statuses == [200, 200, 429]
    # The rest of the API still answers the same token under its own rate.
    assert client.get(LIST_URL).status_code == 200
