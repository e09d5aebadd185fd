"""Historic upload to PKB: opt in N patients with M results each, against the PKB sandbox
running as its own process, over real HTTP, backed by PostgreSQL.

Reports the messages sent with packing (several OBR groups per ORU^R01) and what they would
have been without it, the wall time, and the CPU milliseconds this process (the RMS: building,
queueing, claiming, sending, recording) spends per message. The sandbox's own CPU is not counted
in those; it is reported beside them, with the RMS's queueing per message and sending per packed
ORU^R01 as fractions of it (the figures to compare between runs on a machine shared with
others).

    .venv/bin/python bench/pkb_historic.py [--patients 200] [--items 200] [--rtt-ms 0]
        [--in-flight 1]

With ``--in-flight N`` (PKB_MAX_IN_FLIGHT=N) the sending is done by N dispatchers at once,
threads of this process each with its own transport and database connection, as N Celery
tasks would: different patients' messages overlap, never two of one patient.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import gc
import json
import os
import socket
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, analyse, cpu_seconds, database_url, fresh_database, setup_django


class GcClock:
    """The CPU seconds the garbage collector takes, by phase (its start and stop callbacks)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.collections = 0
        self._started = 0.0
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.thread_time()
        else:
            self.seconds += time.thread_time() - self._started
            self.collections += 1

    def lap(self) -> tuple[int, float]:
        """Collections and their milliseconds since the last lap."""
        lap = (self.collections, round(self.seconds * 1000, 1))
        self.seconds, self.collections = 0.0, 0
        return lap


def fresh_heap(clock: GcClock) -> None:
    """Collect what the set-up left (a cohort of thousands of rows made in this process, which
    a process opting patients in or sending has never made) before a measured phase: else a
    full collection of it falls inside the phase (about 120 ms here, 0.4 ms a message of a
    60-patient run) and is counted as the phase's own."""
    gc.collect()
    clock.lap()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_cohort(patients: int, items: int) -> list[int]:
    """Patients with ``items`` lab results each, written in bulk (a data generator, not a
    feed: it bypasses the services on purpose)."""
    from rms import services
    from rms.models import CaseloadEntry, Observation, Patient, Result
    from tests.factories import next_test_nhs_number

    team = services.team_create(
        code="URO", name="Urology", tumour_site="prostate", pkb_team_alias="RXX-URO"
    )
    today = dt.datetime.now(dt.UTC).date()
    people = Patient.objects.bulk_create(
        Patient(
            nhs_number=next_test_nhs_number(),
            nhs_number_status="01",
            mrn=f"BENCH{n:06d}",
            given_name="Bench",
            family_name=f"Patient{n}",
            date_of_birth=dt.date(1950, 1, 1),
            sex="M",
        )
        for n in range(patients)
    )
    CaseloadEntry.objects.bulk_create(
        CaseloadEntry(patient=p, team=team, started_on=today) for p in people
    )
    start = dt.datetime.now(dt.UTC) - dt.timedelta(days=5 * 365)
    step = dt.timedelta(days=5 * 365 / max(1, items))
    for person in people:
        results = Result.objects.bulk_create(
            Result(
                patient=person,
                category="lab",
                source_system="WINPATH",
                filler_order_number=f"B{person.pk}-{i}",
                service_code="PSA",
                service_name="Prostate specific antigen",
                observed_at=start + step * i,
                status="final",
            )
            for i in range(items)
        )
        Observation.objects.bulk_create(
            Observation(
                result=r,
                code="PSA",
                name="PSA",
                value_type="NM",
                value_text="0.05",
                value_numeric=Decimal("0.05"),
                units="ug/L",
                reference_range="0.00-4.00",
                observed_at=r.observed_at,
            )
            for r in results
        )
    return [p.pk for p in people]


def send_all(dispatchers: int) -> dict[str, list[float]]:
    """Send everything queued with ``dispatchers`` dispatchers at once, each claiming and
    sending as ``services.dispatch`` does until no message is left to go. With one, returns
    the process CPU seconds each message took (claim, checks, send, record), by kind."""
    import threading

    from django.db import connection

    from pkb_bridge import services
    from pkb_bridge.models import OutboundMessage
    from pkb_bridge.services.delivery import worker_name

    by_kind: dict[str, list[float]] = {}

    def run() -> None:
        transport = services.transport_from_settings()
        worker = worker_name()
        try:
            while True:
                before = time.process_time()
                message = services.message_claim(worker=worker)
                if message is not None:
                    services.message_send(message=message, transport=transport, worker=worker)
                    if dispatchers == 1:
                        by_kind.setdefault(message.kind, []).append(time.process_time() - before)
                    continue
                # Nothing this dispatcher could take: done when nothing is left to go
                # (another dispatcher may hold a patient's message whose next one waits).
                if not OutboundMessage.objects.filter(status__in=OutboundMessage.OPEN).exists():
                    break
                time.sleep(0.005)
        finally:
            transport.close()
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(dispatchers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return by_kind


def per_message(seconds: list[float] | None) -> float | None:
    return round(sum(seconds) * 1000 / len(seconds), 2) if seconds else None


def sandbox_status(port: int) -> dict[str, object]:
    """The sandbox's concurrency counters: the most messages it held at once, in all and of
    one patient."""
    import urllib.request

    url = f"http://127.0.0.1:{port}/_sandbox/messages"
    with urllib.request.urlopen(url) as answer:
        body = json.loads(answer.read())
    return {key: body[key] for key in ("max_in_flight", "max_in_flight_same_patient")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--patients", type=int, default=200)
    parser.add_argument("--items", type=int, default=200)
    parser.add_argument("--rtt-ms", type=float, default=0.0, help="simulated PKB round trip")
    parser.add_argument(
        "--in-flight", type=int, default=1, help="PKB_MAX_IN_FLIGHT: dispatchers sending at once"
    )
    parser.add_argument(
        "--profile",
        metavar="PREFIX",
        help="write cProfile stats of the two phases to PREFIX.queueing.prof and "
        "PREFIX.sending.prof (the CPU figures then include the profiler's overhead)",
    )
    args = parser.parse_args()

    url = database_url()
    fresh_database(url)
    port = free_port()
    os.environ.update(
        PKB_URL=f"http://127.0.0.1:{port}/services/hl7",
        PKB_USERNAME="bench",
        PKB_PASSWORD="bench",  # noqa: S106 - the local sandbox's
        LOG_LEVEL="WARNING",
        PKB_MAX_IN_FLIGHT=str(args.in_flight),
    )
    setup_django(url)
    gc_clock = GcClock()
    from django.contrib.auth.models import User

    from pkb_bridge import services
    from pkb_bridge.models import OutboundMessage
    from rms import services as rms_services

    # Measure the queueing and the sending apart: no in-process dispatch at commit.
    from rms.celery import app
    from rms.models import Patient
    from rms.models.teams import Role

    app.conf.task_always_eager = False
    # What a process pays once, at its first task sent, not per message: Celery finalizing
    # its app (its tasks' registry), loading the result backend through the installed
    # packages' entry points, and the broker's producer. About 150 ms here, a third of a
    # millisecond a message of a 100-patient run, in the web or worker process that opts a
    # cohort in long before.
    from pkb_bridge.tasks import dispatch

    app.finalize(auto=True)
    _ = dispatch.backend
    with app.producer_or_acquire():
        pass
    ids = make_cohort(args.patients, args.items)
    analyse()
    team = rms_services.team_create(code="ONC", name="Oncology", tumour_site="other")
    clinician = User.objects.create_user("bench.cns")
    uro = team.__class__.objects.get(code="URO")
    rms_services.membership_set(user=clinician, team=uro, role=Role.CLINICIAN)

    sandbox = subprocess.Popen(  # noqa: S603
        [
            sys.executable,
            "manage.py",
            "pkb_sandbox",
            "--port",
            str(port),
            "--username",
            "bench",
            "--password",
            "bench",
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        if args.rtt_ms:
            import urllib.request

            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/_sandbox/faults",
                data=json.dumps({"delay_s": args.rtt_ms / 1000}).encode(),
                headers={"Content-Type": "application/json"},
            )
            urllib.request.urlopen(request).read()  # noqa: S310

        profiler = cProfile.Profile(time.process_time) if args.profile else None
        fresh_heap(gc_clock)
        wall0, cpu0 = time.perf_counter(), time.process_time()
        if profiler:
            profiler.enable()
        for n, patient in enumerate(Patient.objects.filter(pk__in=ids).order_by("pk")):
            services.enrolment_opt_in(
                patient=patient, actor=clinician, attestation="Benchmark: fictional patient"
            )
            if n == 9:
                # Autovacuum analyses a table once 50 rows and a tenth of it have changed,
                # within a minute: by now the outbox and the publications hold hundreds. Until
                # then the planner takes them for the empty tables they were, and the foreign-key
                # checks Django defers to each opt-in's commit are planned for that: without this
                # the COMMIT ran at 100% of a core for 150 ms an opt-in (37 s of 200 opt-ins
                # against 7.5 s with it; our CPU, the figure measured, moved little).
                analyse()
        if profiler:
            profiler.disable()
            profiler.dump_stats(f"{args.profile}.queueing.prof")
            profiler = cProfile.Profile(time.process_time)
        wall1, cpu_end_queueing = time.perf_counter(), time.process_time()
        gc_queueing = gc_clock.lap()
        messages = OutboundMessage.objects.count()
        # The statistics autovacuum would have gathered by now (it analyses a table once a
        # tenth of it has changed, within a minute): the queueing took seconds to minutes, the
        # sending takes minutes. Not counted in either phase.
        analyse()
        fresh_heap(gc_clock)
        send_start, cpu1 = time.perf_counter(), time.process_time()
        sandbox_cpu1 = cpu_seconds(sandbox.pid)

        if profiler:
            profiler.enable()
        by_kind = send_all(args.in_flight)
        if profiler:
            profiler.disable()
            profiler.dump_stats(f"{args.profile}.sending.prof")
        wall2, cpu2 = time.perf_counter(), time.process_time()
        gc_sending = gc_clock.lap()
        sandbox_cpu2 = cpu_seconds(sandbox.pid)
        concurrency = sandbox_status(port)
        delivered = OutboundMessage.objects.filter(status="delivered").count()
    finally:
        sandbox.terminate()
        sandbox.wait(20)

    unpacked = args.patients * (1 + args.items)
    # The two phases' CPU, without what runs between them (a count, the statistics, the
    # collection of the queueing's garbage).
    ours = (cpu_end_queueing - cpu0) + (cpu2 - cpu1)
    queueing_ms = (cpu_end_queueing - cpu0) * 1000 / max(1, messages)
    sandbox_ms = (sandbox_cpu2 - sandbox_cpu1) * 1000 / max(1, messages)
    packed_ms = per_message(by_kind.get("ORU^R01"))
    print(
        json.dumps(
            {
                "benchmark": "pkb_historic",
                "patients": args.patients,
                "items_per_patient": args.items,
                "simulated_rtt_ms": args.rtt_ms,
                "in_flight": args.in_flight,
                "sandbox_max_in_flight": concurrency["max_in_flight"],
                "sandbox_max_in_flight_same_patient": concurrency["max_in_flight_same_patient"],
                "messages_with_packing": messages,
                "messages_without_packing": unpacked,
                "delivered": delivered,
                "opt_in_wall_s": round(wall1 - wall0, 2),
                "send_wall_s": round(wall2 - send_start, 2),
                "messages_per_s": round(delivered / (wall2 - send_start), 1),
                # With one message in flight (PKB_MAX_IN_FLIGHT=1), the time PKB's round trips
                # alone take: send_wall_s minus this is the RMS's own share.
                "pkb_round_trips_s": round(delivered * args.rtt_ms / 1000, 1),
                "rms_cpu_ms_per_message": round(ours * 1000 / max(1, messages), 2),
                "rms_cpu_ms_per_item": round(ours * 1000 / max(1, unpacked), 3),
                "rms_cpu_ms_queueing_per_message": round(queueing_ms, 2),
                "rms_cpu_ms_sending_per_message": round((cpu2 - cpu1) * 1000 / max(1, messages), 2),
                # One dispatcher only: a packed ORU^R01 apart from the registrations (ADT^A28),
                # whose acceptance also notes the registration and raises the team's work item
                # for a patient without an email.
                "rms_cpu_ms_sending_per_packed_message": packed_ms,
                "rms_cpu_ms_sending_per_registration": per_message(by_kind.get("ADT^A28")),
                "target_rms_cpu_ms_sending": 2.0,
                "target_rms_cpu_ms_queueing": 2.0,
                # The garbage collector's share of each phase, counted in the figures above:
                # collections and milliseconds.
                "gc_queueing": list(gc_queueing),
                "gc_sending": list(gc_sending),
                # PKB's side (the sandbox, its own process on the same cores): what it spends
                # taking each message, which at PKB is part of its round trip.
                "sandbox_cpu_ms_per_message": round(sandbox_ms, 2),
                # The RMS's CPU against the sandbox's in the same run: the machine's load
                # moves both, so runs on a shared machine compare by these.
                "rms_queueing_per_sandbox": round(queueing_ms / sandbox_ms, 2)
                if sandbox_ms
                else None,
                "rms_sending_per_packed_message_per_sandbox": round(packed_ms / sandbox_ms, 2)
                if sandbox_ms and packed_ms is not None
                else None,
            }
        )
    )

    if delivered != messages:
        raise SystemExit(f"only {delivered} of {messages} messages were delivered")


if __name__ == "__main__":
    main()
