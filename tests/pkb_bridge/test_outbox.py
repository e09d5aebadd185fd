"""Queueing several messages at once and claiming them, against the real database."""

from __future__ import annotations

import os

import pytest
from django.utils import timezone

from pkb_bridge import services
from pkb_bridge.models import OutboundMessage
from pkb_bridge.services.outbox import Planned, message_enqueue, messages_enqueue

pytestmark = pytest.mark.django_db
Kind = OutboundMessage.Kind
Status = OutboundMessage.Status

# The statements these test are PostgreSQL's own (CI's second run has it).
needs_postgresql = pytest.mark.skipif(
    "postgres" not in os.environ.get("DATABASE_URL", ""),
    reason="needs PostgreSQL (DATABASE_URL), as in CI's second run",
)


def _text(ref: str):  # type: ignore[no-untyped-def]
    return lambda context: f"MSH|^~\\&|{ref}|{context.control_id}\r"


def test_several_messages_are_queued_in_order_after_the_patients_earlier_ones(
    patient, clinician
) -> None:
    enrolment = services.enrolment_opt_in(
        attestation="Consented in clinic, paper form filed", patient=patient, actor=clinician
    )
    before = OutboundMessage.objects.filter(patient=patient).count()
    queued = messages_enqueue(
        enrolment=enrolment,
        planned=[Planned(Kind.LAB, f"test:{n}", _text(f"M{n}")) for n in range(3)],
    )
    rows = list(OutboundMessage.objects.filter(patient=patient).order_by("seq"))
    assert [row.seq for row in rows] == list(range(1, before + 4))
    assert [row.pk for row in rows[before:]] == [message.pk for message in queued if message]
    assert [row.source_ref for row in rows[before:]] == ["test:0", "test:1", "test:2"]
    # Each has its own MSH-10, written into its payload.
    assert len({row.control_id for row in rows}) == len(rows)
    assert all(row.control_id in row.payload for row in rows[before:])
    # The next message, queued alone, comes after them.
    single = message_enqueue(enrolment=enrolment, kind=Kind.LAB, source_ref="x", build=_text("x"))
    assert single is not None and single.seq == before + 4


def test_a_reference_already_queued_is_not_queued_again(patient, clinician) -> None:
    enrolment = services.enrolment_opt_in(
        attestation="Consented in clinic, paper form filed", patient=patient, actor=clinician
    )
    first = message_enqueue(enrolment=enrolment, kind=Kind.LAB, source_ref="a", build=_text("a"))
    queued = messages_enqueue(
        enrolment=enrolment,
        planned=[
            Planned(Kind.LAB, "a", _text("a")),
            Planned(Kind.LAB, "b", _text("b")),
            Planned(Kind.LAB, "b", _text("b again")),
        ],
    )
    assert first is not None
    assert queued[0] is None and queued[2] is None and queued[1] is not None
    assert queued[1].seq == first.seq + 1
    assert OutboundMessage.objects.filter(enrolment=enrolment, source_ref="b").count() == 1


def test_a_claimed_message_says_what_the_row_says(patient, clinician) -> None:
    services.enrolment_opt_in(
        attestation="Consented in clinic, paper form filed", patient=patient, actor=clinician
    )
    claimed = services.message_claim(worker="w1")
    assert claimed is not None
    stored = OutboundMessage.objects.get(pk=claimed.pk)
    assert (
        (claimed.status, claimed.attempts, claimed.claimed_by)
        == (
            stored.status,
            stored.attempts,
            stored.claimed_by,
        )
        == (Status.IN_FLIGHT, 1, "w1")
    )
    assert claimed.in_flight_since == stored.in_flight_since


def _due_now() -> None:
    """The opt-in's messages pending and due (the test's dispatch at commit found no PKB)."""
    OutboundMessage.objects.filter(status__in=OutboundMessage.OPEN).update(
        status=Status.PENDING, next_attempt_at=timezone.now(), in_flight_since=None
    )


@pytest.mark.django_db(transaction=True)
@needs_postgresql
def test_only_the_claim_commits_without_waiting_for_the_disk(patient, clinician) -> None:
    """The claim's transaction turns synchronous_commit off for itself alone (SET LOCAL):
    what follows it, the attempt's record included, commits durably as before."""
    from django.db import connection, transaction

    from pkb_bridge.services import delivery_sql

    def synchronous_commit() -> str:
        with connection.cursor() as cursor:
            cursor.execute("SHOW synchronous_commit")
            return str(cursor.fetchone()[0])

    services.enrolment_opt_in(
        attestation="Consented in clinic, paper form filed", patient=patient, actor=clinician
    )
    _due_now()
    assert synchronous_commit() == "on"
    with transaction.atomic():
        paused, claimed = delivery_sql.lock_and_claim(now=timezone.now(), worker="w1", cap=4)
        assert (paused, claimed is not None) == (False, True)
        assert synchronous_commit() == "off", "inside the claim's transaction"
    assert synchronous_commit() == "on", "and only there"


@pytest.mark.django_db(transaction=True)
@needs_postgresql
def test_the_claim_sent_as_one_query_is_committed_and_lets_go_of_the_lock(
    patient, clinician
) -> None:
    """Outside any transaction (as a dispatcher runs) the lock and the claim go together as
    one query, a transaction of their own: when it returns, another connection sees the
    message in flight, can take the connection row's lock at once, and this connection's
    next statement runs outside it (durably committed again)."""
    from django.db import connection, connections

    from pkb_bridge.models import Connection
    from pkb_bridge.services import delivery_sql

    services.enrolment_opt_in(
        attestation="Consented in clinic, paper form filed", patient=patient, actor=clinician
    )
    _due_now()
    paused, claimed = delivery_sql.lock_and_claim(now=timezone.now(), worker="w1", cap=4)
    assert paused is False
    assert claimed is not None
    assert claimed.patient.nhs_number == patient.nhs_number
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT current_setting('synchronous_commit'), now() = statement_timestamp()"
        )
        assert cursor.fetchone() == ("on", True), "a new transaction, durable again"
    other = connections.create_connection("default")  # a second session
    try:
        with other.cursor() as cursor:
            cursor.execute("SET lock_timeout = '1s'")
            cursor.execute(
                f"SELECT status, claimed_by FROM {OutboundMessage._meta.db_table} WHERE id = %s",  # noqa: S608
                [claimed.pk],
            )
            assert cursor.fetchone() == (Status.IN_FLIGHT, "w1")
            cursor.execute(
                f"SELECT paused FROM {Connection._meta.db_table} WHERE name = 'pkb' "  # noqa: S608
                "FOR UPDATE NOWAIT"
            )
            assert cursor.fetchone() == (False,)
    finally:
        other.close()


def test_messages_queued_together_are_stored_as_they_were_built(patient, clinician) -> None:
    enrolment = services.enrolment_opt_in(
        attestation="Consented in clinic, paper form filed", patient=patient, actor=clinician
    )
    queued = messages_enqueue(
        enrolment=enrolment,
        planned=[Planned(Kind.LAB, f"stored:{n}", _text(f"S{n}")) for n in range(2)],
    )
    fields = [field.attname for field in OutboundMessage._meta.concrete_fields]
    for message in queued:
        assert message is not None
        stored = OutboundMessage.objects.get(pk=message.pk)
        assert {name: getattr(stored, name) for name in fields} == {
            name: getattr(message, name) for name in fields
        }
        assert (stored.status, stored.attempts, stored.claimed_by) == (Status.PENDING, 0, "")


@pytest.mark.django_db(transaction=True)
@needs_postgresql
def test_two_transactions_queueing_for_one_patient_take_their_numbers_in_turn(
    patient, clinician
) -> None:
    """The second transaction's numbers wait for the first to end, and follow its own."""
    import threading

    from django.db import connection, transaction

    enrolment = services.enrolment_opt_in(
        attestation="Consented in clinic, paper form filed", patient=patient, actor=clinician
    )
    before = OutboundMessage.objects.filter(patient=patient).count()
    second: list[int] = []

    def queue_second() -> None:
        try:
            with transaction.atomic():
                queued = messages_enqueue(
                    enrolment=enrolment,
                    planned=[Planned(Kind.LAB, f"second:{n}", _text(f"B{n}")) for n in range(2)],
                )
                second.extend(message.seq for message in queued if message is not None)
        finally:
            connection.close()

    worker = threading.Thread(target=queue_second)
    with transaction.atomic():
        first = messages_enqueue(
            enrolment=enrolment,
            planned=[Planned(Kind.LAB, f"first:{n}", _text(f"A{n}")) for n in range(2)],
        )
        worker.start()
        worker.join(1.0)
        assert worker.is_alive(), "the second waits while the first holds the patient's numbers"
    worker.join(20)
    assert not worker.is_alive()
    assert [message.seq for message in first if message is not None] == [before + 1, before + 2]
    assert second == [before + 3, before + 4]


@pytest.mark.django_db(transaction=True)
@needs_postgresql
def test_two_clinicians_opting_in_one_patient_at_once_make_one_enrolment(
    patient, clinician, team_admin
) -> None:
    """The second opt-in waits for the first (the patient's row is locked) and then finds
    the enrolment it made: one enrolment, one registration, no error for either clinician."""
    import threading

    from django.db import connection, transaction

    from pkb_bridge.models import Enrolment

    second: list[Enrolment] = []

    def opt_in_second() -> None:
        try:
            second.append(
                services.enrolment_opt_in(
                    attestation="Consented in clinic, paper form filed",
                    patient=patient,
                    actor=team_admin,
                )
            )
        finally:
            connection.close()

    worker = threading.Thread(target=opt_in_second)
    with transaction.atomic():
        first = services.enrolment_opt_in(
            attestation="Consented in clinic, paper form filed", patient=patient, actor=clinician
        )
        worker.start()
        worker.join(1.0)
        assert worker.is_alive(), "the second waits while the first holds the patient's row"
    worker.join(20)
    assert not worker.is_alive()
    assert [enrolment.pk for enrolment in second] == [first.pk]
    assert Enrolment.objects.filter(patient=patient).count() == 1
    assert OutboundMessage.objects.filter(patient=patient, kind=Kind.REGISTRATION).count() == 1
