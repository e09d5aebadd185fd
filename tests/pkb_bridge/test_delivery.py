"""Delivery end to end: the outbox, the dispatcher and the transport against the PKB sandbox
over real HTTP (the sandbox stands in for PKB, the edge we do not own)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
import time_machine
from django.core import mail
from django.utils import timezone

from pkb_bridge import services
from pkb_bridge.models import (
    Connection,
    DeliveryAttempt,
    Enrolment,
    OutboundMessage,
    ReleasePolicy,
)
from pkb_bridge.transport import PkbTransport
from rms import services as rms_services
from rms.services import ObservationInput, ResultInput
from tests.factories import (
    AppointmentFactory,
    DiagnosisFactory,
    DocumentFactory,
    ObservationFactory,
    PatientFactory,
    ResultFactory,
)

pytestmark = pytest.mark.django_db
Status = OutboundMessage.Status


@pytest.fixture(autouse=True)
def radiology_released_at_once(team) -> None:  # type: ignore[no-untyped-def]
    """These tests are about delivery: the team releases radiology at once (by default it is
    held for a clinician's review)."""
    ReleasePolicy.objects.create(team=team, category="radiology", mode="immediate")


def with_history(patient, *, labs: int = 4) -> None:
    DiagnosisFactory(patient=patient)
    start = timezone.now() - dt.timedelta(days=700)
    for n in range(labs):
        result = ResultFactory(patient=patient, observed_at=start + dt.timedelta(days=120 * n))
        ObservationFactory(
            result=result, value_text=f"0.0{n + 1}", value_numeric=Decimal(f"0.0{n + 1}")
        )
    ResultFactory(
        patient=patient,
        category="radiology",
        source_system="CRIS",
        service_code="MRPR",
        service_name="MRI prostate",
        report_text="Findings: no local recurrence.\nConclusion: stable.",
        observed_at=start + dt.timedelta(days=200),
    )
    DocumentFactory(patient=patient, authored_at=start + dt.timedelta(days=210))
    AppointmentFactory(patient=patient, starts_at=timezone.now() + dt.timedelta(days=20))


def drain(transport, *, rounds: int = 5) -> None:
    """Run the dispatcher as a worker would, committing callbacks (the invitation)."""
    for _ in range(rounds):
        if not services.dispatch(transport=transport, budget_s=10):
            break


def received(sandbox) -> list[dict]:
    return sandbox.state.messages()


def test_an_opted_in_patient_reaches_pkb_registration_first_then_each_item_once_in_order(
    patient, clinician, sandbox, transport, django_capture_on_commit_callbacks
) -> None:
    patient.email = "arthur@example.org"
    patient.save()
    with_history(patient)
    services.enrolment_opt_in(
        attestation="Consented in clinic, paper form filed", patient=patient, actor=clinician
    )
    with django_capture_on_commit_callbacks(execute=True):
        drain(transport)

    ours = list(OutboundMessage.objects.filter(patient=patient).order_by("seq"))
    assert {m.status for m in ours} == {Status.DELIVERED}
    log = received(sandbox)
    assert [entry["control_id"] for entry in log] == [m.control_id for m in ours]
    assert log[0]["message_type"] == "ADT^A28"
    assert {entry["ack_code"] for entry in log} == {"AA"}

    seen = sandbox.state.patient(patient.nhs_number)
    assert seen is not None
    assert seen["family_name"].upper() == patient.family_name.upper()
    assert len(seen["lab_results"]) == 4
    assert (
        len(seen["radiology"]) == 1
        and len(seen["documents"]) == 1
        and len(seen["appointments"]) == 1
    )

    enrolment = Enrolment.objects.get()
    assert enrolment.registered_at is not None
    assert enrolment.invitation == Enrolment.Invitation.SENT
    assert [m.to for m in mail.outbox] == [["arthur@example.org"]]
    assert "Patients Know Best" in mail.outbox[0].subject
    assert DeliveryAttempt.objects.filter(outcome="accepted").count() == len(ours)


def test_a_patient_without_email_is_flagged_for_onboarding(
    patient, clinician, sandbox, transport
) -> None:
    patient.email = ""
    patient.save()
    services.enrolment_opt_in(
        attestation="Consented in clinic, paper form filed", patient=patient, actor=clinician
    )
    drain(transport)
    assert Enrolment.objects.get().invitation == Enrolment.Invitation.NO_EMAIL
    assert not mail.outbox


def test_pkb_down_then_back_everything_arrives_in_order_with_the_same_control_ids(
    patient, clinician, sandbox, transport
) -> None:
    with_history(patient)
    services.enrolment_opt_in(
        attestation="Consented in clinic, paper form filed", patient=patient, actor=clinician
    )
    sandbox.set_faults(refuse_connections=True)
    drain(transport)
    first = OutboundMessage.objects.get(patient=patient, seq=1)
    assert first.status == Status.PENDING and first.attempts == 1
    assert first.next_attempt_at > timezone.now()
    assert OutboundMessage.objects.filter(patient=patient, attempts=0).count() == (
        OutboundMessage.objects.filter(patient=patient).count() - 1
    ), "later messages of the patient wait behind the first"
    assert DeliveryAttempt.objects.get().outcome == "transient"

    sandbox.set_faults(refuse_connections=False)
    with time_machine.travel(timezone.now() + dt.timedelta(hours=1)):
        drain(transport)
    ours = list(OutboundMessage.objects.filter(patient=patient).order_by("seq"))
    assert {m.status for m in ours} == {Status.DELIVERED}
    assert [entry["control_id"] for entry in received(sandbox)] == [m.control_id for m in ours]


def test_a_rejected_result_is_not_retried_and_the_patients_other_messages_still_flow(
    patient, clinician, sandbox, transport
) -> None:
    with_history(patient)
    services.enrolment_opt_in(
        attestation="Consented in clinic, paper form filed", patient=patient, actor=clinician
    )
    radiology = OutboundMessage.objects.get(patient=patient, kind=OutboundMessage.Kind.RADIOLOGY)
    sandbox.set_faults(
        reject_control_ids=[radiology.control_id], ar_text="Invalid OBR-4 service code"
    )
    drain(transport)
    radiology.refresh_from_db()
    assert radiology.status == Status.REJECTED
    assert "Invalid OBR-4 service code" in radiology.ack_text
    others = OutboundMessage.objects.filter(patient=patient).exclude(pk=radiology.pk)
    assert {m.status for m in others} == {Status.DELIVERED}
    drain(transport)
    assert [e["control_id"] for e in received(sandbox)].count(radiology.control_id) == 1


def test_a_rejected_registration_blocks_the_patient_until_requeued(
    patient, clinician, sandbox, transport
) -> None:
    with_history(patient)
    services.enrolment_opt_in(
        attestation="Consented in clinic, paper form filed", patient=patient, actor=clinician
    )
    registration = OutboundMessage.objects.get(patient=patient, seq=1)
    sandbox.set_faults(reject_control_ids=[registration.control_id])
    drain(transport)
    registration.refresh_from_db()
    assert registration.status == Status.REJECTED
    assert OutboundMessage.objects.filter(patient=patient, status=Status.PENDING).count() > 0
    assert len(received(sandbox)) == 1, "nothing after a rejected registration"

    sandbox.set_faults(reject_control_ids=[])
    services.message_requeue(message=registration, actor=clinician)
    drain(transport)
    assert set(
        OutboundMessage.objects.filter(patient=patient).values_list("status", flat=True)
    ) == {Status.DELIVERED}


def test_refused_credentials_pause_the_connection_and_mark_nothing_failed(
    patient, clinician, sandbox
) -> None:
    services.enrolment_opt_in(
        attestation="Consented in clinic, paper form filed", patient=patient, actor=clinician
    )
    wrong = PkbTransport(sandbox.url, "rms", "wrong", connect_timeout_s=2.0, deadline_s=3.0)
    try:
        drain(wrong)
    finally:
        wrong.close()
    message = OutboundMessage.objects.get(patient=patient, seq=1)
    assert (message.status, message.attempts) == (Status.PENDING, 0)
    assert Connection.objects.get().paused
    right = PkbTransport(sandbox.url, "rms", "pw", connect_timeout_s=2.0, deadline_s=3.0)
    try:
        drain(right)
        assert OutboundMessage.objects.get(pk=message.pk).status == Status.PENDING, "paused"
        services.connection_resume(actor=clinician)
        drain(right)
    finally:
        right.close()
    assert OutboundMessage.objects.get(pk=message.pk).status == Status.DELIVERED


def test_an_ack_for_another_message_is_not_success(patient, clinician, sandbox, transport) -> None:
    services.enrolment_opt_in(
        attestation="Consented in clinic, paper form filed", patient=patient, actor=clinician
    )
    sandbox.set_faults(ack_wrong_control_id=1)
    drain(transport)
    message = OutboundMessage.objects.get(patient=patient, seq=1)
    assert message.status == Status.REJECTED
    assert "outcome is unknown" in message.last_error


def test_a_slow_pkb_times_out_at_the_deadline_and_the_same_message_is_sent_again(
    patient, clinician, sandbox, transport
) -> None:
    services.enrolment_opt_in(
        attestation="Consented in clinic, paper form filed", patient=patient, actor=clinician
    )
    sandbox.set_faults(delay_s=5.0)
    started = timezone.now()
    drain(transport, rounds=1)
    assert (timezone.now() - started).total_seconds() < 5.0
    message = OutboundMessage.objects.get(patient=patient, seq=1)
    assert message.status == Status.PENDING
    assert DeliveryAttempt.objects.get().error_kind == "timeout"
    sandbox.set_faults(delay_s=0.0)
    with time_machine.travel(timezone.now() + dt.timedelta(hours=1)):
        drain(transport)
    message.refresh_from_db()
    assert message.status == Status.DELIVERED
    copies = [e for e in received(sandbox) if e["control_id"] == message.control_id]
    assert len(copies) >= 1 and len({e["control_id"] for e in copies}) == 1


def test_a_payload_naming_another_patient_is_never_sent(
    patient, clinician, sandbox, transport
) -> None:
    services.enrolment_opt_in(
        attestation="Consented in clinic, paper form filed", patient=patient, actor=clinician
    )
    message = OutboundMessage.objects.get(patient=patient, seq=1)
    OutboundMessage.objects.filter(pk=message.pk).update(
        payload=message.payload.replace(patient.nhs_number, "9434765919")
    )
    drain(transport)
    message.refresh_from_db()
    assert message.status == Status.REJECTED
    assert "not the patient's current NHS number" in message.last_error
    assert received(sandbox) == []


def test_a_withdrawn_patient_gets_nothing_more(patient, clinician, sandbox, transport) -> None:
    with_history(patient)
    services.enrolment_opt_in(
        attestation="Consented in clinic, paper form filed", patient=patient, actor=clinician
    )
    services.enrolment_withdraw(patient=patient, actor=clinician, reason="Patient asked")
    drain(transport)
    assert received(sandbox) == []
    rms_services.result_record(
        patient=patient,
        actor=clinician,
        data=ResultInput(
            category="lab",
            source_system="WINPATH",
            filler_order_number="LATE",
            observed_at=timezone.now(),
            observations=[
                ObservationInput(
                    code="PSA",
                    name="PSA",
                    value_type="NM",
                    value_text="0.2",
                    observed_at=timezone.now(),
                )
            ],
        ),
    )
    drain(transport)
    assert received(sandbox) == []


def test_a_message_stuck_in_flight_is_given_back_and_sent_with_the_same_control_id(
    patient, clinician, sandbox, transport, settings
) -> None:
    services.enrolment_opt_in(
        attestation="Consented in clinic, paper form filed", patient=patient, actor=clinician
    )
    claimed = services.message_claim(worker="a-worker-that-died")
    assert claimed is not None and claimed.seq == 1
    assert services.message_claim(worker="another") is None, "one in flight at most"
    settings.PKB_IN_FLIGHT_LEASE_S = 60
    assert services.messages_requeue_stuck() == 0
    with time_machine.travel(timezone.now() + dt.timedelta(minutes=5)):
        assert services.messages_requeue_stuck() == 1
        drain(transport)
    claimed.refresh_from_db()
    assert claimed.status == Status.DELIVERED and claimed.attempts == 2
    assert [e["control_id"] for e in received(sandbox)] == [claimed.control_id]


def test_a_claim_of_a_process_that_is_gone_is_given_back_at_once_and_no_other(
    patient, other_patient, clinician, other_team_clinician, sandbox, transport
) -> None:
    """Reliability reference §5.1 O10 and O11 (a worker killed mid-send: reclaimed and resent
    with the same MSH-10, nothing lost) and PKB interface §3.3 (one message at a time, so a
    dead claim halts every patient until it is given back). A claim naming a process of this
    host that has exited (a real process, started and finished) is given back without waiting
    for the lease; the claims of a live process and of another host are left alone."""
    import os
    import socket
    import subprocess
    import sys

    third = PatientFactory(teams=[patient.caseload_entries.get().team])
    for someone, actor in ((patient, clinician), (other_patient, other_team_clinician)):
        services.enrolment_opt_in(
            patient=someone, actor=actor, attestation="Consented in clinic, paper form filed"
        )
    services.enrolment_opt_in(
        patient=third, actor=clinician, attestation="Consented in clinic, paper form filed"
    )
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    host = socket.gethostname()
    dead, alive, elsewhere = OutboundMessage.objects.filter(seq=1).order_by("id")
    claims = {
        dead.pk: f"{host}:{gone.pid}:1",
        alive.pk: f"{host}:{os.getpid()}:1",
        elsewhere.pk: f"another-host:{gone.pid}:1",
    }
    for pk, claimed_by in claims.items():
        OutboundMessage.objects.filter(pk=pk).update(
            status=Status.IN_FLIGHT, in_flight_since=timezone.now(), claimed_by=claimed_by
        )

    assert services.messages_release_orphaned() == 1
    statuses = dict(OutboundMessage.objects.filter(pk__in=claims).values_list("pk", "status"))
    assert statuses == {
        dead.pk: Status.PENDING,
        alive.pk: Status.IN_FLIGHT,
        elsewhere.pk: Status.IN_FLIGHT,
    }
    assert services.messages_release_orphaned() == 0, "safe to repeat"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux's /proc")
def test_a_claim_of_a_process_that_has_exited_but_is_not_yet_reaped_is_given_back(
    patient, clinician, sandbox, transport
) -> None:
    """Reliability reference §5.1 O10. A worker killed with SIGKILL leaves its pool children
    to PID 1, which in a container may reap them late: until then each is a zombie, which
    ``kill(pid, 0)`` still finds. A zombie has exited, so its claim is given back at once."""
    import socket
    import subprocess
    import sys
    import time

    services.enrolment_opt_in(
        patient=patient, actor=clinician, attestation="Consented in clinic, paper form filed"
    )
    exited = subprocess.Popen([sys.executable, "-c", "pass"])  # not waited for: a zombie
    try:
        deadline = time.monotonic() + 10
        while b") Z" not in Path(f"/proc/{exited.pid}/stat").read_bytes():
            assert time.monotonic() < deadline, "the child never exited"
            time.sleep(0.05)
        message = OutboundMessage.objects.get(patient=patient, seq=1)
        OutboundMessage.objects.filter(pk=message.pk).update(
            status=Status.IN_FLIGHT,
            in_flight_since=timezone.now(),
            claimed_by=f"{socket.gethostname()}:{exited.pid}:1",
        )

        assert services.messages_release_orphaned() == 1
        message.refresh_from_db()
        assert message.status == Status.PENDING and message.claimed_by == ""
    finally:
        exited.wait()


def test_bodies_are_pruned_after_the_retention_period(
    patient, clinician, sandbox, transport, settings
) -> None:
    services.enrolment_opt_in(
        attestation="Consented in clinic, paper form filed", patient=patient, actor=clinician
    )
    drain(transport)
    attempt = DeliveryAttempt.objects.get()
    assert bytes(attempt.request_body).startswith(b"<")
    settings.PKB_BODY_RETENTION_DAYS = 30
    assert services.bodies_prune() == 0
    assert services.bodies_prune(now=timezone.now() + dt.timedelta(days=31)) == 1
    attempt.refresh_from_db()
    assert attempt.request_body is None and attempt.response_body is None


def test_a_permanent_http_failure_is_not_retried(patient, clinician, sandbox, transport) -> None:
    services.enrolment_opt_in(
        attestation="Consented in clinic, paper form filed", patient=patient, actor=clinician
    )
    sandbox.set_faults(status=400)
    drain(transport)
    message = OutboundMessage.objects.get(patient=patient, seq=1)
    assert message.status == Status.REJECTED
    assert message.last_error.startswith("http_4xx")
    assert DeliveryAttempt.objects.count() == 1


def test_hostile_free_text_arrives_escaped_and_never_forges_a_segment(
    team, clinician, sandbox, transport
) -> None:
    from tests.factories import PatientFactory

    patient = PatientFactory(family_name="O'Brien", given_name="Zoë", teams=[team])
    report = (
        "Findings: a|b^c&d~e\\f ]]> end\r\n"
        "PID|1||9434765919^^^NHS^NH||FORGED^Person\nConclusion: stable."
    )
    ResultFactory(
        patient=patient,
        category="radiology",
        source_system="CRIS",
        service_code="CTCAP",
        service_name="CT <chest> & abdomen",
        report_text=report,
        observed_at=timezone.now() - dt.timedelta(days=10),
    )
    services.enrolment_opt_in(
        attestation="Consented in clinic, paper form filed", patient=patient, actor=clinician
    )
    drain(transport)
    assert set(
        OutboundMessage.objects.filter(patient=patient).values_list("status", flat=True)
    ) == {Status.DELIVERED}
    raw = [m["raw"] for m in sandbox.state.snapshot()["messages"]]
    for message in raw:
        segments = [s for s in message.replace("\n", "\r").split("\r") if s]
        assert sum(1 for s in segments if s.startswith("PID|")) == 1
    seen = sandbox.state.patient(patient.nhs_number)
    assert seen["given_name"] == "Zoë" and seen["family_name"] == "O'Brien"
    [stored] = seen["radiology"].values()
    text = stored["text"]
    assert stored["title"] == "CT <chest> & abdomen"
    assert "a|b^c&d~e\\f ]]> end" in text
    assert "PID|1||9434765919" in text, "the forged segment stays text inside the report"
    assert "9434765919" not in {p for p in sandbox.state.snapshot()["patients"]}


def test_an_invitation_that_fails_is_retried_with_backoff(
    patient, clinician, sandbox, transport, settings, django_capture_on_commit_callbacks
) -> None:
    settings.MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {"host": "127.0.0.1", "port": 9, "timeout": 2},
        }
    }
    patient.email = "arthur@example.org"
    patient.save()
    services.enrolment_opt_in(
        attestation="Consented in clinic, paper form filed", patient=patient, actor=clinician
    )
    with django_capture_on_commit_callbacks(execute=True):
        drain(transport)
    enrolment = Enrolment.objects.get()
    assert enrolment.invitation == Enrolment.Invitation.FAILED
    assert enrolment.invitation_attempts == 1
    assert enrolment.invitation_next_attempt_at is not None
    assert enrolment.invitation_next_attempt_at > timezone.now()
    assert services.invitations_due() == []
    later = timezone.now() + dt.timedelta(minutes=5)
    assert services.invitations_due(now=later) == [enrolment.pk]
