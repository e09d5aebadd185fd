"""``/metrics``: Prometheus text format, read from the database at scrape time.

Every number is a count of rows, so any web process answers the same and nothing resets when
a process restarts (no in-process counters: gunicorn runs several workers, Celery more).
Failures are counted where they are recorded: PKB delivery attempts by outcome (``transient``,
``rejected``, ``paused``, ``refused``), inbound messages in ``error``, invitation emails that
failed. A Celery task that crashes is seen with ``celery -A rms events`` or Flower
(docs/operations.md).

Protected: ``Authorization: Bearer <METRICS_TOKEN>``, or the session of an active staff
user. The numbers are counts, never patient data, but they say how busy a Trust's teams are.

``rms`` depends on no other app (README, Architecture): the PKB and worklist models are
looked up by label, as ``rms.urls`` includes their URLs by dotted path, and their metrics
are left out when the app is not installed.
"""

from __future__ import annotations

import datetime as dt
import hmac
import logging
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from django.apps import apps
from django.conf import settings
from django.db import DatabaseError
from django.db.models import Count, Max, Min, Model, Q
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from rms import events
from rms.inbound.receive import QUEUED
from rms.models import EventDelivery, InboundMessage

logger = logging.getLogger("rms.ops")


def _model(label: str) -> type[Model] | None:
    try:
        return apps.get_model(label)
    except LookupError:
        return None


def _choices(model: type[Model], name: str) -> list[str]:
    choices = getattr(model._meta.get_field(name), "choices", None) or []
    return [str(value) for value, _label in choices]


@dataclass
class OpsSnapshot:
    """What the metrics and ``rms_status`` report, read in a fixed number of queries."""

    taken_at: dt.datetime
    # PKB bridge (None when the app is not installed)
    outbox: dict[str, int] | None = None
    oldest_pending_at: dt.datetime | None = None
    connection_paused: bool = False
    connection_paused_at: dt.datetime | None = None
    connection_paused_reason: str = ""
    attempts: dict[str, int] = field(default_factory=dict)  # by outcome
    acks: dict[str, int] = field(default_factory=dict)  # by ACK code
    invitations_failed: int = 0
    stalled: int = 0  # messages still to go that failed past PKB_STALL_AFTER_*
    # inbound feeds
    inbound: dict[str, int] = field(default_factory=dict)  # by status
    oldest_unmatched_at: dt.datetime | None = None
    oldest_unfiled_at: dt.datetime | None = None  # stored and acknowledged, not yet filed
    last_received_at: dict[str, dt.datetime] = field(default_factory=dict)  # by channel
    # refused or held because of who sent them (InboundMessage.SenderCheck), by reason
    inbound_sender_checks: dict[str, int] = field(default_factory=dict)
    # domain events, by consumer: deliveries not yet done, those of them that failed, and
    # the lag p95 (seconds from the event's commit to its consumption) over EVENTS_LAG_WINDOW
    events_pending: dict[str, int] = field(default_factory=dict)
    events_failing: dict[str, int] = field(default_factory=dict)
    events_lag_p95: dict[str, float] = field(default_factory=dict)
    # worklists (None when the app is not installed): open and in-progress items
    work_items: dict[tuple[str, str], int] | None = None

    def age_s(self, moment: dt.datetime | None) -> float:
        return max((self.taken_at - moment).total_seconds(), 0.0) if moment else 0.0


def _counts_by_status(statuses: list[str]) -> dict[str, Count]:
    # Aliases are prefixed: a status can share its name with a field ("error").
    return {f"n_{status}": Count("id", filter=Q(status=status)) for status in statuses}


def _read_pkb(snapshot: OpsSnapshot) -> None:
    message = _model("pkb_bridge.OutboundMessage")
    attempt = _model("pkb_bridge.DeliveryAttempt")
    connection = _model("pkb_bridge.Connection")
    enrolment = _model("pkb_bridge.Enrolment")
    if message is None or attempt is None or connection is None or enrolment is None:
        return
    statuses = _choices(message, "status")
    totals = message._default_manager.aggregate(
        **_counts_by_status(statuses),
        oldest_pending=Min("created_at", filter=Q(status="pending")),
        stalled=Count(
            "id", filter=Q(status__in=["pending", "in_flight"], stalled_at__isnull=False)
        ),
    )
    snapshot.oldest_pending_at = totals["oldest_pending"]
    snapshot.stalled = totals["stalled"]
    snapshot.outbox = {status: totals[f"n_{status}"] for status in statuses}

    row = connection._default_manager.filter(name="pkb").values(
        "paused", "paused_at", "paused_reason"
    )
    if state := row.first():
        snapshot.connection_paused = bool(state["paused"])
        snapshot.connection_paused_at = state["paused_at"]
        snapshot.connection_paused_reason = state["paused_reason"]

    snapshot.attempts = dict.fromkeys(_choices(attempt, "outcome"), 0)
    snapshot.acks = {"AA": 0, "AE": 0, "AR": 0}
    grouped = attempt._default_manager.order_by().values("outcome", "ack_code")
    for group in grouped.annotate(n=Count("id")):
        snapshot.attempts[group["outcome"]] = (
            snapshot.attempts.get(group["outcome"], 0) + group["n"]
        )
        if group["ack_code"]:
            code = group["ack_code"]
            snapshot.acks[code] = snapshot.acks.get(code, 0) + group["n"]

    snapshot.invitations_failed = enrolment._default_manager.filter(
        status="active", invitation="failed"
    ).count()


def _read_inbound(snapshot: OpsSnapshot) -> None:
    statuses = InboundMessage.Status.values
    totals = InboundMessage.objects.order_by().aggregate(
        **_counts_by_status(statuses),
        oldest_unmatched=Min("received_at", filter=Q(status=InboundMessage.Status.UNMATCHED)),
        oldest_unfiled=Min("received_at", filter=Q(**QUEUED)),
        **{
            f"sender_{check}": Count("id", filter=Q(sender_check=check))
            for check in InboundMessage.SenderCheck.values
        },
    )
    snapshot.inbound_sender_checks = {
        check: totals[f"sender_{check}"] for check in InboundMessage.SenderCheck.values
    }
    snapshot.oldest_unmatched_at = totals["oldest_unmatched"]
    snapshot.oldest_unfiled_at = totals["oldest_unfiled"]
    snapshot.inbound = {status: totals[f"n_{status}"] for status in statuses}
    latest = InboundMessage.objects.order_by().values("channel").annotate(last=Max("received_at"))
    snapshot.last_received_at = {row["channel"]: row["last"] for row in latest}


# The window of the events' lag p95: long enough for a steady figure, short enough to show a
# backlog as it builds.
EVENTS_LAG_WINDOW = dt.timedelta(minutes=5)


def _read_events(snapshot: OpsSnapshot) -> None:
    pending = EventDelivery.objects.filter(done_at__isnull=True).order_by()
    counts = pending.values("consumer").annotate(
        n=Count("id"), failing=Count("id", filter=Q(attempts__gt=0))
    )
    names = [consumer.name for consumer in events.consumers()]
    snapshot.events_pending = dict.fromkeys(names, 0)
    snapshot.events_failing = dict.fromkeys(names, 0)
    for row in counts:
        snapshot.events_pending[row["consumer"]] = row["n"]
        snapshot.events_failing[row["consumer"]] = row["failing"]
    snapshot.events_lag_p95 = {
        **dict.fromkeys(names, 0.0),
        **events.lag_p95(since=snapshot.taken_at - EVENTS_LAG_WINDOW),
    }


def _read_work_items(snapshot: OpsSnapshot) -> None:
    item = _model("worklists.WorkItem")
    if item is None:
        return
    active = ["open", "in_progress"]
    counts = {(kind, status): 0 for kind in _choices(item, "kind") for status in active}
    grouped = item._default_manager.filter(status__in=active).order_by().values("kind", "status")
    for row in grouped.annotate(n=Count("id")):
        counts[(row["kind"], row["status"])] = row["n"]
    snapshot.work_items = counts


def snapshot_take(*, now: dt.datetime | None = None) -> OpsSnapshot:
    """Read the operational state. Raises ``DatabaseError`` when the database is down."""
    snapshot = OpsSnapshot(taken_at=now or timezone.now())
    _read_pkb(snapshot)
    _read_inbound(snapshot)
    _read_events(snapshot)
    _read_work_items(snapshot)
    return snapshot


def _families(snapshot: OpsSnapshot) -> Iterator[Metric]:
    if snapshot.outbox is not None:
        outbox = GaugeMetricFamily(
            "rms_pkb_outbox_messages", "PKB outbox messages by status", labels=["status"]
        )
        for status, count in snapshot.outbox.items():
            outbox.add_metric([status], count)
        yield outbox
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
        attempts = CounterMetricFamily(
            "rms_pkb_delivery_attempts",
            "Attempts to deliver a message to PKB by outcome (all but accepted are failures)",
            labels=["outcome"],
        )
        for outcome, count in snapshot.attempts.items():
            attempts.add_metric([outcome], count)
        yield attempts
        acks = CounterMetricFamily(
            "rms_pkb_acks", "Acknowledgements received from PKB by code (MSA-1)", labels=["code"]
        )
        for code, count in snapshot.acks.items():
            acks.add_metric([code], count)
        yield acks
        yield GaugeMetricFamily(
            "rms_pkb_invitations_failed",
            "Shared patients whose invitation email could not be sent",
            value=snapshot.invitations_failed,
        )
    inbound = GaugeMetricFamily(
        "rms_inbound_messages", "Inbound HL7 messages by status", labels=["status"]
    )
    for status, count in snapshot.inbound.items():
        inbound.add_metric([status], count)
    yield inbound
    yield GaugeMetricFamily(
        "rms_inbound_unmatched_messages",
        "Inbound messages held because no patient matched",
        value=snapshot.inbound.get(InboundMessage.Status.UNMATCHED, 0),
    )
    yield GaugeMetricFamily(
        "rms_inbound_oldest_unmatched_age_seconds",
        "Age of the oldest unmatched inbound message (0 when none)",
        value=snapshot.age_s(snapshot.oldest_unmatched_at),
    )
    yield GaugeMetricFamily(
        "rms_inbound_oldest_unfiled_age_seconds",
        "Age of the oldest message acknowledged on storing and not yet filed (0 when none)",
        value=snapshot.age_s(snapshot.oldest_unfiled_at),
    )
    refused = GaugeMetricFamily(
        "rms_inbound_sender_refusals",
        "Inbound messages refused or held because of who sent them (docs/security.md): "
        "not_allowed (MSH-3/MSH-4 not allowed from where it came), not_pas (demographics "
        "from a sender that is not the PAS), other_sender (a change to another sender's result)",
        labels=["reason"],
    )
    for check, count in snapshot.inbound_sender_checks.items():
        refused.add_metric([check], count)
    yield refused
    last = GaugeMetricFamily(
        "rms_inbound_last_received_timestamp_seconds",
        "When the latest inbound message arrived, by channel (Unix time)",
        labels=["channel"],
    )
    for channel, moment in snapshot.last_received_at.items():
        last.add_metric([channel], moment.timestamp())
    yield last
    yield from _event_families(snapshot)
    if snapshot.work_items is not None:
        items = GaugeMetricFamily(
            "rms_work_items_open",
            "Work items not yet done or dismissed, by kind and status",
            labels=["kind", "status"],
        )
        for (kind, status), count in snapshot.work_items.items():
            items.add_metric([kind, status], count)
        yield items


def _event_families(snapshot: OpsSnapshot) -> Iterator[Metric]:
    for name, documentation, values in (
        (
            "rms_event_deliveries_pending",
            "Domain events a consumer has not yet consumed, by consumer",
            snapshot.events_pending,
        ),
        (
            "rms_event_deliveries_failing",
            "Domain events a consumer failed on and will retry, by consumer",
            snapshot.events_failing,
        ),
        (
            "rms_event_lag_p95_seconds",
            "95th percentile of the seconds from a domain event's commit to its consumption, "
            "over the last five minutes, by consumer (0 when none was consumed)",
            snapshot.events_lag_p95,
        ),
    ):
        family = GaugeMetricFamily(name, documentation, labels=["consumer"])
        for consumer, value in values.items():
            family.add_metric([consumer], value)
        yield family


class RmsCollector(Collector):
    """Reads the database on every scrape. ``describe`` is empty so that registering the
    collector (at import) runs no query."""

    def describe(self) -> Iterable[Metric]:
        return []

    def collect(self) -> Iterable[Metric]:
        started = time.monotonic()
        families: list[Metric] = []
        try:
            families = list(_families(snapshot_take()))
        except DatabaseError as exc:
            logger.warning("Metrics could not read the database: %s", type(exc).__name__)
        yield GaugeMetricFamily(
            "rms_database_up",
            "1 when the metrics could read the database",
            value=1 if families else 0,
        )
        yield from families
        yield GaugeMetricFamily(
            "rms_metrics_collect_seconds",
            "Time this scrape spent reading the database",
            value=time.monotonic() - started,
        )


# Our own registry: the default one adds per-process metrics that differ from one gunicorn
# worker to the next, which would make successive scrapes disagree.
registry = CollectorRegistry(auto_describe=False)
registry.register(RmsCollector())


def _bearer(request: HttpRequest) -> str | None:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def _unauthorised(error: str = "") -> HttpResponse:
    response = HttpResponse("Authentication required.\n", status=401, content_type="text/plain")
    challenge = 'Bearer realm="metrics"'
    if error:
        challenge += f', error="{error}"'
    response["WWW-Authenticate"] = challenge
    return response


@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    """The metrics for a scraper with the bearer token or a staff user's browser; 401 for
    no or a wrong token, 403 for a signed-in user who is not staff."""
    token = _bearer(request)
    if token is not None:
        expected: str = settings.METRICS_TOKEN
        if not expected or not hmac.compare_digest(token.encode(), expected.encode()):
            return _unauthorised("invalid_token")
    elif not request.user.is_authenticated:
        return _unauthorised()
    elif not (request.user.is_active and request.user.is_staff):
        return HttpResponse("Staff only.\n", status=403, content_type="text/plain")
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
