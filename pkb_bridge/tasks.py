"""Celery tasks of the PKB bridge: thin, taking ids, each calling one service.

The outbox is the record; these are the doorbell. ``dispatch`` is rung on commit of every
new message and by the sweeper; losing a ring (Redis down, a worker killed) costs at most one
sweep interval, never a message (docs/adr/0003-pkb-outbox.md).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from celery import shared_task
from celery.signals import worker_ready
from django.conf import settings
from django.db import connections

from pkb_bridge import services
from pkb_bridge.fhir import FhirClient, client_from_settings
from pkb_bridge.transport import PkbTransport

logger = logging.getLogger("pkb_bridge")

# One transport per worker thread (one per process with the prefork pool): its keep-alive
# connection is reused across tasks, and a transport sends one message at a time.
_local = threading.local()


def _settings_key(*names: str) -> tuple[object, ...]:
    return tuple(getattr(settings, name) for name in names)


_TRANSPORT_SETTINGS = (
    "PKB_URL",
    "PKB_USERNAME",
    "PKB_PASSWORD",
    "PKB_CONNECT_TIMEOUT_S",
    "PKB_TIMEOUT_S",
    "PKB_CA_BUNDLE",
    "PKB_VERIFY_TLS",
)
_FHIR_SETTINGS = (
    "PKB_FHIR_URL",
    "PKB_FHIR_TOKEN_URL",
    "PKB_FHIR_CLIENT_ID",
    "PKB_FHIR_CLIENT_SECRET",
    "PKB_FHIR_SCOPE",
    "PKB_FHIR_TOKEN_AUTH_METHOD",
    "PKB_FHIR_TIMEOUT_S",
    "PKB_VERIFY_TLS",
    "PKB_CA_BUNDLE",
)


def _shared_transport() -> PkbTransport:
    # Built again if the connection settings differ from those it was built with (settings
    # are fixed in a running service, but not in tests or an interactive shell).
    key = _settings_key(*_TRANSPORT_SETTINGS)
    transport: PkbTransport | None = getattr(_local, "transport", None)
    if transport is None or getattr(_local, "transport_key", None) != key:
        if transport is not None:
            transport.close()
        transport = services.transport_from_settings()
        _local.transport = transport
        _local.transport_key = key
    return transport


@shared_task(acks_late=True, ignore_result=True)
def dispatch() -> int:
    """Send what is due until nothing is or the time budget is spent. Safe to run in many
    workers at once: claims are serialised in the database."""
    return services.dispatch(transport=_shared_transport())


@shared_task(acks_late=True, ignore_result=True)
def sweep() -> None:
    """Every PKB_SWEEP_INTERVAL_S: requeue rows stuck in flight, release held items whose
    time has come, retry due invitations, prune old bodies, and ring the doorbell for as many
    dispatchers as may run at once. Safe to repeat."""
    services.messages_release_orphaned()
    services.messages_requeue_stuck()
    services.publications_auto_release_notify()
    services.publications_auto_release()
    for enrolment_id in services.invitations_due():
        send_invitation.delay(enrolment_id)
    services.bodies_prune()
    from pkb_bridge.services.delivery import pending_due

    if pending_due():
        for _ in range(settings.PKB_MAX_IN_FLIGHT):
            dispatch.delay()


@worker_ready.connect(dispatch_uid="pkb_bridge.release_orphaned")
def release_orphaned_claims(**kwargs: Any) -> None:
    """A worker starting (after a crash or a kill) gives back the claims of this host's
    processes that are gone, so delivery resumes now rather than after their lease."""
    try:
        if services.messages_release_orphaned():
            dispatch.delay()
    except Exception:  # a worker must start even when the database is not there yet
        logger.exception("Could not check for claims of dead workers at start")
    finally:
        connections.close_all()


@shared_task(acks_late=True, ignore_result=True)
def send_invitation(enrolment_id: int) -> str:
    """Send one patient's invitation email; failures are retried by the sweeper."""
    return services.invitation_send(enrolment_id=enrolment_id)


def _shared_fhir_client() -> FhirClient:
    # Kept per worker thread like the transport, so PKB's token is reused until it expires.
    key = _settings_key(*_FHIR_SETTINGS)
    client: FhirClient | None = getattr(_local, "fhir_client", None)
    if client is None or getattr(_local, "fhir_client_key", None) != key:
        if client is not None:
            client.close()
        client = client_from_settings()
        _local.fhir_client = client
        _local.fhir_client_key = key
    return client


@shared_task(acks_late=True, ignore_result=True)
def fhir_send() -> int:
    """Every PKB_SWEEP_INTERVAL_S when PKB_FHIR_ENABLED: send pending questionnaire requests
    through PKB's FHIR API. Returns how many were sent. Safe to repeat."""
    if not settings.PKB_FHIR_ENABLED:
        return 0
    from pkb_bridge.fhir import services as fhir_services

    return fhir_services.questionnaire_requests_send(client=_shared_fhir_client()).sent


@shared_task(acks_late=True, ignore_result=True)
def fhir_poll() -> int:
    """Every PKB_FHIR_POLL_INTERVAL_S when PKB_FHIR_ENABLED: fetch and file questionnaire
    responses and patient-entered observations. Returns how many were received. Safe to
    repeat: each resource is filed once."""
    if not settings.PKB_FHIR_ENABLED:
        return 0
    from pkb_bridge.fhir import services as fhir_services

    return sum(fhir_services.poll(client=_shared_fhir_client()).received.values())
