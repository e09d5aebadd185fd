"""Role fixtures shared by every test.

``team`` and ``other_team`` each have a clinician, a team admin and a viewer; ``patient`` is on
``team``'s caseload and ``other_patient`` on ``other_team``'s.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.core.cache import caches
from rest_framework.test import APIClient

from devtools.sandbox import SandboxServer, SandboxState
from pkb_bridge.transport import PkbTransport
from rms.api.tokens import token_create
from rms.models import Patient, Role, Team
from tests.factories import MembershipFactory, PatientFactory, TeamFactory, UserFactory


@pytest.fixture
def team(db: None) -> Team:
    return TeamFactory(code="URO", name="Urology CNS team")


@pytest.fixture
def other_team(db: None) -> Team:
    return TeamFactory(code="CRC", name="Colorectal CNS team", tumour_site="colorectal")


def member(team: Team, role: str, username: str):  # type: ignore[no-untyped-def]
    user = UserFactory(username=username)
    MembershipFactory(user=user, team=team, role=role)
    return user


@pytest.fixture
def clinician(team: Team):  # type: ignore[no-untyped-def]
    return member(team, Role.CLINICIAN, "clinician")


@pytest.fixture
def team_admin(team: Team):  # type: ignore[no-untyped-def]
    return member(team, Role.TEAM_ADMIN, "teamadmin")


@pytest.fixture
def viewer(team: Team):  # type: ignore[no-untyped-def]
    return member(team, Role.VIEWER, "viewer")


@pytest.fixture
def other_team_clinician(other_team: Team):  # type: ignore[no-untyped-def]
    return member(other_team, Role.CLINICIAN, "otherclinician")


@pytest.fixture
def patient(team: Team) -> Patient:
    return PatientFactory(teams=[team])


@pytest.fixture
def other_patient(other_team: Team) -> Patient:
    # A name no generated patient has: tests check it never shows to the first team, and a
    # random name could be the same as the first team's patient's.
    return PatientFactory(teams=[other_team], family_name="Otherteamson", given_name="Olwen")


def token_client(user) -> APIClient:  # type: ignore[no-untyped-def]
    client = APIClient()
    _, key = token_create(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


@pytest.fixture(autouse=True)
def fresh_api_rate_counts() -> None:
    """API request counts start at zero in every test (user ids repeat between tests)."""
    caches["throttle"].clear()


@pytest.fixture
def api_clinician(clinician) -> APIClient:  # type: ignore[no-untyped-def]
    return token_client(clinician)


@pytest.fixture
def api_viewer(viewer) -> APIClient:  # type: ignore[no-untyped-def]
    return token_client(viewer)


@pytest.fixture
def api_other_clinician(other_team_clinician) -> APIClient:  # type: ignore[no-untyped-def]
    return token_client(other_team_clinician)


@pytest.fixture(autouse=True)
def two_factor_off(settings) -> None:  # type: ignore[no-untyped-def]
    """Most tests log in with the password alone, and with ``Client.login``, which gives the
    lockout backend no request; tests/rms/test_auth_* turn two-factor and the lockout on."""
    settings.RMS_REQUIRE_2FA = False
    settings.AUTHENTICATION_BACKENDS = ["django.contrib.auth.backends.ModelBackend"]


@pytest.fixture(autouse=True)
def celery_in_process(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    """Tasks run in-process in tests, even when REDIS_URL names a broker, except in the tests
    marked ``celery_worker``, which run real workers against the real broker."""
    from rms.celery import app

    if request.node.get_closest_marker("celery_worker"):
        yield
        return
    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = previous


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    """PKB's sandbox on a port of its own (user rms, password pw), stopped after the test."""
    server = SandboxServer(username="rms", password="pw", state=SandboxState())
    server.start()
    yield server
    server.stop()


@pytest.fixture
def transport(sandbox: SandboxServer) -> Iterator[PkbTransport]:
    """A PKB transport to ``sandbox``, with short timeouts."""
    client = PkbTransport(sandbox.url, "rms", "pw", connect_timeout_s=2.0, deadline_s=3.0)
    yield client
    client.close()


@pytest.fixture(autouse=True)
def events_consumed_at_commit(monkeypatch: pytest.MonkeyPatch) -> None:
    """A test under ``db`` runs inside a transaction that never commits, so nothing it does
    ever reaches ``on_commit``. Production consumes domain events after the writing
    transaction commits (rms.events): here the events' doorbell rings when the outermost
    transaction of the code under test ends, as it would at its commit. Only that doorbell:
    the PKB dispatcher and the filer keep the test's never-committing behaviour."""
    from django.db import transaction

    from rms.events import record

    exit_atomic = transaction.Atomic.__exit__

    def exit_and_ring(self, exc_type, exc_value, traceback):  # type: ignore[no-untyped-def]
        result = exit_atomic(self, exc_type, exc_value, traceback)
        connection = transaction.get_connection(self.using)
        if (
            exc_type is None
            and not getattr(self, "_from_testcase", False)
            and connection.in_atomic_block
            and not connection.needs_rollback
            and all(getattr(block, "_from_testcase", False) for block in connection.atomic_blocks)
        ):
            rings = [entry for entry in connection.run_on_commit if entry[1] is record._ring]
            if rings:
                connection.run_on_commit = [
                    entry for entry in connection.run_on_commit if entry[1] is not record._ring
                ]
                record._ring()
        return result

    monkeypatch.setattr(transaction.Atomic, "__exit__", exit_and_ring)
