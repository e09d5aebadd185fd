"""``manage.py pkb_sandbox``: a real process, a real port, a data file kept across restarts."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from pkb_bridge.hl7.ack import parse_ack
from pkb_bridge.transport import PkbTransport
from tests.devtools.sandbox.messages import a28, oru

MANAGE = Path(__file__).resolve().parents[3] / "manage.py"


@contextmanager
def sandbox_process(*args: str) -> Iterator[str]:
    process = subprocess.Popen(  # noqa: S603 - our own manage.py
        [sys.executable, str(MANAGE), "pkb_sandbox", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        match = re.search(r"HL7 endpoint (\S+);", line)
        assert match, (line, process.stderr.read() if process.poll() is not None else "")
        yield match.group(1)
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=10)  # reads and closes both pipes
        assert process.returncode == 0


def test_the_command_serves_pkbs_endpoint_and_keeps_its_data_across_restarts(tmp_path):
    data = str(tmp_path / "pkb.json")
    options = ("--username", "u", "--password", "p", "--data", data)

    with sandbox_process(*options) as url:
        assert url.startswith("http://127.0.0.1:")
        assert url.endswith("/services/hl7")
        with PkbTransport(url, "u", "p", connect_timeout_s=2, deadline_s=5) as transport:
            assert parse_ack(transport.send(a28("A28-1")).ack_text).code == "AA"

    with sandbox_process(*options) as url:
        with PkbTransport(url, "u", "p", connect_timeout_s=2, deadline_s=5) as transport:
            # The record survived: without it a result is "Patient not found".
            assert parse_ack(transport.send(oru("ORU-1")).ack_text).code == "AA"
        assert '"control_id": "A28-1"' in Path(data).read_text()


def test_the_command_refuses_a_certificate_without_its_key():
    with pytest.raises(CommandError, match="go together"):
        call_command("pkb_sandbox", "--port", "0", "--certfile", "cert.pem")


def test_the_command_refuses_a_data_file_it_did_not_write(tmp_path):
    data = tmp_path / "pkb.json"
    data.write_text("[]")

    with pytest.raises(CommandError, match="sandbox data file"):
        call_command("pkb_sandbox", "--port", "0", "--data", str(data))
