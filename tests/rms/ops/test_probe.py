"""The container health check (``python -m rms.ops.probe``) against a real server."""

from __future__ import annotations

import socket

from rms.ops.probe import host_header, main, probe


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_it_passes_when_the_web_process_answers_healthz(live_server) -> None:
    ok, detail = probe(f"{live_server.url}/healthz", allowed_hosts="localhost,127.0.0.1")
    assert (ok, detail) == (True, "HTTP 200")


def test_it_fails_on_a_redirect_instead_of_following_it(live_server) -> None:
    # /patients/ sends an anonymous visitor to the login page.
    ok, detail = probe(f"{live_server.url}/patients/", allowed_hosts="localhost")
    assert (ok, detail) == (False, "HTTP 302")


def test_it_fails_when_the_host_is_not_allowed(live_server) -> None:
    ok, detail = probe(f"{live_server.url}/healthz", allowed_hosts="rms.example.nhs.uk")
    assert (ok, detail) == (False, "HTTP 400")


def test_it_fails_when_nothing_listens(monkeypatch, capsys) -> None:
    monkeypatch.setenv("ALLOWED_HOSTS", "localhost")
    assert main(["probe", f"http://127.0.0.1:{closed_port()}/healthz"]) == 1
    assert "Connection refused" in capsys.readouterr().err


def test_the_host_header_is_a_name_from_allowed_hosts() -> None:
    assert host_header(".example.nhs.uk,rms.example.nhs.uk") == "example.nhs.uk"
    assert host_header("*") == "localhost"
    assert host_header("") == "localhost"
