"""A real sandbox on 127.0.0.1 (port 0), with a clock the test can move."""

from __future__ import annotations

import base64
import http.client
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from devtools.sandbox import SandboxServer, SandboxState
from pkb_bridge.hl7.soap import build_envelope, parse_envelope_response

USERNAME = "rms"
PASSWORD = "s3cret"


@dataclass
class Clock:
    now: datetime = field(default_factory=lambda: datetime(2025, 3, 5, 12, 0, tzinfo=UTC))

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sandbox(clock: Clock) -> Iterator[SandboxServer]:
    server = SandboxServer(username=USERNAME, password=PASSWORD, state=SandboxState(clock=clock))
    server.start()
    try:
        yield server
    finally:
        server.stop()


def auth_header(username: str = USERNAME, password: str = PASSWORD) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def request(
    server: SandboxServer,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    *,
    host: str | None = None,
) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection(host or server.host, server.port, timeout=10)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def post_hl7(server: SandboxServer, message: str, **auth: str) -> tuple[int, str]:
    """POST one message as PKB's clients do; the ACK text (or "" for a non-200)."""
    status, _, body = request(
        server,
        "POST",
        "/services/hl7",
        build_envelope(message),
        {"Content-Type": "text/xml; charset=utf-8", "Authorization": auth_header(**auth)},
    )
    return status, parse_envelope_response(body) if status == 200 else ""


def control(server: SandboxServer, path: str, payload: Any = None) -> Any:
    body = json.dumps(payload).encode() if payload is not None else None
    status, _, raw = request(server, "POST" if body is not None else "GET", path, body)
    assert status == 200, raw
    return json.loads(raw)
