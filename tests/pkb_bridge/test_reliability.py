"""Delivery semantics with real parts: Celery workers in their own processes, Redis as the
broker, PostgreSQL, and the PKB sandbox over HTTP. They run in CI's second run (PostgreSQL and
Redis); on SQLite there is no way for another process to share the test database, so they are
skipped there with that reason."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path

import pytest
import redis
from django.db.models import Sum
from django.utils import timezone

from devtools.sandbox import SandboxServer
from pkb_bridge import services
from pkb_bridge.models import DeliveryAttempt, OutboundMessage
from tests.factories import ObservationFactory, PatientFactory, ResultFactory
from tests.processes import (
    BROKER,
    NEEDS_POSTGRESQL_AND_REDIS,
    empty_broker,
    shared_database_url,
    stop_process_groups,
)

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [
    pytest.mark.celery_worker,
    pytest.mark.django_db(transaction=True),
    NEEDS_POSTGRESQL_AND_REDIS,
]
Status = OutboundMessage.Status


@pytest.fixture
def broker() -> Iterator[redis.Redis]:
    yield from empty_broker()


@pytest.fixture(autouse=True)
def one_result_per_message(settings) -> None:  # type: ignore[no-untyped-def]
    # No packing, so that each patient has several messages to keep in order.
    settings.PKB_PACK_MAX_REPORTS = 1


@pytest.fixture
def start_process(
    sandbox: SandboxServer, broker: redis.Redis
) -> Iterator[Callable[..., subprocess.Popen[str]]]:
    """Start ``celery -A rms <args>`` against the test database, Redis and the sandbox."""
    started: list[subprocess.Popen[str]] = []

    def start(*args: str, **env: str) -> subprocess.Popen[str]:
        environment = {
            **os.environ,
            "DATABASE_URL": shared_database_url(),
            "CELERY_BROKER_URL": BROKER,
            "PKB_URL": sandbox.url,
            "PKB_USERNAME": "rms",
            "PKB_PASSWORD": "pw",
            "PKB_TIMEOUT_S": "5",
            "PKB_RETRY_BASE_S": "0.2",
            "PKB_RETRY_MAX_S": "1",
            "PKB_IN_FLIGHT_LEASE_S": "6",
            "PKB_SWEEP_INTERVAL_S": "1",
            "PKB_DISPATCH_BUDGET_S": "20",
            "LOG_LEVEL": "WARNING",
            **env,
        }
        process = subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "celery", "-A", "rms", *args],
            cwd=ROOT,
            env=environment,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,  # its own process group: SIGKILL reaches the pool too
        )
        started.append(process)
        return process

    yield start
    stop_process_groups(started)


def worker(
    start: Callable[..., subprocess.Popen[str]], name: str, concurrency: int = 1, **env: str
):  # type: ignore[no-untyped-def]
    return start(
        "worker",
        "--pool=prefork",
        f"--concurrency={concurrency}",
        f"--hostname={name}@%h",
        "--without-gossip",
        "--without-mingle",
        "--loglevel=WARNING",
        **env,
    )


def enrol(team, clinician, *, results: int = 5):  # type: ignore[no-untyped-def]
    patient = PatientFactory(teams=[team])
    start = timezone.now() - dt.timedelta(days=500)
    for n in range(results):
        result = ResultFactory(patient=patient, observed_at=start + dt.timedelta(days=100 * n))
        ObservationFactory(
            result=result, value_text=f"0.0{n + 1}", value_numeric=Decimal(f"0.0{n + 1}")
        )
    services.enrolment_opt_in(
        attestation="Consented in clinic, paper form filed", patient=patient, actor=clinician
    )
    return patient


def wait_until(condition: Callable[[], bool], timeout: float = 90.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def all_delivered() -> bool:
    return not OutboundMessage.objects.exclude(status=Status.DELIVERED).exists()


def ring() -> None:
    from pkb_bridge.tasks import dispatch

    dispatch.delay()


def arrival_order_is_seq_order(sandbox: SandboxServer) -> None:
    by_control_id = {m.control_id: m for m in OutboundMessage.objects.all()}
    first_seen: dict[int, list[int]] = {}
    seen: set[str] = set()
    for entry in sandbox.state.messages():
        if entry["control_id"] in seen:
            continue  # a retry of the same MSH-10
        seen.add(entry["control_id"])
        message = by_control_id[entry["control_id"]]
        first_seen.setdefault(message.patient_id, []).append(message.seq)
    for seqs in first_seen.values():
        assert seqs == sorted(seqs)
    assert seen == set(by_control_id)


def test_a_worker_killed_mid_send_loses_nothing_and_the_message_goes_again_with_its_msh10(
    team, clinician, sandbox, start_process
) -> None:
    patient = enrol(team, clinician)
    sandbox.set_faults(delay_s=3.0)
    first = worker(start_process, "doomed")
    ring()
    wait_until(
        lambda: OutboundMessage.objects.filter(status=Status.IN_FLIGHT).exists(),
        what="a message in flight",
    )
    in_flight = OutboundMessage.objects.get(status=Status.IN_FLIGHT)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait(10)
    sandbox.set_faults(delay_s=0.0)

    worker(start_process, "survivor")
    start_process(
        "beat", "--loglevel=WARNING", "--schedule", str(ROOT / "var" / "test-beat-schedule")
    )
    wait_until(all_delivered, what="every message delivered after the kill")

    in_flight.refresh_from_db()
    assert in_flight.attempts >= 2
    copies = [m for m in sandbox.state.messages() if m["control_id"] == in_flight.control_id]
    assert 1 <= len(copies) <= 2, "resent with the same MSH-10, at most once more"
    assert OutboundMessage.objects.filter(patient=patient).count() == len(
        {m["control_id"] for m in sandbox.state.messages()}
    )
    arrival_order_is_seq_order(sandbox)


def test_two_workers_never_send_two_of_one_patient_at_once_nor_more_than_the_cap(
    team, clinician, sandbox, start_process
) -> None:
    for _ in range(4):
        enrol(team, clinician, results=4)
    sandbox.set_faults(delay_s=0.05)
    cap = {"PKB_MAX_IN_FLIGHT": "2"}
    worker(start_process, "one", concurrency=2, **cap)
    worker(start_process, "two", concurrency=2, **cap)
    for _ in range(6):
        ring()
    start_process(
        "beat", "--loglevel=WARNING", "--schedule", str(ROOT / "var" / "test-beat-schedule"), **cap
    )
    wait_until(all_delivered, what="every message of four patients delivered")
    assert sandbox.state.max_in_flight_same_patient == 1
    assert sandbox.state.max_in_flight <= 2
    arrival_order_is_seq_order(sandbox)


def test_four_in_flight_overlap_patients_but_never_more_than_four_nor_two_of_one_patient(
    team, clinician, sandbox, start_process
) -> None:
    """PKB's agreement allows up to four messages at once (PKB_MAX_IN_FLIGHT=4): the ring
    starts four dispatchers on a worker of eight processes, so four patients' messages are at
    PKB together, never a fifth, never two of one patient, each patient's in order, and every
    attempt recorded."""
    for _ in range(8):
        enrol(team, clinician, results=4)
    sandbox.set_faults(delay_s=0.2)
    cap = {"PKB_MAX_IN_FLIGHT": "4"}
    worker(start_process, "wide", concurrency=8, **cap)
    for _ in range(2):
        # Two rings at once (as two commits would make): eight dispatchers for a cap of four.
        for _ in range(4):
            ring()
    wait_until(all_delivered, what="every message of eight patients delivered")
    assert sandbox.state.max_in_flight == 4, "four messages at PKB at once, never more"
    assert sandbox.state.max_in_flight_same_patient == 1
    arrival_order_is_seq_order(sandbox)
    received = sandbox.state.messages()
    assert DeliveryAttempt.objects.count() == len(received)
    assert OutboundMessage.objects.aggregate(Sum("attempts"))["attempts__sum"] == len(received)


def test_a_lost_doorbell_costs_one_sweep_interval_not_a_message(
    team, clinician, sandbox, start_process, broker
) -> None:
    enrol(team, clinician)
    broker.flushdb()  # Redis lost every task: only the outbox knows
    worker(start_process, "worker")
    start_process(
        "beat", "--loglevel=WARNING", "--schedule", str(ROOT / "var" / "test-beat-schedule")
    )
    wait_until(all_delivered, timeout=60, what="the sweeper to find the rows")
    arrival_order_is_seq_order(sandbox)


def test_a_burst_of_opt_ins_rings_the_dispatchers_once_now_and_once_after_then_all_is_sent(
    team, clinician, sandbox, start_process, broker, settings, monkeypatch
) -> None:
    from pkb_bridge.services.outbox import dispatch_doorbell

    settings.PKB_MAX_IN_FLIGHT = 2  # a ring starts one dispatcher a message in flight
    # An interval longer than three opt-ins take here, so that the burst is one burst.
    monkeypatch.setattr(dispatch_doorbell, "interval", 3.0)
    monkeypatch.setattr(dispatch_doorbell, "_last", float("-inf"))  # a quiet bell
    for _ in range(3):
        enrol(team, clinician, results=1)  # three commits, each queueing messages
    assert broker.llen("celery") == 2, "one ring at once, not one a commit"
    time.sleep(dispatch_doorbell.interval + 1)
    assert broker.llen("celery") == 4, "and one at the end of the interval, for the last commit"
    worker(start_process, "worker")
    wait_until(all_delivered, timeout=60, what="the dispatchers to send what the rings announced")
    arrival_order_is_seq_order(sandbox)


def test_pkb_down_for_a_while_then_back_delivers_everything_in_order(
    team, clinician, sandbox, start_process
) -> None:
    for _ in range(2):
        enrol(team, clinician, results=3)
    sandbox.set_faults(refuse_connections=True)
    worker(start_process, "worker")
    start_process(
        "beat", "--loglevel=WARNING", "--schedule", str(ROOT / "var" / "test-beat-schedule")
    )
    ring()
    wait_until(
        lambda: OutboundMessage.objects.filter(attempts__gte=2).exists(), what="retries while down"
    )
    assert not OutboundMessage.objects.filter(status=Status.DELIVERED).exists()
    sandbox.set_faults(refuse_connections=False)
    wait_until(all_delivered, what="everything after PKB came back")
    arrival_order_is_seq_order(sandbox)


def test_a_worker_killed_mid_send_holds_up_delivery_for_moments_not_the_lease(
    team, clinician, sandbox, start_process
) -> None:
    """Reliability reference §5.1 O10 (a SIGKILL mid-send: the row is reclaimed and resent
    with the same MSH-10, at-least-once) and §6 ("Live latency": p95 ≤ 60 s while PKB is
    healthy); PKB interface §3.3 (one message at a time, so one dead claim halts everything).
    With PKB's real send deadline (30 s) and the lease left to follow it, a worker started
    after the kill gives the dead process's claim back at once: everything is delivered well
    within the lease, with no sweeper running."""
    patient = enrol(team, clinician, results=3)
    sandbox.set_faults(delay_s=3.0)
    deadline = {"PKB_TIMEOUT_S": "30", "PKB_IN_FLIGHT_LEASE_S": ""}  # the lease's default
    doomed = worker(start_process, "doomed", **deadline)
    ring()
    wait_until(
        lambda: OutboundMessage.objects.filter(status=Status.IN_FLIGHT).exists(),
        what="a message in flight",
    )
    in_flight = OutboundMessage.objects.get(status=Status.IN_FLIGHT)
    os.killpg(doomed.pid, signal.SIGKILL)
    doomed.wait(10)
    sandbox.set_faults(delay_s=0.0)
    killed_at = time.monotonic()

    worker(start_process, "restarted", **deadline)
    wait_until(all_delivered, timeout=25, what="delivery to resume after the restart")
    assert time.monotonic() - killed_at < 25, "resumed before the 45 s lease ran out"

    in_flight.refresh_from_db()
    assert in_flight.attempts == 2
    copies = [m for m in sandbox.state.messages() if m["control_id"] == in_flight.control_id]
    assert 1 <= len(copies) <= 2, "resent with the same MSH-10, at most once more"
    assert OutboundMessage.objects.filter(patient=patient).count() == len(
        {m["control_id"] for m in sandbox.state.messages()}
    )
    arrival_order_is_seq_order(sandbox)
