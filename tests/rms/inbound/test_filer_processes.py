"""``INBOUND_ACK_AFTER=storing`` with real parts: the listener in its own process answers once
each message is stored; the doorbells are lost (Redis flushed, as after a restart); a Celery
worker and beat, started afterwards, file everything from the stored rows, in order, once.
PostgreSQL and Redis only, as in CI's second run (another process cannot share SQLite's
in-memory test database)."""

from __future__ import annotations

import datetime as dt
import os
import re
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from devtools.mllp_client import MllpClient
from rms.hl7 import parse
from rms.models import InboundMessage, Result
from tests.factories import PatientFactory, TeamFactory
from tests.processes import (
    NEEDS_POSTGRESQL_AND_REDIS,
    empty_broker,
    started_processes,
)
from tests.rms.hl7.samples import sample_bytes

ROOT = Path(__file__).resolve().parents[3]
pytestmark = [
    pytest.mark.celery_worker,
    pytest.mark.django_db(transaction=True),
    NEEDS_POSTGRESQL_AND_REDIS,
]


@pytest.fixture
def broker() -> Iterator[redis.Redis]:
    yield from empty_broker()


@pytest.fixture
def start(broker: redis.Redis) -> Iterator[Callable[..., subprocess.Popen[str]]]:
    """Start a process of ours against the test database and Redis, storing mode on."""
    yield from started_processes(
        INBOUND_ACK_AFTER="storing", INBOUND_FILE_SWEEP_INTERVAL_S="5", INBOUND_FILERS="4"
    )


def worker(concurrency: int) -> list[str]:
    return ["-m", "celery", "-A", "rms", "worker", "--pool=prefork",
            f"--concurrency={concurrency}", "--without-gossip", "--without-mingle",
            "--loglevel=WARNING"]  # fmt: skip


def beat(schedule: str) -> list[str]:
    return ["-m", "celery", "-A", "rms", "beat", "--loglevel=WARNING",
            "--schedule", str(ROOT / "var" / schedule)]  # fmt: skip


def wait_until_none_waiting(what: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while InboundMessage.objects.filter(status="received").exists():
        assert time.monotonic() < deadline, what
        time.sleep(0.3)


def oru(control_id: str, filler: str, value: str, status: str = "F") -> bytes:
    return (
        sample_bytes("oru_r01_psa.hl7")
        .replace(b"LAB0000101", control_id.encode())
        .replace(b"26L0045123", filler.encode())
        .replace(b"||0.24|", f"||{value}|".encode())
        .replace(b"||CH|F", f"||CH|{status}".encode())
    )


def test_messages_acknowledged_on_storing_are_filed_after_the_doorbells_are_lost(
    start, broker
) -> None:  # type: ignore[no-untyped-def]
    patient = PatientFactory(
        nhs_number="9990000018",
        mrn="RXX1234567",
        family_name="Tester",
        date_of_birth=dt.date(1958, 2, 14),
        teams=[TeamFactory(code="URO")],
    )
    listener = start("manage.py", "mllp_listener", "--port", "0", "--threads", "2")
    assert listener.stdout is not None
    port = int(re.search(r":(\d+)", listener.stdout.readline()).group(1))  # type: ignore[union-attr]

    messages = []
    for n in range(10):
        messages.append(oru(f"S{n}", f"F{n}", f"0.0{n}"))
        messages.append(oru(f"C{n}", f"F{n}", f"0.1{n}", status="C"))
    with MllpClient("127.0.0.1", port, timeout_s=15.0) as client:
        acks = [parse(client.send(raw).decode()).get_segment("MSA").value(1) for raw in messages]
    assert acks == ["AA"] * 20
    assert InboundMessage.objects.filter(status="received", ack_code="AA").count() == 20
    assert not Result.objects.exists(), "acknowledged on storing, nothing filed yet"

    broker.flushdb()  # every doorbell lost: only the stored rows know
    start(*worker(2))
    start(*beat("test-inbound-beat-schedule"))
    deadline = time.monotonic() + 90
    while InboundMessage.objects.exclude(status="processed").exists():
        assert time.monotonic() < deadline, "the sweep did not file the stored messages"
        time.sleep(0.3)

    assert Result.objects.filter(patient=patient).count() == 10
    for result in Result.objects.all():
        assert (result.status, result.version) == ("corrected", 2), "correction after original"
        current = result.observations.get(superseded_at__isnull=True)
        assert current.value_text == f"0.1{result.filler_order_number[1:]}"


def patient_oru(patient, control_id: str, filler: str, value: str, status: str = "F") -> bytes:  # type: ignore[no-untyped-def]
    return (
        oru(control_id, filler, value, status)
        .replace(b"9990000018", patient.nhs_number.encode())
        .replace(b"RXX1234567", patient.mrn.encode())
    )


def store_through_the_listener(start, patients) -> int:  # type: ignore[no-untyped-def]
    """Each patient's original, its correction and a second result, interleaved across the
    patients, sent to a listener acknowledging on storing; returns how many were sent."""
    listener = start("manage.py", "mllp_listener", "--port", "0", "--threads", "2")
    assert listener.stdout is not None
    port = int(re.search(r":(\d+)", listener.stdout.readline()).group(1))  # type: ignore[union-attr]
    messages = []
    for step, status in (("O", "F"), ("C", "C"), ("S", "F")):
        for n, patient in enumerate(patients):
            filler = f"F{n}B" if step == "S" else f"F{n}A"
            messages.append(patient_oru(patient, f"{step}{n}", filler, f"0.{n:02d}{step}", status))
    with MllpClient("127.0.0.1", port, timeout_s=15.0) as client:
        for raw in messages:
            assert parse(client.send(raw).decode()).get_segment("MSA").value(1) == "AA"
    listener.terminate()
    return len(messages)


def check_each_patient_filed_once_in_order(patients) -> None:  # type: ignore[no-untyped-def]
    assert not InboundMessage.objects.exclude(status="processed").exists()
    assert set(InboundMessage.objects.values_list("attempts", flat=True)) == {1}, (
        "every message filed once: a killed filer's batch rolled back whole"
    )
    for n, patient in enumerate(patients):
        rows = list(InboundMessage.objects.filter(patient=patient).order_by("received_at", "pk"))
        assert [r.control_id for r in rows] == [f"O{n}", f"C{n}", f"S{n}"]
        times = [r.processed_at for r in rows if r.processed_at is not None]
        assert len(times) == 3 and times == sorted(times), (
            f"patient {n}'s messages were filed out of order"
        )
        first = Result.objects.get(patient=patient, filler_order_number=f"F{n}A")
        assert (first.status, first.version) == ("corrected", 2)
        assert first.observations.count() == 2
        current = first.observations.get(superseded_at__isnull=True)
        assert current.value_text == f"0.{n:02d}C"
        assert Result.objects.filter(patient=patient).count() == 2


@pytest.fixture
def many_patients() -> list:  # type: ignore[type-arg]
    team = TeamFactory(code="URO")
    return [
        PatientFactory(family_name="Tester", date_of_birth=dt.date(1958, 2, 14), teams=[team])
        for _ in range(40)
    ]


def test_four_filers_file_each_patient_in_arrival_order_and_each_message_once(
    start, broker, many_patients
) -> None:  # type: ignore[no-untyped-def]
    sent = store_through_the_listener(start, many_patients)
    assert InboundMessage.objects.filter(status="received", ack_code="AA").count() == sent
    broker.flushdb()  # the doorbells lost: beat's sweep starts the filers

    start(*worker(4))
    start(*beat("test-inbound-beat-schedule-4"))
    wait_until_none_waiting("the filers did not file the stored messages")
    check_each_patient_filed_once_in_order(many_patients)


def test_a_filer_killed_mid_batch_loses_nothing_and_files_nothing_twice(
    start, broker, many_patients
) -> None:  # type: ignore[no-untyped-def]
    sent = store_through_the_listener(start, many_patients)
    broker.flushdb()
    first = start(*worker(4))
    start(*beat("test-inbound-beat-schedule-kill"))
    deadline = time.monotonic() + 120
    while InboundMessage.objects.filter(status="processed").count() < 10:
        assert time.monotonic() < deadline, "the filers did not start"
        time.sleep(0.02)
    os.killpg(first.pid, signal.SIGKILL)  # the worker and its pool, mid-batch
    first.wait(10)
    left = InboundMessage.objects.filter(status="received").count()
    assert 0 < left < sent, "killed while messages were still waiting"

    start(*worker(4))
    wait_until_none_waiting("the survivors did not file what was left")
    check_each_patient_filed_once_in_order(many_patients)


def test_a_burst_of_stored_messages_rings_the_filers_once_now_and_once_after(
    broker, settings
) -> None:  # type: ignore[no-untyped-def]
    from rms.inbound.receive import Doorbell

    settings.INBOUND_FILERS = 3  # a ring starts one filing task a filer
    queue = "celery"
    bell = Doorbell(interval=0.5)
    for _ in range(200):
        bell.ring()
    assert broker.llen(queue) == 3, "one ring at once"
    time.sleep(1.0)
    assert broker.llen(queue) == 6, "and one at the end of the interval, for the last message"
    bell.ring()
    assert broker.llen(queue) == 9, "a quiet bell rings at once again"
