"""Receivers of the PKB bridge's and the core's signals: each a one-line call of a worklists
service, inside the transaction of the change that caused it, so the work item is committed
with that change or not at all. Connected in ``WorklistsConfig.ready``.

The PKB bridge's signals carry no actor (they come from the dispatcher and the invitation
sweeper, background jobs): those items are raised by the system actor.
"""

from __future__ import annotations

from typing import Any

from rms.services import system_user
from worklists import services


def message_rejected(sender: Any, *, message: Any, **kwargs: Any) -> None:
    services.work_item_raise_for_rejected_message(message=message, actor=system_user())


def message_stalled(sender: Any, *, message: Any, **kwargs: Any) -> None:
    services.work_item_raise_for_stalled_message(message=message, actor=system_user())


def stalls_cleared(sender: Any, **kwargs: Any) -> None:
    services.work_items_close_for_cleared_stalls(actor=system_user())


def auto_release_due(sender: Any, *, publication: Any, **kwargs: Any) -> None:
    services.work_item_raise_for_auto_release(publication=publication, actor=system_user())


def auto_release_settled(sender: Any, *, publication: Any, **kwargs: Any) -> None:
    services.work_items_close_for_settled_auto_release(
        publication=publication, actor=publication.decided_by or system_user()
    )


def nhs_number_unverified(sender: Any, *, enrolment: Any, **kwargs: Any) -> None:
    services.work_item_raise_for_unverified_nhs_number(enrolment=enrolment, actor=system_user())


def nhs_number_verified(sender: Any, *, enrolment: Any, **kwargs: Any) -> None:
    services.work_items_close_for_verified_nhs_number(enrolment=enrolment, actor=system_user())


def registration_email_refused(sender: Any, *, enrolment: Any, **kwargs: Any) -> None:
    services.work_item_raise_for_refused_email(enrolment=enrolment, actor=system_user())


def onboarding_needed(sender: Any, *, enrolment: Any, **kwargs: Any) -> None:
    services.work_item_raise_for_onboarding(enrolment=enrolment, actor=system_user())


def invitation_failed(sender: Any, *, enrolment: Any, **kwargs: Any) -> None:
    services.work_item_raise_for_invitation_failure(enrolment=enrolment, actor=system_user())


def inbound_held(sender: Any, *, message: Any, actor: Any = None, **kwargs: Any) -> None:
    services.work_item_raise_for_held_message(message=message, actor=actor or system_user())


def inbound_filed(sender: Any, *, message: Any, actor: Any = None, **kwargs: Any) -> None:
    services.work_items_close_for_filed_message(message=message, actor=actor or system_user())


def message_delivered(sender: Any, *, message: Any, **kwargs: Any) -> None:
    services.work_items_close_for_delivered_message(message=message, actor=system_user())


def resource_reviewed(sender: Any, *, resource: Any, actor: Any = None, **kwargs: Any) -> None:
    services.work_items_close_for_reviewed_resource(resource=resource, actor=actor or system_user())
