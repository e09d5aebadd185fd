"""The PKB bridge's part of ``/metrics`` and ``rms_status``: registered with
``rms.ops.metrics.register_collector`` in ``PkbBridgeConfig.ready``."""

from __future__ import annotations

from collections.abc import Iterator

from django.db.models import Count, Min, Q
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from pkb_bridge.models import Connection, DeliveryAttempt, Enrolment, OutboundMessage
from rms.ops.metrics import OpsSnapshot, counts_by_status, labelled


def read(snapshot: OpsSnapshot) -> None:
    """The outbox, the delivery attempts and their ACKs, the connection and invitations."""
    statuses = [str(status) for status in OutboundMessage.Status.values]
    totals = OutboundMessage.objects.aggregate(
        **counts_by_status(statuses),
        oldest_pending=Min("created_at", filter=Q(status="pending")),
        stalled=Count(
            "id", filter=Q(status__in=["pending", "in_flight"], stalled_at__isnull=False)
        ),
    )
    snapshot.oldest_pending_at = totals["oldest_pending"]
    snapshot.stalled = totals["stalled"]
    snapshot.outbox = {status: totals[f"n_{status}"] for status in statuses}

    row = Connection.objects.filter(name="pkb").values("paused", "paused_at", "paused_reason")
    if state := row.first():
        snapshot.connection_paused = bool(state["paused"])
        snapshot.connection_paused_at = state["paused_at"]
        snapshot.connection_paused_reason = state["paused_reason"]

    snapshot.attempts = dict.fromkeys([str(o) for o in DeliveryAttempt.Outcome.values], 0)
    snapshot.acks = {"AA": 0, "AE": 0, "AR": 0}
    grouped = DeliveryAttempt.objects.order_by().values("outcome", "ack_code")
    for group in grouped.annotate(n=Count("id")):
        snapshot.attempts[group["outcome"]] = (
            snapshot.attempts.get(group["outcome"], 0) + group["n"]
        )
        if group["ack_code"]:
            code = group["ack_code"]
            snapshot.acks[code] = snapshot.acks.get(code, 0) + group["n"]

    snapshot.invitations_failed = Enrolment.objects.filter(
        status="active", invitation="failed"
    ).count()


def families(snapshot: OpsSnapshot) -> Iterator[Metric]:
    if snapshot.outbox is not None:
        yield labelled(
            GaugeMetricFamily,
            "rms_pkb_outbox_messages",
            "PKB outbox messages by status",
            ["status"],
            snapshot.outbox,
        )
        yield GaugeMetricFamily(
            "rms_pkb_outbox_oldest_pending_age_seconds",
            "Age of the oldest message waiting to be sent to PKB (0 when none waits)",
            value=snapshot.age_s(snapshot.oldest_pending_at),
        )
        yield GaugeMetricFamily(
            "rms_pkb_outbox_stalled_messages",
            "Messages to PKB that keep failing past PKB_STALL_AFTER_ATTEMPTS or "
            "PKB_STALL_AFTER_HOURS (still retried; an administrator has a work item)",
            value=snapshot.stalled,
        )
        yield GaugeMetricFamily(
            "rms_pkb_connection_paused",
            "1 while sending to PKB is paused (PKB refused our credentials or address)",
            value=1 if snapshot.connection_paused else 0,
        )
        yield labelled(
            CounterMetricFamily,
            "rms_pkb_delivery_attempts",
            "Attempts to deliver a message to PKB by outcome (all but accepted are failures)",
            ["outcome"],
            snapshot.attempts,
        )
        yield labelled(
            CounterMetricFamily,
            "rms_pkb_acks",
            "Acknowledgements received from PKB by code (MSA-1)",
            ["code"],
            snapshot.acks,
        )
        yield GaugeMetricFamily(
            "rms_pkb_invitations_failed",
            "Shared patients whose invitation email could not be sent",
            value=snapshot.invitations_failed,
        )
