"""``/metrics``: Prometheus text format, read from the database at scrape time.

Every number is a count of rows, so any web process answers the same and nothing resets when
a process restarts (no in-process counters: gunicorn runs several workers, Celery more).
Failures are counted where they are recorded: PKB delivery attempts by outcome (``transient``,
``rejected``, ``paused``, ``refused``), inbound messages in ``error``, invitation emails that
failed. A Celery task that crashes is seen with ``celery -A rms events`` or Flower
(docs/operations.md).

Protected: ``Authorization: Bearer <METRICS_TOKEN>``, or the session of an active staff
user. The numbers are counts, never patient data, but they say how busy a Trust's teams are.

``rms`` depends on no other app (README, Architecture): each app registers its collector
(``register_collector``) in its ``AppConfig.ready``; an app that is not installed registers
none, and its metrics are left out.
"""

from __future__ import annotations

import datetime as dt
import hmac
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import DatabaseError
from django.db.models import Count, Max, Min, Q
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


@dataclass
class OpsSnapshot:
    """What the metrics and ``rms_status`` report, read in a fixed number of queries."""

    taken_at: dt.datetime
    # PKB bridge, filled by its collector (None when the app is not installed)
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
    # worklists, filled by its collector (None when the app is not installed): open and
    # in-progress items
    work_items: dict[tuple[str, str], int] | None = None

    def age_s(self, moment: dt.datetime | None) -> float:
        return max((self.taken_at - moment).total_seconds(), 0.0) if moment else 0.0


SnapshotReader = Callable[[OpsSnapshot], None]
FamilyWriter = Callable[[OpsSnapshot], Iterable[Metric]]


@dataclass(frozen=True)
class _Registered:
    read: SnapshotReader
    families: FamilyWriter


_collectors: dict[str, _Registered] = {}


def register_collector(name: str, read: SnapshotReader, families: FamilyWriter) -> None:
    """Add an app's metrics: ``read`` fills its fields of the snapshot (a fixed number of
    queries), ``families`` turns them into Prometheus families. Each app registers in its
    ``AppConfig.ready``, so that ``rms`` reads no model of an app above it; registering the
    same name again replaces the collector (safe to run twice)."""
    _collectors[name] = _Registered(read=read, families=families)


def labelled(
    family: type[GaugeMetricFamily] | type[CounterMetricFamily],
    name: str,
    documentation: str,
    labels: list[str],
    counts: Mapping[Any, float],
) -> Metric:
    """A gauge or counter family with one sample per key of ``counts`` (a label value, or a
    tuple of them in the order of ``labels``)."""
    metric = family(name, documentation, labels=labels)
    for key, count in counts.items():
        metric.add_metric(list(key) if isinstance(key, tuple) else [key], count)
    return metric


def registered_collectors() -> list[str]:
    """The names of the registered collectors, in the order they report."""
    return list(_collectors)


def counts_by_status(statuses: list[str]) -> dict[str, Count]:
    # Aliases are prefixed: a status can share its name with a field ("error").
    return {f"n_{status}": Count("id", filter=Q(status=status)) for status in statuses}


def read_inbound(snapshot: OpsSnapshot) -> None:
    statuses = InboundMessage.Status.values
    totals = InboundMessage.objects.order_by().aggregate(
        **counts_by_status(statuses),
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


def read_events(snapshot: OpsSnapshot) -> None:
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


def snapshot_take(*, now: dt.datetime | None = None) -> OpsSnapshot:
    """Read the operational state: every registered collector reads its part. Raises
    ``DatabaseError`` when the database is down."""
    snapshot = OpsSnapshot(taken_at=now or timezone.now())
    for collector in _collectors.values():
        collector.read(snapshot)
    return snapshot


def inbound_families(snapshot: OpsSnapshot) -> Iterator[Metric]:
    yield labelled(
        GaugeMetricFamily,
        "rms_inbound_messages",
        "Inbound HL7 messages by status",
        ["status"],
        snapshot.inbound,
    )
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
    yield labelled(
        GaugeMetricFamily,
        "rms_inbound_sender_refusals",
        "Inbound messages refused or held because of who sent them (docs/security.md): "
        "not_allowed (MSH-3/MSH-4 not allowed from where it came), not_pas (demographics "
        "from a sender that is not the PAS), other_sender (a change to another sender's result)",
        ["reason"],
        snapshot.inbound_sender_checks,
    )
    yield labelled(
        GaugeMetricFamily,
        "rms_inbound_last_received_timestamp_seconds",
        "When the latest inbound message arrived, by channel (Unix time)",
        ["channel"],
        {channel: moment.timestamp() for channel, moment in snapshot.last_received_at.items()},
    )


def _families(snapshot: OpsSnapshot) -> Iterator[Metric]:
    for collector in _collectors.values():
        yield from collector.families(snapshot)


def event_families(snapshot: OpsSnapshot) -> Iterator[Metric]:
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
