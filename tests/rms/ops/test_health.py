"""/healthz says the process answers; /readyz checks the database, the migrations and the
broker, and names only the checks that failed."""

from __future__ import annotations

import pytest
from django.db.migrations.recorder import MigrationRecorder
from django.test import override_settings

pytestmark = pytest.mark.django_db

# A port nothing listens on: the connection is refused at once.
UNREACHABLE_BROKER = "redis://:s3cret-password@127.0.0.1:1/0"


def test_healthz_answers_anyone_without_touching_anything_else(client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "no-cache" in response["Cache-Control"]


def test_healthz_refuses_a_post(client) -> None:
    assert client.post("/healthz").status_code == 405


def test_readyz_is_ready_with_the_database_up_and_every_migration_applied(client) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "ready"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["migrations"] == "ok"
    # In-process without REDIS_URL; CI's second run has a real Redis.
    assert body["checks"]["broker"] in {"ok", "in-process"}


def test_readyz_refuses_a_post(client) -> None:
    assert client.post("/readyz").status_code == 405


@override_settings(CELERY_BROKER_URL=UNREACHABLE_BROKER)
def test_readyz_is_not_ready_when_the_broker_is_unreachable_and_does_not_say_where_it_is(
    client,
) -> None:
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body == {
        "status": "not ready",
        "checks": {
            "database": "ok",
            "migrations": "ok",
            "broker": "failed",
            # No MLLP_SENDERS in the tests: a warning, which does not make it not ready.
            "mllp_senders": "any-sender",
        },
    }
    assert b"127.0.0.1" not in response.content
    assert b"s3cret" not in response.content


def test_readyz_is_not_ready_while_a_migration_is_not_applied(client) -> None:
    # As after deploying a release whose migrations have not been run yet.
    latest = MigrationRecorder.Migration.objects.filter(app="rms").order_by("-id").first()
    assert latest is not None
    latest.delete()
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["migrations"] == "failed"
