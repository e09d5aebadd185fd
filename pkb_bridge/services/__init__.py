"""Writes of the PKB bridge. Import from here: ``from pkb_bridge import services``."""

from __future__ import annotations

from pkb_bridge.services.delivery import (
    bodies_prune,
    connection_resume,
    dispatch,
    message_cancel,
    message_claim,
    message_requeue,
    message_send,
    messages_release_orphaned,
    messages_requeue_stuck,
    transport_from_settings,
)
from pkb_bridge.services.enrolment import (
    active_enrolment,
    enrolment_opt_in,
    enrolment_withdraw,
    on_appointment_changed,
    on_diagnoses_changed,
    on_document_changed,
    on_patient_changed,
    on_result_corrected,
    on_result_deleted,
    on_result_recorded,
    opt_in_refusal,
)
from pkb_bridge.services.invitations import (
    invitation_resend,
    invitation_send,
    invitations_due,
    on_registration_accepted,
)
from pkb_bridge.services.outbox import message_enqueue
from pkb_bridge.services.publication import (
    publication_create,
    publication_hold,
    publication_release,
    publications_auto_release,
    publications_auto_release_notify,
)

__all__ = [
    "active_enrolment",
    "bodies_prune",
    "connection_resume",
    "dispatch",
    "enrolment_opt_in",
    "enrolment_withdraw",
    "invitation_resend",
    "invitation_send",
    "invitations_due",
    "message_cancel",
    "message_claim",
    "message_enqueue",
    "message_requeue",
    "message_send",
    "messages_release_orphaned",
    "messages_requeue_stuck",
    "on_appointment_changed",
    "on_diagnoses_changed",
    "on_document_changed",
    "on_patient_changed",
    "on_registration_accepted",
    "on_result_corrected",
    "on_result_deleted",
    "on_result_recorded",
    "opt_in_refusal",
    "publication_create",
    "publication_hold",
    "publication_release",
    "publications_auto_release",
    "publications_auto_release_notify",
    "transport_from_settings",
]
