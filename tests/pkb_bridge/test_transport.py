"""PkbTransport against real sockets: the sandbox, a TLS sandbox and a canned-reply server."""

from __future__ import annotations

import logging
import shutil
import socket
import ssl
import statistics
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools.sandbox import SandboxServer, SandboxState, soap_response
from pkb_bridge.hl7.ack import parse_ack
from pkb_bridge.hl7.soap import build_envelope
from pkb_bridge.transport import PkbTransport, SendResult, TransportError
from tests.devtools.sandbox.conftest import PASSWORD, USERNAME
from tests.devtools.sandbox.messages import NHS, a28, obx, oru

CONNECT_S = 2.0


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(username=USERNAME, password=PASSWORD) as server:
        yield server


def transport_for(
    server: SandboxServer | CannedServer,
    *,
    password: str = PASSWORD,
    deadline_s: float = 5.0,
    **options: object,
) -> PkbTransport:
    return PkbTransport(
        server.url,
        USERNAME,
        password,
        connect_timeout_s=CONNECT_S,
        deadline_s=deadline_s,
        **options,
    )


def send_expecting_error(transport: PkbTransport, message: str) -> TransportError:
    with pytest.raises(TransportError) as caught:
        transport.send(message)
    return caught.value


# -- a server that answers whatever the test says ---------------------------------------------


class CannedServer:
    """Reads each HTTP request whole and writes ``response`` back, keeping connections open."""

    def __init__(self, response: bytes) -> None:
        self.response = response
        self.requests: list[bytes] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}/services/hl7"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(connection,), daemon=True).start()

    def _serve(self, connection: socket.socket) -> None:
        buffer = b""
        with connection:
            while True:
                while b"\r\n\r\n" not in buffer:
                    chunk = connection.recv(65536)
                    if not chunk:
                        return
                    buffer += chunk
                head, buffer = buffer.split(b"\r\n\r\n", 1)
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                while len(buffer) < length:
                    buffer += connection.recv(65536)
                self.requests.append(head + b"\r\n\r\n" + buffer[:length])
                buffer = buffer[length:]
                connection.sendall(self.response)

    def close(self) -> None:
        self._listener.close()


def http_response(status: str, body: bytes, content_type: str = "text/xml") -> bytes:
    return (
        f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body


@pytest.fixture
def canned() -> Iterator[list[CannedServer]]:
    servers: list[CannedServer] = []
    yield servers
    for server in servers:
        server.close()


def canned_server(servers: list[CannedServer], response: bytes) -> CannedServer:
    server = CannedServer(response)
    servers.append(server)
    return server


# -- the happy path ----------------------------------------------------------------------------


def test_it_sends_a_message_and_returns_pkbs_ack(sandbox):
    with transport_for(sandbox) as transport:
        result = transport.send(a28("A28-1"))

    assert isinstance(result, SendResult)
    assert result.status_code == 200
    assert result.request_body == build_envelope(a28("A28-1"))
    assert b"acceptMessageResponse" in result.response_body
    ack = parse_ack(result.ack_text)
    assert (ack.code, ack.control_id) == ("AA", "A28-1")
    assert 0 < result.elapsed_s < 5


def test_it_keeps_one_connection_alive_for_twenty_sends(sandbox):
    with transport_for(sandbox) as transport:
        for number in range(20):
            assert parse_ack(transport.send(a28(f"A28-{number}")).ack_text).code == "AA"

        assert transport.connections_opened == 1
    assert sandbox.connections_accepted == 1
    assert len(sandbox.state.messages()) == 20


def test_it_posts_text_xml_with_an_empty_soapaction_and_basic_auth(canned):
    server = canned_server(canned, http_response("200 OK", soap_response("MSH|^~\\&\rMSA|AA|X")))

    with transport_for(server) as transport:
        transport.send(a28())

    head = server.requests[0].split(b"\r\n\r\n")[0].decode()
    assert head.startswith("POST /services/hl7 HTTP/1.1")
    assert "Content-Type: text/xml; charset=utf-8" in head
    assert 'SOAPAction: ""' in head
    assert "Authorization: Basic cm1zOnMzY3JldA==" in head  # rms:s3cret


def test_an_ar_or_ae_ack_is_an_answer_not_a_transport_error(sandbox):
    sandbox.set_faults(ae_next=1)

    with transport_for(sandbox) as transport:
        assert parse_ack(transport.send(a28("A-1")).ack_text).code == "AE"
        ack = parse_ack(transport.send(oru("ORU-NO-RECORD", nhs="9449305552")).ack_text)

    assert (ack.code, ack.text) == ("AR", "Patient not found")


def test_a_cdata_terminator_in_the_message_reaches_pkb_intact(sandbox):
    text = obx(1, "NOTE", "before ]]> after", value_type="TX", units="")
    with transport_for(sandbox) as transport:
        transport.send(a28())
        assert parse_ack(transport.send(oru(observations=[text])).ack_text).code == "AA"

    stored = sandbox.state.patient(NHS)["lab_results"]["FON1"]["NOTE^RMS"]["value"]
    assert stored == "before ]]> after"


def test_it_reconnects_when_the_server_closed_an_idle_connection():
    state = SandboxState()
    with (
        SandboxServer(username=USERNAME, password=PASSWORD, state=state, idle_timeout_s=0.2) as pkb,
        transport_for(pkb) as transport,
    ):
        transport.send(a28("A-1"))
        time.sleep(0.6)  # the sandbox closes the idle keep-alive connection

        assert parse_ack(transport.send(a28("A-2")).ack_text).code == "AA"
        assert transport.connections_opened == 2


def test_round_trips_on_loopback_pay_no_nagle_delay(sandbox):
    # Nagle plus delayed ACK costs ~40 ms a message (reference 4.3(d)); loopback is ~1 ms.
    with transport_for(sandbox) as transport:
        transport.send(a28("WARM-UP"))
        times = [transport.send(a28(f"A-{n}")).elapsed_s for n in range(50)]

    assert statistics.median(times) < 0.02


# -- HTTP answers ------------------------------------------------------------------------------


def test_a_wrong_password_is_http_auth_and_not_permanent(sandbox):
    with transport_for(sandbox, password="rotated") as transport:
        error = send_expecting_error(transport, a28())

    assert (error.kind, error.permanent, error.status_code) == ("http_auth", False, 401)
    assert sandbox.state.messages() == []


def test_a_403_is_http_auth_too(sandbox):
    sandbox.set_faults(status=403)

    with transport_for(sandbox) as transport:
        error = send_expecting_error(transport, a28())

    assert (error.kind, error.permanent) == ("http_auth", False)


def test_a_503_is_a_transient_http_5xx(sandbox):
    sandbox.set_faults(status=503)

    with transport_for(sandbox) as transport:
        error = send_expecting_error(transport, a28())
        sandbox.set_faults(status=None)
        # and the connection is still usable afterwards
        assert parse_ack(transport.send(a28()).ack_text).code == "AA"

    assert (error.kind, error.permanent, error.status_code) == ("http_5xx", False, 503)


@pytest.mark.parametrize("status", [408, 429])
def test_a_throttling_4xx_is_transient(sandbox, status):
    sandbox.set_faults(status=status)

    with transport_for(sandbox) as transport:
        error = send_expecting_error(transport, a28())

    assert (error.kind, error.permanent, error.status_code) == ("http_throttled", False, status)


def test_another_4xx_is_permanent(sandbox):
    transport = PkbTransport(
        sandbox.base_url + "/services/unknown",
        USERNAME,
        PASSWORD,
        connect_timeout_s=CONNECT_S,
        deadline_s=5,
    )
    with transport:
        error = send_expecting_error(transport, a28())

    assert (error.kind, error.permanent, error.status_code) == ("http_4xx", True, 404)


def test_a_redirect_is_not_followed(canned):
    server = canned_server(
        canned, b"HTTP/1.1 301 Moved\r\nLocation: http://elsewhere/\r\nContent-Length: 0\r\n\r\n"
    )

    with transport_for(server) as transport:
        error = send_expecting_error(transport, a28())

    assert (error.kind, error.permanent) == ("http_redirect", False)
    assert len(server.requests) == 1


def test_a_soap_fault_is_transient(sandbox):
    sandbox.set_faults(soap_fault_next=1)

    with transport_for(sandbox) as transport:
        error = send_expecting_error(transport, a28())

    assert (error.kind, error.permanent) == ("soap_fault", False)


def test_a_200_that_is_not_soap_is_a_transient_bad_response(sandbox):
    sandbox.set_faults(non_soap_next=1)

    with transport_for(sandbox) as transport:
        error = send_expecting_error(transport, a28())

    assert (error.kind, error.permanent) == ("bad_response", False)
    assert error.response_body is not None and b"Maintenance" in error.response_body


def test_a_soap_response_without_an_ack_in_it_is_a_bad_response(canned):
    server = canned_server(canned, http_response("200 OK", soap_response("no ack here")))

    with transport_for(server) as transport:
        error = send_expecting_error(transport, a28())

    assert error.kind == "bad_response"


def test_a_response_far_bigger_than_an_ack_is_a_bad_response(canned):
    server = canned_server(canned, http_response("200 OK", b"x" * 4096))

    with transport_for(server, max_response_bytes=1024) as transport:
        error = send_expecting_error(transport, a28())

    assert error.kind == "bad_response"


def test_error_texts_and_logs_never_hold_message_or_response_content(canned, caplog):
    patient_text = b"Jane Smith 9434765919"
    server = canned_server(canned, http_response("500 Oops", patient_text, "text/plain"))
    caplog.set_level(logging.DEBUG, logger="pkb_bridge")

    with transport_for(server) as transport:
        error = send_expecting_error(transport, a28())

    assert error.kind == "http_5xx"
    assert error.response_body == patient_text  # kept for the attempt record
    for text in (str(error), repr(error), caplog.text):
        assert "Smith" not in text
        assert NHS not in text
    assert "kind=http_5xx" in caplog.text


# -- connections that fail ---------------------------------------------------------------------


def test_refused_connections_are_a_transient_connect_error(sandbox):
    sandbox.set_faults(refuse_connections=True)

    with transport_for(sandbox) as transport:
        error = send_expecting_error(transport, a28())

    assert (error.kind, error.permanent) == ("connect", False)
    assert "refused" in str(error)


def test_a_connection_dropped_after_the_request_is_transient_and_pkb_may_have_it(sandbox):
    sandbox.set_faults(drop_after_receive=1)

    with transport_for(sandbox) as transport:
        transport_error = send_expecting_error(transport, a28("A28-1"))
        # resent with the same MSH-10, as the outbox does
        assert parse_ack(transport.send(a28("A28-1")).ack_text).code == "AA"

    assert (transport_error.kind, transport_error.permanent) == ("dropped", False)
    assert [m["reply"] for m in sandbox.state.messages()] == ["dropped", "sent"]
    assert len(sandbox.state.patients()) == 1


def test_a_slow_drip_reply_fails_at_the_total_deadline(sandbox):
    sandbox.set_faults(drip_s=0.5)
    # Transports of earlier tests (kept alive for their keep-alive connection) may still be
    # around in this process; only this test's own worker thread must end.
    others = sum(t.name == "pkb-transport" for t in threading.enumerate())

    with transport_for(sandbox, deadline_s=2.0) as transport:
        started = time.monotonic()
        error = send_expecting_error(transport, a28("A-1"))
        elapsed = time.monotonic() - started

        assert (error.kind, error.permanent) == ("timeout", False)
        assert 2.0 <= elapsed < 3.0
        # The abandoned exchange was woken (its socket shut down), not left reading the drip.
        assert _transport_threads_end_within(1.0, keep=others)
        sandbox.set_faults(drip_s=0)
        # the next send gets a fresh connection and works
        assert parse_ack(transport.send(a28("A-2")).ack_text).code == "AA"
        assert transport.connections_opened == 2


def _transport_threads_end_within(seconds: float, keep: int = 0) -> bool:
    """True once at most ``keep`` transport worker threads are left, polling for ``seconds``."""
    give_up = time.monotonic() + seconds
    while time.monotonic() < give_up:
        if sum(t.name == "pkb-transport" for t in threading.enumerate()) <= keep:
            return True
        time.sleep(0.02)
    return False


def test_a_reply_delayed_past_the_deadline_is_a_timeout(sandbox):
    sandbox.set_faults(delay_s=3.0)

    with transport_for(sandbox, deadline_s=1.0) as transport:
        started = time.monotonic()
        error = send_expecting_error(transport, a28())

    assert error.kind == "timeout"
    assert time.monotonic() - started < 2.0


def test_a_server_that_accepts_and_never_answers_is_a_timeout():
    listener = socket.create_server(("127.0.0.1", 0))  # accepts via the backlog, reads nothing
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/services/hl7"
    try:
        with PkbTransport(url, "u", "p", connect_timeout_s=1, deadline_s=1) as transport:
            started = time.monotonic()
            error = send_expecting_error(transport, a28())
    finally:
        listener.close()

    assert error.kind == "timeout"
    assert time.monotonic() - started < 2.0


# -- on a kept-alive connection ------------------------------------------------------------------
# The first send of a transport connects (on its worker thread); the ones after it run on the
# connection kept alive, in the caller's thread, watched for the deadline. The deadline, the
# classification and the fresh connection after a failure hold there too.


def drip_after_a_kept_alive_send(
    server: SandboxServer, deadline_s: float, **options: object
) -> tuple[TransportError, float, PkbTransport]:
    """A send that works, then one answered by a drip: its error and how long it took."""
    transport = transport_for(server, deadline_s=deadline_s, **options)
    assert parse_ack(transport.send(a28("A-1")).ack_text).code == "AA"
    server.set_faults(drip_s=0.5)
    started = time.monotonic()
    error = send_expecting_error(transport, a28("A-2"))
    return error, time.monotonic() - started, transport


def test_a_drip_on_a_kept_alive_connection_fails_at_the_total_deadline(sandbox):
    error, elapsed, transport = drip_after_a_kept_alive_send(sandbox, 1.5)
    with transport:
        assert (error.kind, error.permanent) == ("timeout", False)
        assert 1.5 <= elapsed < 2.5
        sandbox.set_faults(drip_s=0)
        assert parse_ack(transport.send(a28("A-3")).ack_text).code == "AA"
        assert transport.connections_opened == 2


def test_a_reply_delayed_past_the_deadline_on_a_kept_alive_connection_is_a_timeout(sandbox):
    with transport_for(sandbox, deadline_s=1.0) as transport:
        transport.send(a28("A-1"))
        sandbox.set_faults(delay_s=3.0)
        started = time.monotonic()
        error = send_expecting_error(transport, a28("A-2"))

    assert error.kind == "timeout"
    assert 1.0 <= time.monotonic() - started < 2.0


def test_a_drop_on_a_kept_alive_connection_is_dropped_and_resent_on_a_new_one(sandbox):
    with transport_for(sandbox) as transport:
        transport.send(a28("A-1"))
        sandbox.set_faults(drop_after_receive=1)
        error = send_expecting_error(transport, a28("A-2"))
        assert parse_ack(transport.send(a28("A-2")).ack_text).code == "AA"
        assert transport.connections_opened == 2

    assert (error.kind, error.permanent) == ("dropped", False)
    assert [m["reply"] for m in sandbox.state.messages()] == ["sent", "dropped", "sent"]


def test_sends_on_a_kept_alive_connection_outlast_many_deadlines_without_a_false_timeout(sandbox):
    # Each send's deadline starts with it: a send begun late in the first one's deadline (the
    # watchdog sleeping towards it) is not cut off at that moment.
    with transport_for(sandbox, deadline_s=0.4) as transport:
        for number in range(8):
            sandbox.set_faults(delay_s=0.15 if number % 2 else 0)
            assert parse_ack(transport.send(a28(f"A-{number}")).ack_text).code == "AA"
        assert transport.connections_opened == 1


def test_a_tls_drip_on_a_kept_alive_connection_still_fails_at_the_deadline(
    tls_sandbox, certificate
):
    error, elapsed, transport = drip_after_a_kept_alive_send(
        tls_sandbox, 1.5, ca_bundle=str(certificate[0])
    )
    transport.close()

    assert error.kind == "timeout"
    assert 1.5 <= elapsed < 2.5


def test_closing_a_transport_ends_its_watchdog(sandbox):
    before = {t.ident for t in threading.enumerate() if t.name == "pkb-transport-watchdog"}
    transport = transport_for(sandbox)
    transport.send(a28("A-1"))
    transport.send(a28("A-2"))  # kept alive: watched
    transport.close()
    give_up = time.monotonic() + 2.0
    while time.monotonic() < give_up:
        mine = {t.ident for t in threading.enumerate() if t.name == "pkb-transport-watchdog"}
        if not mine - before:
            break
        time.sleep(0.02)
    assert not mine - before


def test_a_message_xml_cannot_carry_is_permanently_unsendable(sandbox):
    with transport_for(sandbox) as transport:
        error = send_expecting_error(transport, a28() + "\x01")

    assert (error.kind, error.permanent) == ("unsendable", True)
    assert sandbox.connections_accepted == 0


def test_a_closed_transport_refuses_to_send(sandbox):
    transport = transport_for(sandbox)
    transport.close()

    with pytest.raises(RuntimeError):
        transport.send(a28())


@pytest.mark.parametrize(
    "url",
    [
        "http://pkb.example.org:7443/services/hl7",  # plain HTTP off this machine
        "ftp://127.0.0.1/services/hl7",
        "not a url",
    ],
)
def test_it_refuses_urls_that_are_not_https_except_a_local_sandbox(url):
    with pytest.raises(ValueError):
        PkbTransport(url, "u", "p", connect_timeout_s=1, deadline_s=1)


# -- TLS ---------------------------------------------------------------------------------------


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("the openssl command is not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(  # noqa: S603 - fixed arguments
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.fixture
def tls_sandbox(certificate: tuple[Path, Path]) -> Iterator[SandboxServer]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    with SandboxServer(username=USERNAME, password=PASSWORD, ssl_context=context) as server:
        yield server


def test_a_self_signed_certificate_is_refused_without_its_ca(tls_sandbox):
    assert tls_sandbox.url.startswith("https://")

    with transport_for(tls_sandbox) as transport:
        error = send_expecting_error(transport, a28())

    assert (error.kind, error.permanent) == ("tls", False)
    assert "certificate verification failed" in str(error)
    assert tls_sandbox.state.messages() == []


def test_a_certificate_is_accepted_with_its_ca_bundle(tls_sandbox, certificate):
    with transport_for(tls_sandbox, ca_bundle=str(certificate[0])) as transport:
        for number in range(3):
            assert parse_ack(transport.send(a28(f"A-{number}")).ack_text).code == "AA"

    assert tls_sandbox.connections_accepted == 1


def test_a_tls_drip_still_fails_at_the_deadline(tls_sandbox, certificate):
    tls_sandbox.set_faults(drip_s=0.5)

    with transport_for(tls_sandbox, ca_bundle=str(certificate[0]), deadline_s=1.5) as transport:
        started = time.monotonic()
        error = send_expecting_error(transport, a28())

    assert error.kind == "timeout"
    assert time.monotonic() - started < 2.5


def test_a_workers_shared_transport_is_kept_until_the_connection_settings_change(settings):
    from pkb_bridge import tasks

    settings.PKB_URL = "http://127.0.0.1:7001/services/hl7"
    first = tasks._shared_transport()
    assert tasks._shared_transport() is first
    settings.PKB_URL = "http://127.0.0.1:7002/services/hl7"
    second = tasks._shared_transport()
    assert second is not first
    assert second.url == "http://127.0.0.1:7002/services/hl7"
