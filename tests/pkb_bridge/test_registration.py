"""A registration PKB refuses does not block a patient for good, and a requeued message is
what the record says now. Through the real path: the dispatcher sending to the PKB sandbox
over real HTTP (the sandbox answers as PKB does, PKB interface §5.3 and §3.2)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.utils import timezone

from pkb_bridge import services
from pkb_bridge.models import DeliveryAttempt, Enrolment, OutboundMessage, Publication
from rms import services as rms_services
from tests.factories import ObservationFactory, ResultFactory
from tests.pkb_bridge.records import lab
from worklists.models import WorkItem

pytestmark = pytest.mark.django_db
Status = OutboundMessage.Status
Kind = OutboundMessage.Kind


def drain(transport, django_capture_on_commit_callbacks) -> None:  # type: ignore[no-untyped-def]
    """Run the dispatcher as a worker would, committing callbacks (the invitation)."""
    for _ in range(5):
        with django_capture_on_commit_callbacks(execute=True):
            if not services.dispatch(transport=transport, budget_s=10):
                break


def with_labs(patient, count: int = 2) -> None:  # type: ignore[no-untyped-def]
    start = timezone.now() - dt.timedelta(days=300)
    for n in range(count):
        result = ResultFactory(patient=patient, observed_at=start + dt.timedelta(days=100 * n))
        ObservationFactory(result=result, value_text="0.02", value_numeric=Decimal("0.02"))


def test_an_email_another_pkb_record_has_is_left_out_and_the_patient_registered_without_it(
    patient,
    other_patient,
    team,
    clinician,
    other_team_clinician,
    sandbox,
    transport,
    django_capture_on_commit_callbacks,
) -> None:
    """PKB interface §5.3 ("An email address can belong to only one PKB record. A message
    carrying an email already used on another record is rejected") and §6 (the first email
    added makes PKB invite the patient); §3.3 (no automatic retry of an AR: here the message
    is not resent, a new one without the email is). The patient is registered without the
    email, their record follows, the team is told, and no invitation goes to the address."""
    other_patient.email = "family@example.org"
    other_patient.save()
    services.enrolment_opt_in(
        patient=other_patient,
        actor=other_team_clinician,
        attestation="Consented in clinic, paper form filed",
    )
    drain(transport, django_capture_on_commit_callbacks)
    assert [m.to for m in mail.outbox] == [["family@example.org"]]

    patient.email = "FAMILY@example.org"
    patient.save()
    with_labs(patient)
    services.enrolment_opt_in(
        patient=patient, actor=clinician, attestation="Consented in clinic, paper form filed"
    )
    registration = OutboundMessage.objects.get(patient=patient, kind=Kind.REGISTRATION)
    refused_control_id = registration.control_id
    drain(transport, django_capture_on_commit_callbacks)

    registration.refresh_from_db()
    assert registration.status == Status.DELIVERED
    assert registration.seq == 1 and registration.control_id != refused_control_id
    assert "example.org" not in registration.payload.lower()
    outcomes = list(
        DeliveryAttempt.objects.filter(message=registration)
        .order_by("started_at", "id")
        .values_list("outcome", "ack_code")
    )
    assert outcomes == [("rejected", "AR"), ("accepted", "AA")], "every attempt recorded"
    ours = OutboundMessage.objects.filter(patient=patient)
    assert set(ours.values_list("status", flat=True)) == {Status.DELIVERED}, "not blocked"
    seen = sandbox.state.patient(patient.nhs_number)
    assert seen is not None and seen["email"] == "" and len(seen["lab_results"]) == 2
    log = [e["control_id"] for e in sandbox.state.messages()]
    assert log.count(refused_control_id) == 1, "the refused bytes are not sent again"

    enrolment = Enrolment.objects.get(patient=patient)
    assert enrolment.invitation == Enrolment.Invitation.NO_EMAIL
    assert [m.to for m in mail.outbox] == [["family@example.org"]], "no invitation to it"
    item = WorkItem.objects.get(kind=WorkItem.Kind.ONBOARDING_NEEDED, patient=patient)
    assert item.team == team
    assert "another PKB record" in item.explanation and "FAMILY@example.org" in item.explanation

    # The patient's own address, recorded later, reaches PKB (an A31) as their first email.
    rms_services.patient_update(patient=patient, actor=clinician, email="own@example.org")
    drain(transport, django_capture_on_commit_callbacks)
    assert sandbox.state.patient(patient.nhs_number)["email"] == "own@example.org"


def test_a_requeued_registration_is_rebuilt_from_the_corrected_record_with_a_new_msh10(
    patient, clinician, sandbox, transport, django_capture_on_commit_callbacks
) -> None:
    """PKB interface §3.2 (AR: "a validation error it checks for") and §4 (MSH-10 unique per
    sender; PKB does not detect duplicates by it); §3.3 (PKB applies an A28 only when MSH-7 is
    not older than the record). Requeuing after a fix sends what the record says now, under a
    new MSH-10, in the registration's own place (first in the patient's queue)."""
    with_labs(patient, count=1)
    services.enrolment_opt_in(
        patient=patient, actor=clinician, attestation="Consented in clinic, paper form filed"
    )
    registration = OutboundMessage.objects.get(patient=patient, kind=Kind.REGISTRATION)
    first_control_id = registration.control_id
    sandbox.set_faults(
        reject_control_ids=[first_control_id], ar_text="PID-5: family name does not match"
    )
    drain(transport, django_capture_on_commit_callbacks)
    registration.refresh_from_db()
    assert registration.status == Status.REJECTED
    assert len(sandbox.state.messages()) == 1, "the queue is blocked behind it"

    rms_services.patient_update(patient=patient, actor=clinician, family_name="Featherstonehaugh")
    services.message_requeue(message=registration, actor=clinician)
    registration.refresh_from_db()
    assert registration.status == Status.PENDING and registration.seq == 1
    assert registration.control_id != first_control_id
    assert f"|{registration.control_id}|" in registration.payload.split("\r")[0]
    assert "FEATHERSTONEHAUGH" in registration.payload.upper()
    drain(transport, django_capture_on_commit_callbacks)

    assert set(
        OutboundMessage.objects.filter(patient=patient).values_list("status", flat=True)
    ) == {Status.DELIVERED}
    log = sandbox.state.messages()
    assert [e["control_id"] for e in log][:2] == [first_control_id, registration.control_id]
    assert log[1]["ack_code"] == "AA"
    seen = sandbox.state.patient(patient.nhs_number)
    assert seen["family_name"].upper() == "FEATHERSTONEHAUGH"


def test_a_requeued_result_is_rebuilt_with_a_new_msh10_and_a_held_one_is_refused(
    patient, clinician, sandbox, transport, django_capture_on_commit_callbacks
) -> None:
    """PKB interface §3.3 (AR: no automatic retry; re-send after a fix) and §4 (MSH-10 unique
    per sender). A rejected result requeued goes as a new message for the same filler order
    number; a result held since cannot be requeued (holding means holding)."""
    services.enrolment_opt_in(
        patient=patient, actor=clinician, attestation="Consented in clinic, paper form filed"
    )
    drain(transport, django_capture_on_commit_callbacks)
    lab(patient, clinician, "FON-R", "0.40")
    rejected = OutboundMessage.objects.get(patient=patient, kind=Kind.LAB)
    sandbox.set_faults(reject_control_ids=[rejected.control_id], ar_text="OBX-3: unknown code")
    drain(transport, django_capture_on_commit_callbacks)
    rejected.refresh_from_db()
    assert rejected.status == Status.REJECTED
    old_control_id = rejected.control_id

    services.message_requeue(message=rejected, actor=clinician)
    rejected.refresh_from_db()
    assert rejected.control_id != old_control_id and rejected.status == Status.PENDING
    drain(transport, django_capture_on_commit_callbacks)
    rejected.refresh_from_db()
    assert rejected.status == Status.DELIVERED
    assert "FON-R" in sandbox.state.patient(patient.nhs_number)["lab_results"]
    assert [e["control_id"] for e in sandbox.state.messages()].count(old_control_id) == 1

    result = lab(patient, clinician, "FON-H", "0.50")
    second = OutboundMessage.objects.get(patient=patient, kind=Kind.LAB, status=Status.PENDING)
    sandbox.set_faults(reject_control_ids=[second.control_id])
    drain(transport, django_capture_on_commit_callbacks)
    second.refresh_from_db()
    assert second.status == Status.REJECTED
    publication = Publication.objects.get(result=result)
    Publication.objects.filter(pk=publication.pk).update(state=Publication.State.HELD)
    with pytest.raises(ValidationError, match="release the item"):
        services.message_requeue(message=second, actor=clinician)
    second.refresh_from_db()
    assert second.status == Status.REJECTED


def test_a_requeued_result_carries_the_results_current_values_not_the_refused_ones(
    patient, clinician, sandbox, transport, django_capture_on_commit_callbacks
) -> None:
    """PKB interface §9.2 (PKB keys a result on its filler order number: a later message for
    the same number replaces the values). A result PKB rejected, then corrected at the lab
    (the correction delivered): requeuing the rejected message sends the current values, so
    PKB never ends on the superseded ones."""
    services.enrolment_opt_in(
        patient=patient, actor=clinician, attestation="Consented in clinic, paper form filed"
    )
    drain(transport, django_capture_on_commit_callbacks)
    lab(patient, clinician, "FON-C", "0.40")
    first = OutboundMessage.objects.get(patient=patient, kind=Kind.LAB)
    sandbox.set_faults(reject_control_ids=[first.control_id])
    drain(transport, django_capture_on_commit_callbacks)
    lab(patient, clinician, "FON-C", "0.45")  # the lab's correction
    drain(transport, django_capture_on_commit_callbacks)
    assert OutboundMessage.objects.filter(patient=patient, kind=Kind.LAB).count() == 2

    services.message_requeue(message=first, actor=clinician)
    first.refresh_from_db()
    assert "0.45" in first.payload and "0.40" not in first.payload
    drain(transport, django_capture_on_commit_callbacks)
    first.refresh_from_db()
    assert first.status == Status.DELIVERED
    stored = sandbox.state.patient(patient.nhs_number)["lab_results"]["FON-C"]
    assert "0.45" in str(stored) and "0.40" not in str(stored)


def test_a_requeued_packed_history_message_goes_again_as_one_message_per_result(
    patient, clinician, sandbox, transport, django_capture_on_commit_callbacks
) -> None:
    """PKB interface §3.3 (re-send after a fix) and §9.2 (results keyed on their filler order
    numbers): a rejected packed historic message, requeued, is cancelled and each of its
    results goes again on its own, rebuilt from the record; each reaches PKB once."""
    with_labs(patient, count=3)
    services.enrolment_opt_in(
        patient=patient, actor=clinician, attestation="Consented in clinic, paper form filed"
    )
    [pack] = OutboundMessage.objects.filter(patient=patient, kind=Kind.LAB)
    sandbox.set_faults(reject_control_ids=[pack.control_id])
    drain(transport, django_capture_on_commit_callbacks)
    pack.refresh_from_db()
    assert pack.status == Status.REJECTED

    services.message_requeue(message=pack, actor=clinician)
    pack.refresh_from_db()
    assert pack.status == Status.CANCELLED
    drain(transport, django_capture_on_commit_callbacks)
    again = OutboundMessage.objects.filter(patient=patient, kind=Kind.LAB).exclude(pk=pack.pk)
    assert again.count() == 3
    assert set(again.values_list("status", flat=True)) == {Status.DELIVERED}
    assert len(sandbox.state.patient(patient.nhs_number)["lab_results"]) == 3
