"""What the PKB bridge and the inbound feed raise (and close) on the worklists, through the
real signals: a rejected message, a patient PKB cannot invite, a held inbound message."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core import mail

from pkb_bridge import services as pkb_services
from pkb_bridge import signals as pkb_signals
from pkb_bridge.models import Enrolment, OutboundMessage, ReleasePolicy
from rms.inbound import inbound_reprocess, receive
from rms.models import InboundMessage, Result
from rms.services import system_user
from tests.factories import PatientFactory, ResultFactory, UserFactory
from tests.rms.hl7.samples import sample_bytes
from worklists import services
from worklists.models import WorkItem, WorkItemEvent

pytestmark = pytest.mark.django_db

Kind = WorkItem.Kind
Priority = WorkItem.Priority
Status = WorkItem.Status


@pytest.fixture
def superuser(db):
    return UserFactory(username="root", is_superuser=True, is_staff=True)


def drain(transport) -> None:
    for _ in range(5):
        if not pkb_services.dispatch(transport=transport, budget_s=10):
            break


def reject(message: OutboundMessage, text: str) -> OutboundMessage:
    """What the dispatcher records when PKB answers AR, then its announcement."""
    message.status = OutboundMessage.Status.REJECTED
    message.attempts += 1
    message.ack_code = "AR"
    message.ack_text = text
    message.last_error = f"PKB answered AR: {text}"
    message.save()
    pkb_signals.message_rejected.send(sender=OutboundMessage, message=message)
    return message


# --- PKB rejections --------------------------------------------------------------------------


def test_a_rejected_registration_raises_an_urgent_delivery_failure_quoting_pkb(
    patient, team, clinician
) -> None:
    pkb_services.enrolment_opt_in(
        attestation="Consented in clinic, paper form filed", patient=patient, actor=clinician
    )
    registration = OutboundMessage.objects.filter(patient=patient).order_by("seq").first()
    assert registration.kind == OutboundMessage.Kind.REGISTRATION
    reject(registration, "PID-3: NHS number 999 rejected by the spine check")

    item = WorkItem.objects.get()
    assert (item.kind, item.priority, item.status, item.team, item.patient) == (
        Kind.DELIVERY_FAILURE,
        Priority.URGENT,
        Status.OPEN,
        team,
        patient,
    )
    assert item.title == "PKB rejected the registration"
    assert "PID-3: NHS number 999 rejected by the spine check" in item.explanation
    assert "Nothing more is sent to PKB for this patient" in item.explanation
    assert "requeue" in item.explanation and "cancel" in item.explanation
    assert item.dedupe_key == f"outbound:{registration.pk}:1"
    assert item.created_by == system_user()
    assert item.details["outbound_message"] == str(registration.public_id)


def test_a_rejected_result_raises_a_high_priority_item_once_however_often_announced(
    patient, clinician
) -> None:
    ResultFactory(patient=patient)
    pkb_services.enrolment_opt_in(
        attestation="Consented in clinic, paper form filed", patient=patient, actor=clinician
    )
    lab = OutboundMessage.objects.get(patient=patient, kind=OutboundMessage.Kind.LAB)
    lab = reject(lab, "OBX-3: unknown code PSA")
    pkb_signals.message_rejected.send(sender=OutboundMessage, message=lab)

    item = WorkItem.objects.get()
    assert (item.priority, item.title) == (Priority.HIGH, "PKB rejected a laboratory result")
    assert "OBX-3: unknown code PSA" in item.explanation
    assert WorkItemEvent.objects.filter(work_item=item).count() == 1


def test_a_second_rejection_after_a_requeue_raises_a_new_item_and_closes_the_first(
    patient, clinician
) -> None:
    pkb_services.enrolment_opt_in(
        attestation="Consented in clinic, paper form filed", patient=patient, actor=clinician
    )
    registration = OutboundMessage.objects.filter(patient=patient).order_by("seq").first()
    reject(registration, "PID-5: family name missing")
    pkb_services.message_requeue(message=registration, actor=clinician)
    registration.refresh_from_db()
    reject(registration, "PID-7: date of birth in the future")

    first, second = WorkItem.objects.order_by("id")
    assert (first.status, first.outcome) == (Status.DONE, "Superseded")
    assert (second.status, second.dedupe_key) == (Status.OPEN, f"outbound:{registration.pk}:2")
    assert "PID-7: date of birth in the future" in second.explanation


def test_a_result_pkb_rejects_through_the_dispatcher_raises_an_item_with_pkbs_text(
    patient, team, clinician, sandbox, transport
) -> None:
    # Radiology is held for a clinician by default: this team releases it at once.
    ReleasePolicy.objects.create(team=team, category="radiology", mode="immediate")
    ResultFactory(patient=patient, category="radiology", service_code="MRPR", report_text="OK")
    pkb_services.enrolment_opt_in(
        attestation="Consented in clinic, paper form filed", patient=patient, actor=clinician
    )
    radiology = OutboundMessage.objects.get(patient=patient, kind=OutboundMessage.Kind.RADIOLOGY)
    sandbox.set_faults(
        reject_control_ids=[radiology.control_id], ar_text="Invalid OBR-4 service code"
    )
    drain(transport)

    item = WorkItem.objects.get(kind=Kind.DELIVERY_FAILURE)
    assert item.title == "PKB rejected a radiology report"
    assert "Invalid OBR-4 service code" in item.explanation
    assert item.patient == patient


# --- onboarding ------------------------------------------------------------------------------


def test_a_patient_with_no_email_is_flagged_for_onboarding_by_the_team(
    patient, team, clinician, sandbox, transport
) -> None:
    patient.email = ""
    patient.save()
    pkb_services.enrolment_opt_in(
        attestation="Consented in clinic, paper form filed", patient=patient, actor=clinician
    )
    drain(transport)

    item = WorkItem.objects.get()
    assert (item.kind, item.priority, item.team, item.patient) == (
        Kind.ONBOARDING_NEEDED,
        Priority.NORMAL,
        team,
        patient,
    )
    assert item.title == "No email recorded: help the patient register with PKB"
    assert not mail.outbox


def test_onboarding_announced_twice_is_one_item(patient, clinician) -> None:
    enrolment = pkb_services.enrolment_opt_in(
        attestation="Consented in clinic, paper form filed", patient=patient, actor=clinician
    )
    for _ in range(2):
        pkb_signals.onboarding_needed.send(sender=Enrolment, enrolment=enrolment)
    assert WorkItem.objects.filter(kind=Kind.ONBOARDING_NEEDED).count() == 1


def test_an_invitation_that_failed_every_attempt_raises_an_item_with_the_error(
    patient, team, clinician, settings
) -> None:
    # SMTP is the edge: a port nothing listens on refuses the connection.
    settings.MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {"host": "127.0.0.1", "port": 9, "timeout": 2},
        }
    }
    settings.PKB_INVITE_MAX_ATTEMPTS = 1
    patient.email = "arthur@example.org"
    patient.save()
    enrolment = pkb_services.enrolment_opt_in(
        attestation="Consented in clinic, paper form filed", patient=patient, actor=clinician
    )
    Enrolment.objects.filter(pk=enrolment.pk).update(
        invitation=Enrolment.Invitation.QUEUED, registered_at=dt.datetime.now(dt.UTC)
    )
    assert pkb_services.invitation_send(enrolment_id=enrolment.pk) == "failed"

    item = WorkItem.objects.get()
    assert (item.kind, item.team, item.patient) == (Kind.ONBOARDING_NEEDED, team, patient)
    assert item.title == "The PKB invitation email could not be sent"
    enrolment.refresh_from_db()
    assert enrolment.invitation_error
    assert enrolment.invitation_error in item.explanation


def test_an_invitation_failing_again_after_the_item_was_closed_raises_a_new_item(
    patient, clinician
) -> None:
    enrolment = pkb_services.enrolment_opt_in(
        attestation="Consented in clinic, paper form filed", patient=patient, actor=clinician
    )
    enrolment.invitation_error = "SMTPRecipientsRefused: mailbox unavailable"
    pkb_signals.invitation_failed.send(sender=Enrolment, enrolment=enrolment)
    pkb_signals.invitation_failed.send(sender=Enrolment, enrolment=enrolment)
    first = WorkItem.objects.get()
    assert "mailbox unavailable" in first.explanation

    services.work_item_complete(item=first, actor=clinician, outcome="Email corrected")
    pkb_signals.invitation_failed.send(sender=Enrolment, enrolment=enrolment)
    assert WorkItem.objects.filter(status=Status.OPEN).count() == 1
    assert WorkItem.objects.count() == 2


# --- held inbound messages -------------------------------------------------------------------


def test_an_unmatched_inbound_message_raises_one_item_for_an_administrator(team) -> None:
    raw = sample_bytes("oru_r01_psa.hl7")
    receive(raw=raw, channel="mllp")
    receive(raw=raw, channel="mllp")  # the sender's resend: answered again, not processed

    held = InboundMessage.objects.get()
    item = WorkItem.objects.get()
    assert (item.kind, item.priority, item.team, item.patient, item.status) == (
        Kind.UNMATCHED_MESSAGE,
        Priority.NORMAL,
        None,
        None,
        Status.OPEN,
    )
    assert item.title == "Inbound ORU^R01 message held: patient not found"
    assert held.error in item.explanation
    assert "Inbound messages page of Django admin" in item.explanation
    assert item.dedupe_key == f"inbound:{held.pk}:1"
    assert item.details["inbound_message"] == str(held.public_id)
    assert "9990000018" not in item.explanation + item.title + str(item.details)


def test_reprocessing_a_held_message_after_the_patient_exists_closes_its_item(
    team, superuser
) -> None:
    receive(raw=sample_bytes("oru_r01_psa.hl7"), channel="mllp")
    PatientFactory(
        nhs_number="9990000018",
        family_name="Tester",
        date_of_birth=dt.date(1958, 2, 14),
        teams=[team],
    )
    message = inbound_reprocess(message=InboundMessage.objects.get(), actor=superuser)
    assert message.status == InboundMessage.Status.PROCESSED
    assert Result.objects.count() == 1

    item = WorkItem.objects.get()
    assert (item.status, item.outcome, item.closed_by) == (
        Status.DONE,
        "Filed after review",
        superuser,
    )
    event = WorkItemEvent.objects.filter(work_item=item).last()
    assert (event.action, event.actor) == ("closed_by_system", superuser)


def test_a_message_held_again_on_reprocessing_supersedes_its_item_until_it_is_filed(
    team, superuser
) -> None:
    receive(raw=sample_bytes("oru_r01_psa.hl7"), channel="mllp")
    held = InboundMessage.objects.get()
    inbound_reprocess(message=held, actor=superuser)  # still nobody to match
    first, second = WorkItem.objects.order_by("id")
    assert (first.status, first.outcome) == (Status.DONE, "Superseded")
    assert second.status == Status.OPEN

    patient = PatientFactory(nhs_number="9434765919", teams=[team])
    inbound_reprocess(message=held, actor=superuser, patient=patient)
    assert set(WorkItem.objects.values_list("status", flat=True)) == {Status.DONE}
    second.refresh_from_db()
    assert second.outcome == "Filed after review"


def test_a_possible_wrong_patient_raises_a_high_priority_item(team) -> None:
    PatientFactory(
        nhs_number="9990000018",
        mrn="OTHER1",
        family_name="Tester",
        date_of_birth=dt.date(1958, 2, 15),
        teams=[team],
    )
    receive(raw=sample_bytes("oru_r01_psa.hl7"), channel="mllp")
    item = WorkItem.objects.get()
    assert item.priority == Priority.HIGH
    assert item.title == "Inbound ORU^R01 message held: possible wrong patient"
    assert "date of birth" in item.explanation
    assert (item.team, item.patient) == (None, None)


def test_a_message_filed_at_the_first_attempt_raises_and_closes_nothing(team) -> None:
    PatientFactory(
        nhs_number="9990000018",
        mrn="RXX1234567",
        family_name="Tester",
        date_of_birth=dt.date(1958, 2, 14),
        teams=[team],
    )
    receive(raw=sample_bytes("oru_r01_psa.hl7"), channel="mllp")
    assert InboundMessage.objects.get().status == InboundMessage.Status.PROCESSED
    assert not WorkItem.objects.exists()


def test_a_rejected_message_delivered_after_a_requeue_closes_its_item(patient, clinician) -> None:
    from pkb_bridge import services as pkb
    from pkb_bridge import signals as pkb_signals
    from pkb_bridge.models import OutboundMessage
    from worklists.models import WorkItem

    pkb.enrolment_opt_in(
        attestation="Consented in clinic, paper form filed", patient=patient, actor=clinician
    )
    message = OutboundMessage.objects.get(patient=patient, seq=1)
    OutboundMessage.objects.filter(pk=message.pk).update(
        status="rejected", ack_code="AR", ack_text="Invalid PID", attempts=1
    )
    message.refresh_from_db()
    pkb_signals.message_rejected.send(sender=OutboundMessage, message=message)
    [item] = WorkItem.objects.filter(kind="delivery_failure")
    OutboundMessage.objects.filter(pk=message.pk).update(status="delivered", attempts=2)
    message.refresh_from_db()
    pkb_signals.message_delivered.send(sender=OutboundMessage, message=message)
    item.refresh_from_db()
    assert (item.status, item.outcome) == ("done", "Delivered after a resend")
