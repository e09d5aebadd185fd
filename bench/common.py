"""Shared set-up for the benchmarks: a PostgreSQL database of their own, migrated, and the
machine's description for docs/benchmarks.md."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/rms_bench"


def database_url() -> str:
    return os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL)


def fresh_database(url: str) -> None:
    """Drop and create the benchmark database, then migrate it (never the one in DATABASE_URL)."""
    import psycopg

    parts = urlparse(url)
    name = parts.path.lstrip("/")
    admin = parts._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "--skip-checks", "-v", "0"],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": url},
        check=True,
    )


def setup_django(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    # Measured as in production: DEBUG off (with it on, Django keeps every query in memory).
    os.environ["DEBUG"] = "false"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rms.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def analyse() -> None:
    """Gather the planner's statistics, as autovacuum does on a database in use (it analyses
    a table once 50 rows and a tenth of it have changed, within a minute). This machine's
    server has autovacuum off (``SHOW autovacuum``), so without it every table filled since
    the benchmark's database was made is planned as the near-empty table it was, and cached
    plans keep that: the PKB dispatcher's claim read every enrolment for every pending message
    (130 ms at 2,000 messages, 0.2 ms with statistics), and filing's lock on the reports'
    results and the foreign-key checks of its inserts scanned whole tables (2.5 ms a message
    at 200 results to 3.8 ms at 3,200). Cached plans are made again after it."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}"
    )


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))
    return ordered[index]


def cpu_seconds(pid: int) -> float:
    """User and system CPU a process has used (Linux /proc; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
