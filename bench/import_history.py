"""Importing a cohort's history (``manage.py import_history``) into PostgreSQL: N results of
P patients written as an HL7 batch file (FHS/BHS wrapped, one ORU^R01 of one OBR and one OBX
a result) and as the same rows in CSV, each imported into an empty results table; then the
HL7 file again (everything already present: a rerun or a resume), and beside them a plain
COPY of the CSV's rows into a scratch table of text columns in the same database, the floor
no import can beat. Reports results per second of each.

The database is BENCH_DATABASE_URL (default the local server's rms_bench), dropped, created
and migrated first and dropped at the end. ``make bench`` runs it (bench/run_all.py); CI
does not.

    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/NAME \\
        .venv/bin/python bench/import_history.py [--results 20000] [--patients 1000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import database_url, fresh_database, machine, setup_django


def nhs_numbers(count: int) -> list[str]:
    """Valid NHS numbers in the 999 range set aside for testing."""
    from rms import nhs_number

    found = []
    serial = 0
    while len(found) < count:
        first_nine = f"999{serial:06d}"
        serial += 1
        digit = nhs_number.check_digit(first_nine)
        if digit is not None:
            found.append(f"{first_nine}{digit}")
    return found


def make_patients(count: int) -> list[tuple[str, str, str]]:
    from rms.models import Patient

    numbers = nhs_numbers(count)
    rows = [(number, f"RXX{n:07d}", f"Person{n}") for n, number in enumerate(numbers)]
    Patient.objects.bulk_create(
        Patient(
            nhs_number=number,
            nhs_number_status="01",
            mrn=mrn,
            family_name=family,
            given_name="Test",
            date_of_birth=dt.date(1955, 4, 12),
            sex="M",
        )
        for number, mrn, family in rows
    )
    return rows


def write_files(
    folder: Path, patients: list[tuple[str, str, str]], results: int
) -> tuple[Path, Path]:
    from rms.inbound.history import CSV_COLUMNS

    start = dt.datetime(2015, 1, 1, 8, 30)  # noqa: DTZ001 (local time, as labs send it)
    hl7_lines = [
        "FHS|^~\\&|WINPATH|RXX01|RMS|RXX|20250301||history.hl7",
        "BHS|^~\\&|WINPATH|RXX01|RMS|RXX|20250301",
    ]
    csv_lines = [",".join(CSV_COLUMNS)]
    for n in range(results):
        number, mrn, family = patients[n % len(patients)]
        when = start + dt.timedelta(hours=n)
        stamp = when.strftime("%Y%m%d%H%M%S")
        value = f"{(n % 500) / 100:.2f}"
        filler = f"H{n:08d}"
        hl7_lines += [
            f"MSH|^~\\&|WINPATH|RXX01|RMS|RXX|{stamp}||ORU^R01^ORU_R01|B{n:08d}|P|2.4",
            f"PID|1||{number}^^^NHS^NH~{mrn}^^^RXX^MR||{family.upper()}^Test||19550412|M",
            f"ORC|RE|ORD{filler}|{filler}",
            f"OBR|1|ORD{filler}|{filler}|PSA^PSA^WINPATH|||{stamp}|||||||||||||||{stamp}||CH|F",
            f"OBX|1|NM|PSA^PSA^WINPATH||{value}|ug/L|0.00-4.00|N|||F|||{stamp}",
        ]
        csv_lines.append(
            f"{number},{mrn},{family},1955-04-12,WINPATH,{filler},PSA,PSA,{value},ug/L,"
            f"0.00-4.00,N,{when.isoformat()},F"
        )
    hl7_lines += [f"BTS|{results}", "FTS|1"]
    hl7_path = folder / "history.hl7"
    hl7_path.write_text("\r".join(hl7_lines) + "\r")
    csv_path = folder / "history.csv"
    csv_path.write_text("\n".join(csv_lines) + "\n")
    return hl7_path, csv_path


def empty_results() -> None:
    from django.db import connection

    from rms.models import Observation, Result

    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {Observation._meta.db_table}, {Result._meta.db_table} CASCADE")


def timed_import(
    path: Path, file_format: str, facility: str = ""
) -> tuple[float, dict[str, float]]:
    from rms.inbound.history import import_history
    from rms.services import system_user

    actor = system_user()
    began, cpu = time.perf_counter(), time.process_time()
    summary = import_history(
        path=path, file_format=file_format, actor=actor, sending_facility=facility
    )
    took = time.perf_counter() - began
    return took, {
        "cpu_s": round(time.process_time() - cpu, 2),
        "wall_s": round(took, 2),
        "filed": summary.filed,
        "present": summary.present,
        "refused": len(summary.refused),
        "held": len(summary.held),
    }


def timed_copy(csv_path: Path) -> float:
    """COPY of the CSV's rows, as text, into a scratch table: the floor."""
    from django.db import connection

    from rms.inbound.history import CSV_COLUMNS

    columns = ", ".join(f"{name} text" for name in CSV_COLUMNS)
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TABLE bench_copy_scratch ({columns})")
        began = time.perf_counter()
        raw = cursor.cursor  # psycopg's own cursor
        with (
            raw.copy("COPY bench_copy_scratch FROM STDIN WITH (FORMAT csv, HEADER true)") as copy,
            csv_path.open("rb") as handle,
        ):
            while chunk := handle.read(1 << 16):
                copy.write(chunk)
        took = time.perf_counter() - began
        cursor.execute("DROP TABLE bench_copy_scratch")
    return took


def drop_database(url: str) -> None:
    import psycopg
    from django.db import connections

    connections.close_all()
    parts = urlparse(url)
    admin = parts._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{parts.path.lstrip("/")}" WITH (FORCE)')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", type=int, default=20000)
    parser.add_argument("--patients", type=int, default=1000)
    parser.add_argument("--keep", action="store_true", help="Do not drop the database")
    args = parser.parse_args()
    url = database_url()
    fresh_database(url)
    setup_django(url)
    try:
        patients = make_patients(args.patients)
        with tempfile.TemporaryDirectory() as folder:
            hl7_path, csv_path = write_files(Path(folder), patients, args.results)
            hl7_s, hl7_counts = timed_import(hl7_path, "hl7")
            again_s, again_counts = timed_import(hl7_path, "hl7")
            empty_results()
            csv_s, csv_counts = timed_import(csv_path, "csv", "RXX01")
            copy_s = timed_copy(csv_path)
    finally:
        if not args.keep:
            drop_database(url)
    n = args.results
    figures = {
        "benchmark": "import_history",
        "machine": machine(),
        "n_results": n,
        "patients": args.patients,
        "hl7_results_per_s": round(n / hl7_s),
        "hl7_rerun_results_per_s": round(n / again_s),
        "csv_results_per_s": round(n / csv_s),
        "copy_rows_per_s": round(n / copy_s),
        "target_results_per_s": 2000,
        "met": min(n / hl7_s, n / csv_s) >= 2000,
        # Every result filed the first time and present the second: the run counted right.
        # This process's CPU beside the wall time: the rest is PostgreSQL's work and waiting
        # for a core on a shared machine.
        "hl7_cpu_s": hl7_counts["cpu_s"],
        "hl7_wall_s": hl7_counts["wall_s"],
        "csv_cpu_s": csv_counts["cpu_s"],
        "csv_wall_s": csv_counts["wall_s"],
        "hl7_filed": hl7_counts["filed"],
        "hl7_rerun_present": again_counts["present"],
        "csv_filed": csv_counts["filed"],
        "cpus": os.cpu_count(),
    }
    print(
        f"{n} results of {args.patients} patients: HL7 batch {n / hl7_s:.0f}/s, "
        f"HL7 rerun (all present) {n / again_s:.0f}/s, CSV {n / csv_s:.0f}/s, "
        f"plain COPY {n / copy_s:.0f} rows/s (target 2,000 results/s)"
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
