"""Processes of ours that tests start (listeners, Celery workers, beat) against the test
database: its URL, and stopping them and everything they started."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import pytest
import redis
from django.db import connection

ROOT = Path(__file__).resolve().parents[1]
BROKER = os.environ.get("CELERY_BROKER_URL") or os.environ.get("REDIS_URL", "")
# Another process cannot share SQLite's in-memory test database, and a worker needs a broker.
NEEDS_POSTGRESQL_AND_REDIS = pytest.mark.skipif(
    not BROKER or "postgres" not in os.environ.get("DATABASE_URL", ""),
    reason="needs PostgreSQL and Redis (DATABASE_URL and REDIS_URL), as in CI's second run",
)


def empty_broker() -> Iterator[redis.Redis]:
    """Redis emptied before and after (a fixture's body)."""
    client = redis.Redis.from_url(BROKER)
    client.flushdb()
    yield client
    client.flushdb()


def shared_database_url() -> str:
    """The URL of the test database the test is using, for another process to reach it."""
    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    host = db.get("HOST") or "127.0.0.1"
    port = db.get("PORT") or 5432
    return f"postgres://{db['USER']}{password}@{host}:{port}/{db['NAME']}"


def stop_process_groups(processes: Iterable[subprocess.Popen[str]]) -> None:
    """SIGTERM each process group started with ``start_new_session=True`` (a worker's pool
    too), then SIGKILL what has not stopped in 20 seconds."""
    processes = list(processes)
    for process in processes:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
    for process in processes:
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)


def started_processes(**environment: str) -> Iterator[Callable[..., subprocess.Popen[str]]]:
    """A fixture's body: ``run(*args)`` starts ``python *args`` (a listener, a worker, beat)
    against the test database and the broker, with ``environment`` added, its stdout piped;
    every process started is stopped at the end."""
    started: list[subprocess.Popen[str]] = []

    def run(*args: str) -> subprocess.Popen[str]:
        process = subprocess.Popen(  # noqa: S603
            [sys.executable, *args],
            cwd=ROOT,
            env={
                **os.environ,
                "DATABASE_URL": shared_database_url(),
                "CELERY_BROKER_URL": BROKER,
                "LOG_LEVEL": "WARNING",
                **environment,
            },
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            start_new_session=True,
        )
        started.append(process)
        return process

    yield run
    stop_process_groups(started)
