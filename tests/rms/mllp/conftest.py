"""Fixtures for the MLLP tests; the helpers behind them are in ``support``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from rms.mllp import MllpServer
from tests.rms.mllp.support import Certificates, RunningServer, StartServer, echo, make_certificates


@pytest.fixture
def start_server() -> Iterator[StartServer]:
    """Start an MllpServer on an ephemeral port: ``start_server(handler, **options)``."""
    running: list[RunningServer] = []

    def start(handler: Any = echo, **options: Any) -> RunningServer:
        options.setdefault("max_message_bytes", 64 * 1024)
        options.setdefault("idle_timeout_s", 5.0)
        options.setdefault("max_connections", 100)
        server = RunningServer(MllpServer(handler, "127.0.0.1", 0, **options))
        running.append(server)
        server.start()
        return server

    yield start
    for server in running:
        server.stop()


@pytest.fixture(scope="session")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return make_certificates(tmp_path_factory.mktemp("tls"))
