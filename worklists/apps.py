from __future__ import annotations

from django.apps import AppConfig


class WorklistsConfig(AppConfig):
    name = "worklists"
    verbose_name = "Worklists"

    def ready(self) -> None:
        from rms import signals
        from rms.ops.metrics import register_collector
        from worklists import audit, metrics, receivers  # noqa: F401  (audit registers the models)

        register_collector("worklists", metrics.read, metrics.families)

        uid = "worklists"
        signals.inbound_held.connect(receivers.inbound_held, dispatch_uid=f"{uid}.inbound_held")
        signals.inbound_filed.connect(receivers.inbound_filed, dispatch_uid=f"{uid}.inbound_filed")
