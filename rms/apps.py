from __future__ import annotations

from django.apps import AppConfig


class RmsConfig(AppConfig):
    name = "rms"
    verbose_name = "Clinical record"

    def ready(self) -> None:
        from rms import audit  # noqa: F401  (registers the clinical models with auditlog)
        from rms.ops import (
            checks,  # noqa: F401  (registers the database's system checks)
            metrics,
        )

        metrics.register_collector("inbound", metrics.read_inbound, metrics.inbound_families)
        metrics.register_collector("events", metrics.read_events, metrics.event_families)
