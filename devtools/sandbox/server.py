"""The sandbox's HTTP server: PKB's SOAP endpoint, fault controls and the patient view.

For local use only. ``/services/hl7`` needs Basic auth as PKB's does; the control endpoints
(``/_sandbox/...``) and the patient pages have no auth and answer loopback clients only.

Threads: one per connection (``ThreadingHTTPServer``), HTTP/1.1 keep-alive, TCP_NODELAY on every
accepted socket (without it a Python server adds ~44 ms per message, reliability-and-security.md
4.3(d)), and every response written with one ``send``.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hmac
import ipaddress
import json
import logging
import socket
import socketserver
import ssl
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit
from xml.sax.saxutils import escape as xml_escape

from devtools.sandbox.faults import FaultError, Faults
from devtools.sandbox.fhir import FHIR_PREFIX, TOKEN_PATH, FhirSandbox
from devtools.sandbox.pages import render_index, render_not_found, render_patient
from devtools.sandbox.state import SandboxState
from pkb_bridge.hl7.soap import SoapError, parse_envelope_request

logger = logging.getLogger("devtools.sandbox")

HL7_PATH = "/services/hl7"
_XML = "text/xml; charset=utf-8"
_JSON = "application/json"
_FHIR_JSON = "application/fhir+json"
_HTML = "text/html; charset=utf-8"
_TEXT = "text/plain; charset=utf-8"
DEFAULT_MAX_BODY_BYTES = 32 * 1024 * 1024  # base64 PDFs in MDM messages


def soap_response(ack_text: str) -> bytes:
    """PKB's SOAP answer (JAX-WS style): the ACK as the text of ``return``.

    CR is written as ``&#13;``: a literal CR in XML text reaches the reader as LF.
    """
    body = xml_escape(ack_text).replace("\r", "&#13;")
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
        '<ns2:acceptMessageResponse xmlns:ns2="http://wsssl.hl7api.patientsknowbest.com/">'
        f"<return>{body}</return></ns2:acceptMessageResponse></soap:Body></soap:Envelope>"
    ).encode()


def soap_fault(code: str, text: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
        f"<soap:Fault><faultcode>soap:{code}</faultcode><faultstring>{xml_escape(text)}"
        "</faultstring></soap:Fault></soap:Body></soap:Envelope>"
    ).encode()


class SandboxServer:
    """A local PKB: start it (port 0 picks a free port), send to ``.url``, ``stop()`` it.

    ``ssl_context`` (a server context with a certificate loaded) serves HTTPS instead of HTTP.
    """

    def __init__(
        self,
        *,
        username: str,
        password: str,
        host: str = "127.0.0.1",
        port: int = 0,
        state: SandboxState | None = None,
        ssl_context: ssl.SSLContext | None = None,
        idle_timeout_s: float = 60.0,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        fhir: FhirSandbox | None = None,
    ) -> None:
        self.host = host
        # The FHIR API (OAuth2 token, questionnaire requests, searches): devtools/sandbox/fhir.py
        self.fhir = fhir if fhir is not None else FhirSandbox()
        self._port = port
        self.state = state if state is not None else SandboxState()
        self.faults = Faults()
        self.ssl_context = ssl_context
        self.idle_timeout_s = idle_timeout_s
        self.max_body_bytes = max_body_bytes
        self._username = username.encode()
        self._password = password.encode()
        self._lock = threading.Lock()
        self._httpd: _HttpServer | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()
        self._reopen_timer: threading.Timer | None = None
        self.stopping = threading.Event()
        self.connections_accepted = 0

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> SandboxServer:
        self.stopping.clear()
        self._open()
        return self

    def stop(self) -> None:
        """Stop listening, wake sleeping and dripping handlers, and close every connection."""
        self.stopping.set()
        self._cancel_reopen()
        self._close_listener()
        self._close_connections()
        self.state.flush()

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return self._port

    @property
    def base_url(self) -> str:
        scheme = "https" if self.ssl_context is not None else "http"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self._port}"

    @property
    def url(self) -> str:
        """The HL7 endpoint, as PKB's ``https://host:7443/services/hl7``."""
        return self.base_url + HL7_PATH

    # -- faults and reset --------------------------------------------------------------------

    def set_faults(self, keep: socket.socket | None = None, **changes: Any) -> dict[str, Any]:
        """Change faults (see ``FaultSettings``); ``refuse_connections`` acts at once.

        Refusing closes the listening socket (new connections are refused) and every open
        connection except ``keep`` (the control request's own).
        """
        current = self.faults.update(changes)
        if "refuse_connections" in changes:
            self._cancel_reopen()
            if changes["refuse_connections"]:
                self._close_listener()
                self._close_connections(keep=keep)
                delay = current["refuse_for_s"]
                if delay:
                    with self._lock:
                        self._reopen_timer = threading.Timer(delay, self._reopen_after_refusal)
                        self._reopen_timer.daemon = True
                        self._reopen_timer.start()
            else:
                self._open()
        return current

    def _cancel_reopen(self) -> None:
        with self._lock:
            timer, self._reopen_timer = self._reopen_timer, None
        if timer is not None:
            timer.cancel()

    def reset(self) -> None:
        """Forget records, messages and faults; listen again if refusing; zero the counters."""
        self.state.reset()
        self.fhir.reset()
        self._cancel_reopen()
        self.faults.reset()
        self._open()  # a no-op unless connections were being refused
        with self._lock:
            self.connections_accepted = 0

    def _reopen_after_refusal(self) -> None:
        if not self.stopping.is_set():
            self.faults.update({"refuse_connections": False})
            self._open()

    # -- sockets -----------------------------------------------------------------------------

    def _open(self) -> None:
        with self._lock:
            if self._httpd is not None or self.stopping.is_set():
                return
            family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
            server_class = _HttpServer6 if family == socket.AF_INET6 else _HttpServer
            httpd = server_class((self.host, self._port), _Handler, bind_and_activate=False)
            httpd.sandbox = self
            try:
                httpd.server_bind()
                httpd.server_activate()
            except OSError:
                httpd.server_close()
                raise
            self._port = httpd.server_address[1]
            self._httpd = httpd
            self._thread = threading.Thread(
                target=httpd.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"pkb-sandbox:{self._port}",
                daemon=True,
            )
            self._thread.start()

    def _close_listener(self) -> None:
        with self._lock:
            httpd, self._httpd = self._httpd, None
            thread, self._thread = self._thread, None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def _close_connections(self, keep: socket.socket | None = None) -> None:
        with self._lock:
            connections = [c for c in self._connections if c is not keep]
        for connection in connections:
            _shutdown(connection)

    def connection_accepted(self) -> None:
        with self._lock:
            self.connections_accepted += 1

    def connection_opened(self, connection: socket.socket) -> None:
        with self._lock:
            self._connections.add(connection)

    def connection_closed(self, connection: socket.socket) -> None:
        with self._lock:
            self._connections.discard(connection)

    def authorised(self, header: str) -> bool:
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError):
            return False
        username, _, password = decoded.partition(b":")
        # Both compared, always: no early exit that times which one was wrong.
        user_ok = hmac.compare_digest(username, self._username)
        password_ok = hmac.compare_digest(password, self._password)
        return user_ok and password_ok


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64
    sandbox: SandboxServer

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks up the host's FQDN, which can stall on a slow resolver.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that vanish, time out or fail the TLS handshake are routine here.
        logger.debug("sandbox connection ended with an error", exc_info=True)


class _HttpServer6(_HttpServer):
    address_family = socket.AF_INET6


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    server_version = "PKB-sandbox"
    sys_version = ""
    disable_nagle_algorithm = True  # TCP_NODELAY, set by StreamRequestHandler.setup
    server: _HttpServer

    def setup(self) -> None:
        sandbox = self.server.sandbox
        # StreamRequestHandler.setup applies it: how long an idle keep-alive connection lives.
        self.timeout = sandbox.idle_timeout_s  # type: ignore[misc]
        sandbox.connection_accepted()
        if sandbox.ssl_context is not None:
            raw = self.request
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            raw.settimeout(10)  # for the handshake
            self.request = sandbox.ssl_context.wrap_socket(raw, server_side=True)
        # The socket we speak on (the TLS one, with TLS): what stop() and faults shut down.
        self._socket: socket.socket = self.request
        sandbox.connection_opened(self._socket)
        super().setup()

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.sandbox.connection_closed(self._socket)
            if isinstance(self._socket, ssl.SSLSocket):
                # socketserver closes the raw socket it accepted, which wrapping detached.
                with contextlib.suppress(OSError):
                    self._socket.close()

    def log_message(self, format: str, *args: Any) -> None:
        # Request lines name patient pages (/patients/<nhs number>): debug level only.
        logger.debug("%s " + format, self.client_address[0], *args)

    # -- routing -----------------------------------------------------------------------------

    def do_POST(self) -> None:
        body = self._read_body()
        if body is None:
            return
        path = urlsplit(self.path).path
        if path == HL7_PATH:
            self._hl7(body)
            return
        if path == TOKEN_PATH or path.startswith(FHIR_PREFIX):
            self._fhir("POST", body)
            return
        if path.startswith("/_sandbox/") and not self._local():
            return
        if path.startswith("/_sandbox/fhir/"):
            self._fhir_control(path, body)
        elif path == "/_sandbox/faults":
            self._set_faults(body)
        elif path == "/_sandbox/reset":
            self.server.sandbox.reset()
            self._json(HTTPStatus.OK, {"reset": True})
        else:
            self._send(HTTPStatus.NOT_FOUND, b"Not found", _TEXT)

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        if path == HL7_PATH:
            # JAX-WS answers a GET with the service page; the WSDL is not modelled here.
            self._send(HTTPStatus.METHOD_NOT_ALLOWED, b"POST a SOAP envelope", _TEXT)
            return
        if path.startswith(FHIR_PREFIX):
            self._fhir("GET", b"")
            return
        if not self._local():
            return
        sandbox = self.server.sandbox
        if path == "/_sandbox/state":
            self._json(HTTPStatus.OK, sandbox.state.snapshot())
        elif path == "/_sandbox/messages":
            self._json(
                HTTPStatus.OK,
                {
                    "messages": sandbox.state.messages(),
                    "max_in_flight": sandbox.state.max_in_flight,
                    "max_in_flight_same_patient": sandbox.state.max_in_flight_same_patient,
                    "connections_accepted": sandbox.connections_accepted,
                },
            )
        elif path == "/_sandbox/faults":
            self._json(HTTPStatus.OK, vars(sandbox.faults.snapshot()))
        elif path == "/_sandbox/fhir":
            self._json(HTTPStatus.OK, sandbox.fhir.snapshot())
        elif path == "/":
            self._send(HTTPStatus.OK, render_index(sandbox.state.patients()).encode(), _HTML)
        elif path.startswith("/patients/"):
            patient = sandbox.state.patient(unquote(path.removeprefix("/patients/")))
            if patient is None:
                self._send(HTTPStatus.NOT_FOUND, render_not_found().encode(), _HTML)
            else:
                page = render_patient(
                    patient,
                    sandbox.state.now(),
                    sandbox.fhir.requests_for(patient["nhs_number"]),
                )
                self._send(HTTPStatus.OK, page.encode(), _HTML)
        else:
            self._send(HTTPStatus.NOT_FOUND, b"Not found", _TEXT)

    # -- PKB's endpoint ----------------------------------------------------------------------

    def _hl7(self, body: bytes) -> None:
        sandbox = self.server.sandbox
        if not sandbox.authorised(self.headers.get("Authorization", "")):
            self._send(
                HTTPStatus.UNAUTHORIZED,
                b"Unauthorised",
                _TEXT,
                headers=[("WWW-Authenticate", 'Basic realm="PKB sandbox"')],
            )
            return
        faults = sandbox.faults
        settings = faults.snapshot()
        if settings.status is not None:
            self._send(settings.status, f"HTTP {settings.status} (fault)".encode(), _TEXT)
            return
        if faults.take("soap_fault_next"):
            fault = soap_fault("Server", "Internal error (sandbox fault)")
            self._send(HTTPStatus.INTERNAL_SERVER_ERROR, fault, _XML)
            return
        if faults.take("non_soap_next"):
            self._send(HTTPStatus.OK, b"<html><body>Maintenance</body></html>", _HTML)
            return
        try:
            message = parse_envelope_request(body)
        except SoapError:
            fault = soap_fault("Client", "Not an acceptMessage request")
            self._send(HTTPStatus.INTERNAL_SERVER_ERROR, fault, _XML)
            return
        # The in-flight window closes before the sender can see any answer: otherwise a sender
        # that sends its next message the moment it has the ACK would count as concurrent.
        with sandbox.state.in_flight(message) as counts:
            if settings.delay_s and sandbox.stopping.wait(settings.delay_s):
                answer = None
            else:
                reply = "sent"
                if faults.take("drop_after_receive"):
                    reply = "dropped"
                elif faults.take("ack_wrong_control_id"):
                    reply = "wrong_control_id"
                answer = sandbox.state.receive(
                    message, faults=faults, in_flight=counts, reply=reply
                )
        if answer is None or answer.reply == "dropped":
            # Read (and processed, unless stopping) but never answered: the sender cannot know
            # whether PKB has it (O9).
            self._drop()
            return
        self._send(HTTPStatus.OK, soap_response(answer.ack_text), _XML, drip_s=settings.drip_s)

    def _fhir(self, method: str, body: bytes) -> None:
        """PKB's FHIR API and its token endpoint (devtools/sandbox/fhir.py). A status fault
        answers these too, so an outage looks the same on both sides."""
        sandbox = self.server.sandbox
        status = sandbox.faults.snapshot().status
        if status is not None:
            self._send(status, f"HTTP {status} (fault)".encode(), _TEXT)
            return
        parts = urlsplit(self.path)
        authorization = self.headers.get("Authorization", "")
        if parts.path == TOKEN_PATH:
            if method != "POST":
                self._send(HTTPStatus.METHOD_NOT_ALLOWED, b"POST the token request", _TEXT)
                return
            code, payload, headers = sandbox.fhir.token(body, authorization)
            self._send(code, json.dumps(payload).encode(), _JSON, headers=headers)
            return
        code, payload, headers = sandbox.fhir.handle(
            method, parts.path, parts.query, body, authorization
        )
        self._send(code, json.dumps(payload).encode(), _FHIR_JSON, headers=headers)

    def _fhir_control(self, path: str, body: bytes) -> None:
        """Test controls: queue what searches return, say which questionnaires exist, expire
        every token."""
        fhir = self.server.sandbox.fhir
        try:
            payload = json.loads(body or b"null")
            if path == "/_sandbox/fhir/queue":
                resources = payload if isinstance(payload, list) else [payload]
                stored = [fhir.queue(resource) for resource in resources]
                self._json(HTTPStatus.OK, {"queued": stored})
            elif path == "/_sandbox/fhir/questionnaires":
                fhir.set_questionnaires(payload)
                self._json(HTTPStatus.OK, {"questionnaires": payload})
            elif path == "/_sandbox/fhir/expire-tokens":
                fhir.expire_tokens()
                self._json(HTTPStatus.OK, {"expired": True})
            else:
                self._send(HTTPStatus.NOT_FOUND, b"Not found", _TEXT)
        except (ValueError, TypeError, AttributeError) as error:
            self._json(HTTPStatus.BAD_REQUEST, {"error": str(error)})

    def _set_faults(self, body: bytes) -> None:
        try:
            changes = json.loads(body or b"{}")
            if not isinstance(changes, dict):
                raise FaultError("send a JSON object")
            current = self.server.sandbox.set_faults(keep=self._socket, **changes)
        except (ValueError, FaultError) as error:
            self._json(HTTPStatus.BAD_REQUEST, {"error": str(error)})
            return
        self._json(HTTPStatus.OK, current)

    # -- plumbing ----------------------------------------------------------------------------

    def _local(self) -> bool:
        """Control endpoints and patient pages: loopback clients only (403 otherwise)."""
        try:
            address = ipaddress.ip_address(self.client_address[0].split("%", 1)[0])
        except ValueError:
            address = None
        mapped = getattr(address, "ipv4_mapped", None)
        if address is not None and (address.is_loopback or (mapped and mapped.is_loopback)):
            return True
        self._send(HTTPStatus.FORBIDDEN, b"The sandbox controls answer loopback only", _TEXT)
        return False

    def _read_body(self) -> bytes | None:
        if self.headers.get("Transfer-Encoding"):
            self._send(HTTPStatus.LENGTH_REQUIRED, b"Send a Content-Length", _TEXT, close=True)
            return None
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            length = -1
        if length < 0:
            self._send(HTTPStatus.BAD_REQUEST, b"Bad Content-Length", _TEXT, close=True)
            return None
        if length > self.server.sandbox.max_body_bytes:
            self._send(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, b"Too large", _TEXT, close=True)
            return None
        return self.rfile.read(length)

    def _json(self, status: int, payload: Any) -> None:
        body = json.dumps(payload, ensure_ascii=False, indent=1, default=str).encode()
        self._send(status, body, _JSON)

    def _send(
        self,
        status: int,
        body: bytes,
        content_type: str,
        *,
        headers: list[tuple[str, str]] | None = None,
        drip_s: float = 0.0,
        close: bool = False,
    ) -> None:
        try:
            reason = HTTPStatus(status).phrase
        except ValueError:
            reason = "Unknown"
        lines = [
            f"HTTP/1.1 {status} {reason}",
            f"Server: {self.server_version}",
            f"Date: {self.date_time_string()}",
            f"Content-Type: {content_type}",
            f"Content-Length: {len(body)}",
            "Cache-Control: no-store",
        ]
        lines += [f"{name}: {value}" for name, value in headers or []]
        if close or self.close_connection:
            lines.append("Connection: close")
            self.close_connection = True
        data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
        try:
            if drip_s > 0:
                self._drip(data, drip_s)
            else:
                self.wfile.write(data)
        except OSError:
            self.close_connection = True
        self.log_request(status, len(body))

    def _drip(self, data: bytes, drip_s: float) -> None:
        stopping = self.server.sandbox.stopping
        for index in range(len(data)):
            self.wfile.write(data[index : index + 1])
            if stopping.wait(drip_s):
                self.close_connection = True
                return

    def _drop(self) -> None:
        self.close_connection = True
        _shutdown(self._socket)


def _shutdown(connection: socket.socket) -> None:
    """Shut a connection down both ways, waking any thread blocked on it.

    ``socket.socket.shutdown`` even for a TLS socket: ``SSLSocket.shutdown`` would also drop the
    TLS state under a thread that may be reading it.
    """
    with contextlib.suppress(OSError):
        socket.socket.shutdown(connection, socket.SHUT_RDWR)
