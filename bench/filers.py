"""Filing that grows with workers (``INBOUND_ACK_AFTER=storing``): how fast 1, 2 and 4
filers, each its own process, file the same backlog of stored ORU^R01 messages (a five-test
blood panel each) for many patients, in PostgreSQL. The baseline is one filer, measured in
the same run; each row reports its rate as a multiple of it (``speedup``) and the machine's
cores beside it (filers are CPU-bound Python, and PostgreSQL shares the cores).

The backlog is stored the listener's way (``receive`` in storing mode) with the doorbell
muted, so that nothing is filed before the filers start; they start together once each has
set itself up, and the clock runs from then until no stored message is left. Events that
filing records go to Redis and wait there: their consumers are another benchmark's.

    .venv/bin/python bench/filers.py [--messages 2000] [--patients 400] [--filers 1,2,4]
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, cpu_seconds, database_url, fresh_database, setup_django

BROKER = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/9")


def nhs_numbers(count: int) -> list[str]:
    """Valid NHS numbers in the test range (999...)."""
    from rms.nhs_number import is_valid

    found: list[str] = []
    n = 9990000000
    while len(found) < count:
        if is_valid(str(n)):
            found.append(str(n))
        n += 1
    return found


def oru(control_id: str, nhs: str, mrn: str, filler: str) -> bytes:
    segments = [
        f"MSH|^~\\&|WINPATH|RXX01|RMS|RXX|20261110141502||ORU^R01^ORU_R01|{control_id}|P|2.4",
        f"PID|1||{nhs}^^^NHS^NH~{mrn}^^^RXX^MR||TESTER^Alan^James^^Mr||19580214|M",
        "PV1|1|O",
        f"ORC|RE|ORD{filler}|{filler}",
        f"OBR|1|ORD{filler}|{filler}|BLD^Bloods^WINPATH|||20261110083000|||||||||||||||"
        "20261110141500||CH|F",
        "OBX|1|NM|PSA^PSA^WINPATH||0.04|ug/L|0.00-4.00|N|||F|||20261110083000",
        "OBX|2|NM|HB^Haemoglobin^WINPATH||139|g/L|130-170|N|||F|||20261110083000",
        "OBX|3|NM|WCC^White cells^WINPATH||6.1|10*9/L|4.0-11.0|N|||F|||20261110083000",
        "OBX|4|NM|PLT^Platelets^WINPATH||250|10*9/L|150-400|N|||F|||20261110083000",
        "OBX|5|NM|CREA^Creatinine^WINPATH||88|umol/L|59-104|N|||F|||20261110083000",
    ]
    return ("\r".join(segments) + "\r").encode()


def store_backlog(tag: str, patients: list[tuple[str, str]], messages: int) -> None:
    from rms.inbound import receive

    receive_module = importlib.import_module("rms.inbound.receive")
    receive_module.doorbell.send = lambda: None  # the filers start when the clock does
    for n in range(messages):
        nhs, mrn = patients[n % len(patients)]
        receive(raw=oru(f"{tag}-{n}", nhs, mrn, f"{tag}F{n}"), channel="mllp")


def file_worker() -> None:
    """One filer: set up, say so, wait for the word, file until nothing is left."""
    setup_django(database_url())
    from rms import services
    from rms.inbound.receive import QUEUED, inbound_file_queued
    from rms.models import InboundMessage

    actor = services.system_user()
    print("ready", flush=True)
    sys.stdin.readline()
    filed = 0
    while True:
        filed += inbound_file_queued(actor=actor)
        if not InboundMessage.objects.filter(**QUEUED).exists():
            break
        time.sleep(0.01)  # the rest is another filer's patients: look again shortly
    print(json.dumps({"filed": filed}), flush=True)


def run_filers(count: int) -> dict[str, object]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "DEBUG": "false",
        "LOG_LEVEL": "WARNING",
        "INBOUND_ACK_AFTER": "storing",
        "CELERY_BROKER_URL": BROKER,
    }
    filers = [
        subprocess.Popen(
            [sys.executable, "bench/filers.py", "--file-worker"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(count)
    ]
    for filer in filers:
        if filer.stdout is None or filer.stdout.readline().strip() != "ready":
            raise SystemExit("a filer did not start")
    cpu_before = [cpu_seconds(f.pid) for f in filers]
    started = time.perf_counter()
    for filer in filers:
        if filer.stdin is not None:
            filer.stdin.write("go\n")
            filer.stdin.flush()
    counts = []
    cpu = []
    for filer, before in zip(filers, cpu_before, strict=True):
        line = filer.stdout.readline() if filer.stdout is not None else "{}"
        cpu.append(cpu_seconds(filer.pid) - before)
        counts.append(int(json.loads(line)["filed"]))
        filer.wait(60)
    wall = time.perf_counter() - started
    filed = sum(counts)
    return {
        "filers": count,
        "messages": filed,
        "wall_s": round(wall, 2),
        "messages_per_s": round(filed / wall, 1),
        "filed_by_each": counts,
        "filer_cpu_ms_per_message": round(1000 * sum(cpu) / max(filed, 1), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=2000, help="backlog per run")
    parser.add_argument("--patients", type=int, default=400)
    parser.add_argument("--filers", default="1,2,4")
    parser.add_argument("--file-worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.file_worker:
        file_worker()
        return

    url = database_url()
    fresh_database(url)
    os.environ["INBOUND_ACK_AFTER"] = "storing"
    os.environ["CELERY_BROKER_URL"] = BROKER
    setup_django(url)
    import redis

    from rms import services
    from rms.inbound.receive import QUEUED
    from rms.models import InboundMessage

    team = services.team_create(code="URO", name="Urology", tumour_site="prostate")
    actor = services.system_user()
    patients = []
    for n, nhs in enumerate(nhs_numbers(args.patients)):
        mrn = f"RXX{n:07d}"
        services.patient_create(
            actor=actor,
            teams=[team],
            nhs_number=nhs,
            nhs_number_status="01",
            mrn=mrn,
            given_name="Alan",
            family_name="Tester",
            date_of_birth=dt.date(1958, 2, 14),
            sex="M",
        )
        patients.append((nhs, mrn))
    # Warm the database's caches and the code paths with a small backlog, filed by one.
    store_backlog("warm", patients, min(200, args.messages))
    run_filers(1)

    results: list[dict[str, object]] = []
    baseline = 0.0
    for count in [int(c) for c in args.filers.split(",")]:
        store_backlog(f"n{count}", patients, args.messages)
        row = run_filers(count)
        if InboundMessage.objects.filter(**QUEUED).exists():
            raise SystemExit("messages were left unfiled")
        rate = float(row["messages_per_s"])  # type: ignore[arg-type]
        baseline = baseline or rate
        row["speedup"] = round(rate / baseline, 2)
        row["cores"] = os.cpu_count()
        results.append(row)
        redis.Redis.from_url(BROKER).flushdb()  # the events' rings, unconsumed
    print(json.dumps({"benchmark": "filers", "results": results}))


if __name__ == "__main__":
    main()
