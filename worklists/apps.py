from __future__ import annotations

from django.apps import AppConfig


class WorklistsConfig(AppConfig):
    name = "worklists"
    verbose_name = "Worklists"

    def ready(self) -> None:
        from pkb_bridge import signals as pkb_signals
        from rms import signals
        from rms.ops.metrics import register_collector
        from worklists import audit, metrics, receivers  # noqa: F401  (audit registers the models)

        register_collector("worklists", metrics.read, metrics.families)

        uid = "worklists"
        pkb_signals.message_rejected.connect(
            receivers.message_rejected, dispatch_uid=f"{uid}.message_rejected"
        )
        pkb_signals.message_delivered.connect(
            receivers.message_delivered, dispatch_uid=f"{uid}.message_delivered"
        )
        pkb_signals.message_stalled.connect(
            receivers.message_stalled, dispatch_uid=f"{uid}.message_stalled"
        )
        pkb_signals.stalls_cleared.connect(
            receivers.stalls_cleared, dispatch_uid=f"{uid}.stalls_cleared"
        )
        pkb_signals.auto_release_due.connect(
            receivers.auto_release_due, dispatch_uid=f"{uid}.auto_release_due"
        )
        pkb_signals.auto_release_settled.connect(
            receivers.auto_release_settled, dispatch_uid=f"{uid}.auto_release_settled"
        )
        pkb_signals.nhs_number_unverified.connect(
            receivers.nhs_number_unverified, dispatch_uid=f"{uid}.nhs_number_unverified"
        )
        pkb_signals.nhs_number_verified.connect(
            receivers.nhs_number_verified, dispatch_uid=f"{uid}.nhs_number_verified"
        )
        pkb_signals.registration_email_refused.connect(
            receivers.registration_email_refused,
            dispatch_uid=f"{uid}.registration_email_refused",
        )
        pkb_signals.onboarding_needed.connect(
            receivers.onboarding_needed, dispatch_uid=f"{uid}.onboarding_needed"
        )
        pkb_signals.invitation_failed.connect(
            receivers.invitation_failed, dispatch_uid=f"{uid}.invitation_failed"
        )
        signals.inbound_held.connect(receivers.inbound_held, dispatch_uid=f"{uid}.inbound_held")
        signals.inbound_filed.connect(receivers.inbound_filed, dispatch_uid=f"{uid}.inbound_filed")
        signals.resource_reviewed.connect(
            receivers.resource_reviewed, dispatch_uid=f"{uid}.resource_reviewed"
        )
