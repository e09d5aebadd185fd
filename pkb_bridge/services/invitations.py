"""The Trust's invitation email to a patient PKB has registered.

PKB itself emails the patient when the record's first email address arrives (PID-13 of the
registration). The Trust's own invitation says who is inviting them and why, with the PKB and
NHS App links and the team's contact, so the patient trusts the PKB email that follows. It is
sent after PKB has accepted the registration (so the account exists), retried on SMTP failure
with backoff kept in the database, and its status shown on the patient page.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.conf import settings
from django.contrib.auth.models import User
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone

from pkb_bridge import signals
from pkb_bridge.models import Enrolment

logger = logging.getLogger("pkb_bridge")
Invitation = Enrolment.Invitation


def _queue(enrolment: Enrolment) -> None:
    enrolment.invitation = Invitation.QUEUED
    enrolment.invitation_next_attempt_at = timezone.now()
    enrolment.invitation_error = ""
    enrolment.save()

    def send() -> None:
        from pkb_bridge.tasks import send_invitation

        send_invitation.delay(enrolment.pk)

    transaction.on_commit(send, robust=True)


@transaction.atomic
def on_registration_accepted(*, enrolment_id: int) -> None:
    """PKB accepted the registration: note it, and invite the patient (or flag the team
    that there is no email to invite them at). Safe to repeat."""
    enrolment = Enrolment.objects.select_for_update().select_related("patient").get(pk=enrolment_id)
    if enrolment.registered_at is None:
        enrolment.registered_at = timezone.now()
        if enrolment.invitation != Invitation.WAITING:
            enrolment.save(update_fields=["registered_at"])
    if enrolment.invitation != Invitation.WAITING:
        return
    # Each branch writes the registration time with its own change: one UPDATE, one audit entry.
    if enrolment.patient.email and enrolment.email_is_refused():
        # PKB refused the email (another PKB record holds it): no invitation goes to it; the
        # team already has a work item saying so.
        enrolment.invitation = Invitation.NO_EMAIL
        enrolment.save(update_fields=["registered_at", "invitation"])
    elif enrolment.patient.email:
        _queue(enrolment)
    else:
        enrolment.invitation = Invitation.NO_EMAIL
        enrolment.save(update_fields=["registered_at", "invitation"])
        signals.onboarding_needed.send(sender=Enrolment, enrolment=enrolment)


@transaction.atomic
def invitation_resend(*, enrolment: Enrolment, actor: User) -> Enrolment:
    """A clinician asks for the invitation again (the patient lost it, or now has an email)."""
    enrolment = Enrolment.objects.select_for_update().select_related("patient").get(pk=enrolment.pk)
    if enrolment.status != Enrolment.Status.ACTIVE or enrolment.registered_at is None:
        return enrolment
    if not enrolment.patient.email or enrolment.email_is_refused():
        enrolment.invitation = Invitation.NO_EMAIL
        enrolment.save(update_fields=["invitation"])
        return enrolment
    enrolment.invitation_attempts = 0
    _queue(enrolment)
    logger.info(
        "Invitation for enrolment %s queued again by user %s", enrolment.public_id, actor.pk
    )
    return enrolment


def _render(enrolment: Enrolment) -> EmailMultiAlternatives:
    patient = enrolment.patient
    context = {
        "patient_name": " ".join(p for p in (patient.title, patient.family_name) if p)
        or patient.given_name,
        "trust_name": settings.TRUST_NAME,
        "team_name": enrolment.team.name,
        "pkb_url": settings.PKB_PORTAL_URL,
        "nhs_app_url": settings.NHS_APP_URL,
        "team_contact": settings.PKB_TEAM_CONTACT,
        "email": patient.email,
    }
    subject = f"{settings.TRUST_NAME}: your results and letters online with Patients Know Best"
    text = render_to_string("pkb_bridge/email/invitation.txt", context)
    html = render_to_string("pkb_bridge/email/invitation.html", context)
    message = EmailMultiAlternatives(
        subject=subject,
        body=text,
        from_email=settings.PKB_INVITE_FROM or settings.DEFAULT_FROM_EMAIL,
        to=[patient.email],
    )
    message.attach_alternative(html, "text/html")
    return message


def invitation_send(*, enrolment_id: int) -> str:
    """Send the invitation if it is due; record the outcome. On failure the next attempt is
    scheduled with backoff (the sweeper picks it up). Safe to repeat: an invitation already
    sent is not sent again."""
    with transaction.atomic():
        enrolment = (
            Enrolment.objects.select_for_update()
            .select_related("patient", "team")
            .get(pk=enrolment_id)
        )
        if enrolment.invitation not in (Invitation.QUEUED, Invitation.FAILED):
            return enrolment.invitation
        if enrolment.status != Enrolment.Status.ACTIVE:
            return enrolment.invitation
        enrolment.invitation_attempts += 1
        enrolment.save(update_fields=["invitation_attempts"])
        email = _render(enrolment)
    try:
        # Outside the transaction: a slow SMTP server must not hold database locks.
        email.send(fail_silently=False)
    except Exception as exc:  # SMTP, DNS, TLS: all retried the same way
        with transaction.atomic():
            enrolment = Enrolment.objects.select_for_update().get(pk=enrolment_id)
            enrolment.invitation = Invitation.FAILED
            enrolment.invitation_error = f"{type(exc).__name__}: {str(exc)[:300]}"
            if enrolment.invitation_attempts >= settings.PKB_INVITE_MAX_ATTEMPTS:
                enrolment.invitation_next_attempt_at = None
                signals.invitation_failed.send(sender=Enrolment, enrolment=enrolment)
            else:
                delay = 60 * 2 ** (enrolment.invitation_attempts - 1)
                enrolment.invitation_next_attempt_at = timezone.now() + dt.timedelta(seconds=delay)
            enrolment.save()
        logger.warning(
            "Invitation email for enrolment %s failed: %s", enrolment_id, type(exc).__name__
        )
        return Invitation.FAILED
    with transaction.atomic():
        Enrolment.objects.filter(pk=enrolment_id).update(
            invitation=Invitation.SENT,
            invitation_sent_at=timezone.now(),
            invitation_error="",
            invitation_next_attempt_at=None,
        )
    return Invitation.SENT


def invitations_due(*, now: dt.datetime | None = None) -> list[int]:
    """Enrolments whose invitation should be (re)tried now: the sweeper's list."""
    moment = now or timezone.now()
    return list(
        Enrolment.objects.filter(
            status=Enrolment.Status.ACTIVE,
            invitation__in=[Invitation.QUEUED, Invitation.FAILED],
            invitation_next_attempt_at__lte=moment,
        ).values_list("pk", flat=True)
    )
