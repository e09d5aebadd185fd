from __future__ import annotations

from django.apps import AppConfig


class CareplansConfig(AppConfig):
    name = "careplans"
    verbose_name = "Follow-up plans and care plans"

    def ready(self) -> None:
        from careplans import audit, receivers  # noqa: F401  (audit registers the models)
        from rms import events, signals

        events.register_consumer(
            "careplans.monitoring",
            receivers.RESULT_EVENTS,
            receivers.result_event,
            idle=receivers.idle_patients,
            idle_kinds=receivers.RESULT_EVENTS,
        )
        signals.history_patients.connect(
            receivers.history_patients, dispatch_uid="careplans.history_patients"
        )
        signals.history_imported.connect(
            receivers.history_imported, dispatch_uid="careplans.history_imported"
        )
