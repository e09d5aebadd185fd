"""Celery tasks of the PKB bridge: thin, taking ids, each calling one service.

The outbox is the record; these are the doorbell. ``dispatch`` is rung on commit of every
new message and by the sweeper; losing a ring (Redis down, a worker killed) costs at most one
sweep interval, never a message (docs/adr/0003-pkb-outbox.md).
"""

from __future__ import annotations

import logging
import threading

from celery import shared_task
from django.conf import settings

from pkb_bridge import services
from pkb_bridge.transport import PkbTransport

logger = logging.getLogger("pkb_bridge")

# One transport per worker thread (one per process with the prefork pool): its keep-alive
# connection is reused across tasks, and a transport sends one message at a time.
_local = threading.local()


def _shared_transport() -> PkbTransport:
    transport: PkbTransport | None = getattr(_local, "transport", None)
    if transport is None:
        transport = services.transport_from_settings()
        _local.transport = transport
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
    services.messages_requeue_stuck()
    services.publications_auto_release()
    for enrolment_id in services.invitations_due():
        send_invitation.delay(enrolment_id)
    services.bodies_prune()
    from pkb_bridge.services.delivery import pending_due

    if pending_due():
        for _ in range(settings.PKB_MAX_IN_FLIGHT):
            dispatch.delay()


@shared_task(acks_late=True, ignore_result=True)
def send_invitation(enrolment_id: int) -> str:
    """Send one patient's invitation email; failures are retried by the sweeper."""
    return services.invitation_send(enrolment_id=enrolment_id)
