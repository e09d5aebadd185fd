"""Telling people that something needs them: the worklists listen to these signals; until a
person acts, the delivery view and the admin queues show the same rows."""

from __future__ import annotations

from pkb_bridge import signals
from pkb_bridge.models import OutboundMessage


def on_message_rejected(*, message_id: int) -> None:
    """Announce a rejected message (inside the transaction that recorded the rejection)."""
    message = OutboundMessage.objects.select_related("patient", "enrolment").get(pk=message_id)
    signals.message_rejected.send(sender=OutboundMessage, message=message)
