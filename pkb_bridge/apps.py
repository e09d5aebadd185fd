from __future__ import annotations

from django.apps import AppConfig


class PkbBridgeConfig(AppConfig):
    name = "pkb_bridge"
    verbose_name = "Patients Know Best bridge"

    def ready(self) -> None:
        from django.db.models.signals import post_save

        from pkb_bridge import metrics
        from rms.ops.metrics import register_collector

        register_collector("pkb_bridge", metrics.read, metrics.families)

        from pkb_bridge import audit, receivers  # noqa: F401  (audit registers the models)
        from rms import signals
        from worklists.models import WorkItem

        uid = "pkb_bridge"
        signals.result_recorded.connect(receivers.result_recorded, dispatch_uid=f"{uid}.recorded")
        signals.result_corrected.connect(
            receivers.result_corrected, dispatch_uid=f"{uid}.corrected"
        )
        signals.result_deleted.connect(receivers.result_deleted, dispatch_uid=f"{uid}.deleted")
        signals.appointment_changed.connect(
            receivers.appointment_changed, dispatch_uid=f"{uid}.appointment"
        )
        signals.document_changed.connect(receivers.document_changed, dispatch_uid=f"{uid}.document")
        signals.diagnoses_changed.connect(
            receivers.diagnoses_changed, dispatch_uid=f"{uid}.diagnoses"
        )
        signals.patient_changed.connect(receivers.patient_changed, dispatch_uid=f"{uid}.patient")
        signals.history_patients.connect(receivers.history_patients, dispatch_uid=f"{uid}.hp")
        signals.history_publish.connect(receivers.history_publish, dispatch_uid=f"{uid}.hi")
        # worklists has no signal of its own for a raised item: a breach is one row, saved once.
        post_save.connect(receivers.work_item_saved, sender=WorkItem, dispatch_uid=f"{uid}.breach")
