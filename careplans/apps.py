from __future__ import annotations

from django.apps import AppConfig


class CareplansConfig(AppConfig):
    name = "careplans"
    verbose_name = "Follow-up plans and care plans"

    def ready(self) -> None:
        from careplans import audit, receivers  # noqa: F401  (audit registers the models)
        from rms import signals

        for name, signal in (
            ("recorded", signals.result_recorded),
            ("corrected", signals.result_corrected),
            ("deleted", signals.result_deleted),
        ):
            signal.connect(receivers.result_changed, dispatch_uid=f"careplans.result_{name}")
        signals.history_patients.connect(
            receivers.history_patients, dispatch_uid="careplans.history_patients"
        )
        signals.history_imported.connect(
            receivers.history_imported, dispatch_uid="careplans.history_imported"
        )
        signals.resource_reviewed.connect(
            receivers.resource_reviewed, dispatch_uid="careplans.resource_reviewed"
        )
