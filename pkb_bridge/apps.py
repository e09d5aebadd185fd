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
        from pkb_bridge import signals as own
        from rms import events, signals
        from worklists.models import WorkItem

        uid = "pkb_bridge"
        # Results, appointments, documents, demographics and diagnoses, in the order filed per
        # patient. After monitoring: a breach it raises holds its evidence before the result
        # is queued (monitoring consumes only the results' events).
        events.register_consumer(
            "pkb_bridge.share",
            receivers.SHARED_EVENTS,
            receivers.share_event,
            after=["careplans.monitoring"],
            idle=receivers.unshared_patients,
            idle_kinds=receivers.IDLE_KINDS,
        )
        signals.history_patients.connect(receivers.history_patients, dispatch_uid=f"{uid}.hp")
        signals.history_publish.connect(receivers.history_publish, dispatch_uid=f"{uid}.hi")
        # worklists has no signal of its own for a raised item: a breach is one row, saved once.
        post_save.connect(receivers.work_item_saved, sender=WorkItem, dispatch_uid=f"{uid}.breach")
        from careplans import signals as careplans_signals

        careplans_signals.portal_patients.connect(
            receivers.portal_patients, dispatch_uid=f"{uid}.portal_patients"
        )
        # The bridge's own signals raise and close its work items (pkb_bridge.work_items).
        for name in (
            "message_rejected",
            "message_delivered",
            "message_stalled",
            "stalls_cleared",
            "auto_release_due",
            "auto_release_settled",
            "nhs_number_unverified",
            "nhs_number_verified",
            "registration_email_refused",
            "onboarding_needed",
            "invitation_failed",
        ):
            getattr(own, name).connect(getattr(receivers, name), dispatch_uid=f"{uid}.{name}")
