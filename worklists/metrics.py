"""The worklists' part of ``/metrics`` and ``rms_status``: registered with
``rms.ops.metrics.register_collector`` in ``WorklistsConfig.ready``."""

from __future__ import annotations

from collections.abc import Iterator

from django.db.models import Count
from prometheus_client.core import GaugeMetricFamily, Metric

from rms.ops.metrics import OpsSnapshot, labelled
from worklists.models import WorkItem


def read(snapshot: OpsSnapshot) -> None:
    """Open and in-progress work items by kind."""
    active = ["open", "in_progress"]
    counts = {(str(kind), status): 0 for kind in WorkItem.Kind.values for status in active}
    grouped = WorkItem.objects.filter(status__in=active).order_by().values("kind", "status")
    for row in grouped.annotate(n=Count("id")):
        counts[(row["kind"], row["status"])] = row["n"]
    snapshot.work_items = counts


def families(snapshot: OpsSnapshot) -> Iterator[Metric]:
    if snapshot.work_items is not None:
        yield labelled(
            GaugeMetricFamily,
            "rms_work_items_open",
            "Work items not yet done or dismissed, by kind and status",
            ["kind", "status"],
            snapshot.work_items,
        )
