from __future__ import annotations

from django.apps import AppConfig


class WorklistsConfig(AppConfig):
    name = "worklists"
    verbose_name = "Worklists"

    def ready(self) -> None:
        from rms import signals
        from worklists import audit, receivers  # noqa: F401  (audit registers the models)

        uid = "worklists"
        signals.inbound_held.connect(receivers.inbound_held, dispatch_uid=f"{uid}.inbound_held")
        signals.inbound_filed.connect(receivers.inbound_filed, dispatch_uid=f"{uid}.inbound_filed")
