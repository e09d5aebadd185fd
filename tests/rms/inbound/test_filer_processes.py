"""``INBOUND_ACK_AFTER=storing`` with real parts: the listener in its own process answers once
each message is stored; the doorbells are lost (Redis flushed, as after a restart); a Celery
worker and beat, started afterwards, file everything from the stored rows, in order, once.
PostgreSQL and Redis only, as in CI's second run (another process cannot share SQLite's
in-memory test database)."""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import sys
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
    BROKER,
    NEEDS_POSTGRESQL_AND_REDIS,
    empty_broker,
    shared_database_url,
    stop_process_groups,
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
    started: list[subprocess.Popen[str]] = []

    def run(*args: str) -> subprocess.Popen[str]:
        environment = {
            **os.environ,
            "DATABASE_URL": shared_database_url(),
            "CELERY_BROKER_URL": BROKER,
            "INBOUND_ACK_AFTER": "storing",
            "INBOUND_FILE_SWEEP_INTERVAL_S": "5",
            "LOG_LEVEL": "WARNING",
        }
        process = subprocess.Popen(  # noqa: S603
            [sys.executable, *args],
            cwd=ROOT,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            start_new_session=True,
        )
        started.append(process)
        return process

    yield run
    stop_process_groups(started)


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
    start("-m", "celery", "-A", "rms", "worker", "--pool=prefork", "--concurrency=2",
          "--without-gossip", "--without-mingle", "--loglevel=WARNING")  # fmt: skip
    start("-m", "celery", "-A", "rms", "beat", "--loglevel=WARNING",
          "--schedule", str(ROOT / "var" / "test-inbound-beat-schedule"))  # fmt: skip
    deadline = time.monotonic() + 90
    while InboundMessage.objects.exclude(status="processed").exists():
        assert time.monotonic() < deadline, "the sweep did not file the stored messages"
        time.sleep(0.3)

    assert Result.objects.filter(patient=patient).count() == 10
    for result in Result.objects.all():
        assert (result.status, result.version) == ("corrected", 2), "correction after original"
        current = result.observations.get(superseded_at__isnull=True)
        assert current.value_text == f"0.1{result.filler_order_number[1:]}"


def test_a_burst_of_stored_messages_rings_the_filer_once_now_and_once_after(broker) -> None:  # type: ignore[no-untyped-def]
    from rms.inbound.receive import Doorbell

    queue = "celery"
    bell = Doorbell(interval=0.5)
    for _ in range(200):
        bell.ring()
    assert broker.llen(queue) == 1, "one ring at once"
    time.sleep(1.0)
    assert broker.llen(queue) == 2, "and one at the end of the interval, for the last message"
    bell.ring()
    assert broker.llen(queue) == 3, "a quiet bell rings at once again"
