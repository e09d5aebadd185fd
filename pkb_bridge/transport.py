"""The SOAP-over-HTTPS client for PKB's HL7 endpoint: one message in, PKB's ACK text out.

PKB takes HL7 v2 only wrapped in SOAP, POSTed over HTTPS with Basic auth, and answers with the
ACK inside the SOAP response (pkb-hl7-interface.md 3.1, Appendix C). This module moves bytes and
classifies failures; it never decides what an ACK means (AA/AR/AE, MSA-2) beyond checking that
one came back: that is the dispatcher's job.

Every failure is a ``TransportError`` whose ``permanent`` mark is the whole retry decision
(STYLE.md 8). Permanent means the same bytes will fail again: a 4xx (except 401/403 and the
"not now" codes 408, 425 and 429), or a message XML cannot carry. Everything else (refused,
reset, timed out, 5xx, SOAP fault, garbage) leaves the outcome unknown or the endpoint
unhealthy, so the message is sent again later with the same MSH-10. 401/403
(``kind == "http_auth"``) are transient too: the caller pauses the whole connection rather than
fail message after message.

Why the standard library's ``http.client`` and not httpx: the total deadline below needs the
socket, to shut it down from another thread (closing a socket does not wake a thread blocked in
``recv`` on Linux; ``shutdown`` does). ``http.client`` also sets TCP_NODELAY on connect and
writes headers and body in one ``send``, so neither side's Nagle delay applies (the 44 ms trap,
reliability-and-security.md 4.3(d)).

On a kept-alive connection the exchange runs in the caller's thread, watched by a thread that
shuts the socket down at the deadline (handing every send to another thread cost 0.15 ms of
CPU a message, bench/pkb_historic.py). A send that must connect first runs on a worker thread
the caller waits for: a connect can hang in the resolver, where there is no socket to shut.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import ipaddress
import logging
import queue
import select
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from pkb_bridge.hl7.ack import parse_ack
from pkb_bridge.hl7.soap import (
    CONTENT_TYPE,
    SoapError,
    build_envelope,
    parse_envelope_response,
)

logger = logging.getLogger("pkb_bridge.transport")

TransportErrorKind = Literal[
    "connect",  # nothing reached PKB: refused, reset before sending, DNS, connect timeout
    "dropped",  # the connection closed after the request was sent: PKB may have it
    "timeout",  # no complete reply before the total deadline: PKB may have it
    "tls",  # handshake or certificate verification failed
    "http_auth",  # 401/403: credentials or IP allow-list; pause the whole connection
    "http_redirect",  # 3xx: the configured URL is wrong; never followed (could downgrade)
    "http_throttled",  # 408, 425, 429: PKB asks us to come back later
    "http_5xx",
    "http_4xx",  # any other 4xx: this request will be refused again
    "soap_fault",  # PKB's SOAP stack failed: the outcome is unknown
    "bad_response",  # no SOAP envelope with an ACK in it
    "unsendable",  # the message holds characters XML cannot carry; nothing was sent
]

# The kinds whose retry would fail the same way. 401/403 are deliberately not here: a
# rotated password or a missing allow-list entry affects every message, so the caller pauses
# the connection instead of failing rows one by one.
_PERMANENT_KINDS: frozenset[str] = frozenset({"http_4xx", "unsendable"})

# Request Timeout, Too Early, Too Many Requests: 4xx that say "not now" rather than "never".
_THROTTLED = frozenset({408, 425, 429})
# An ACK is a few hundred bytes; anything much bigger is not PKB answering us.
DEFAULT_MAX_RESPONSE_BYTES = 1024 * 1024
_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain"})


class TransportError(Exception):
    """A send that did not bring back an ACK. ``permanent`` is the only retry input.

    ``str(error)`` is short and never holds message or response content (patient data); the
    raw response, when there was one, is in ``response_body`` for the attempt record.
    """

    def __init__(
        self,
        kind: TransportErrorKind,
        message: str,
        *,
        status_code: int | None = None,
        response_body: bytes | None = None,
        elapsed_s: float | None = None,
    ) -> None:
        super().__init__(message)
        self.kind: TransportErrorKind = kind
        self.permanent: bool = kind in _PERMANENT_KINDS
        self.message = message
        self.status_code = status_code
        self.response_body = response_body
        self.elapsed_s = elapsed_s

    def __repr__(self) -> str:
        return f"TransportError(kind={self.kind!r}, permanent={self.permanent}, {self.message!r})"


@dataclass(frozen=True, slots=True)
class SendResult:
    """What one successful exchange produced: the bytes both ways and the ACK text."""

    status_code: int
    request_body: bytes
    response_body: bytes
    ack_text: str
    elapsed_s: float


class PkbTransport:
    """One keep-alive connection to PKB's HL7 endpoint, one message at a time.

    ``send`` is serialised per object (PKB asks for one message at a time, reference 3.3): a
    dispatcher allowed N in flight holds N transports. Each ``send`` has a total deadline that
    covers connecting, the TLS handshake, writing, waiting and reading; on expiry the socket is
    shut down and the next ``send`` opens a fresh connection.

    ``https`` URLs verify the server certificate (against ``ca_bundle`` alone when given, else the
    system store); there is no fallback to plain HTTP. ``http`` URLs are accepted for a loopback
    host only: the local PKB sandbox of ``make demo``.
    """

    def __init__(
        self,
        url: str,
        username: str,
        password: str,
        *,
        connect_timeout_s: float,
        deadline_s: float,
        ca_bundle: str | None = None,
        verify: bool = True,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        soap_action: str = "",
    ) -> None:
        if connect_timeout_s <= 0 or deadline_s <= 0:
            raise ValueError("connect_timeout_s and deadline_s must be positive")
        parts = urlsplit(url)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ValueError("the PKB URL must be https://host[:port]/path")
        if parts.scheme == "http" and not _is_loopback(parts.hostname):
            raise ValueError("the PKB URL must use https (plain http only for a local sandbox)")
        if any(ch in soap_action for ch in '"\\\r\n') or not soap_action.isprintable():
            raise ValueError("the SOAPAction must be printable, without quotes or backslashes")
        self.url = url
        self._host = parts.hostname
        self._port = parts.port or (443 if parts.scheme == "https" else 80)
        self._path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self._ssl_context = (
            _client_ssl_context(ca_bundle, verify) if parts.scheme == "https" else None
        )
        credentials = f"{username}:{password}".encode()
        self._headers = {
            "Content-Type": CONTENT_TYPE,
            # The operation's SOAPAction (PKB_SOAP_ACTION); SOAP 1.1 wants it quoted.
            "SOAPAction": f'"{soap_action}"',
            "Authorization": "Basic " + base64.b64encode(credentials).decode("ascii"),
            "Connection": "keep-alive",
        }
        self._connect_timeout_s = connect_timeout_s
        self._deadline_s = deadline_s
        self._max_response_bytes = max_response_bytes
        self._lock = threading.Lock()  # one send at a time
        self._conn: http.client.HTTPConnection | None = None
        self._worker: _Worker | None = None
        self._watchdog: _Watchdog | None = None
        self._closed = False
        self.connections_opened = 0  # for tests and metrics: keep-alive should keep this at 1

    def send(self, message: str) -> SendResult:
        """Send one ER7 message and return PKB's ACK text; raise ``TransportError`` otherwise.

        Blocks for at most ``deadline_s`` (plus the time to build the envelope). Safe to call
        again with the same message: the caller decides, from ``TransportError.permanent``.
        """
        try:
            request_body = build_envelope(message)
        except ValueError as exc:
            # Our builders never produce such text; if one ever does, resending cannot help.
            error = TransportError("unsendable", str(exc))
            _log_failure(error)
            raise error from None
        with self._lock:
            if self._closed:
                raise RuntimeError("this PkbTransport is closed")
            started = time.monotonic()
            status, response_body = self._exchange_with_deadline(request_body, started)
        elapsed = time.monotonic() - started
        try:
            ack_text = _ack_from_response(status, response_body)
        except TransportError as error:
            error.elapsed_s = elapsed
            _log_failure(error)
            raise
        logger.debug("PKB send ok: status=%s elapsed=%.4fs", status, elapsed)
        return SendResult(
            status_code=status,
            request_body=request_body,
            response_body=response_body,
            ack_text=ack_text,
            elapsed_s=elapsed,
        )

    def close(self) -> None:
        """Close the connection and the worker thread; a send in progress fails at once."""
        self._closed = True
        self._abort_connection()
        if self._worker is not None:
            self._worker.stop()
            self._worker = None
        if self._watchdog is not None:
            self._watchdog.stop()
            self._watchdog = None

    def __enter__(self) -> PkbTransport:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- the deadline ------------------------------------------------------------------------

    def _exchange_with_deadline(self, request_body: bytes, started: float) -> tuple[int, bytes]:
        deadline = started + self._deadline_s
        if self._conn is None:
            self._conn = self._new_connection()
        conn = self._conn
        if conn.sock is not None:
            try:
                return self._exchange_watched(conn, request_body, started, deadline)
            except _NeedsConnect:
                pass  # nothing was sent: the worker connects and sends
        if self._worker is None:
            self._worker = _Worker()
        job = self._worker.submit(lambda job: self._exchange(job, conn, request_body, deadline))
        if not job.done.wait(max(0.0, deadline - time.monotonic())):
            # The worker may be blocked in recv on a server that drips or says nothing: shut
            # the socket down to wake it, and give the next send a fresh worker and connection.
            job.abandoned = True
            self._abort_connection()
            self._worker.stop()
            self._worker = None
            error = TransportError(
                "timeout",
                f"no complete reply within the {self._deadline_s:g} s deadline",
                elapsed_s=time.monotonic() - started,
            )
            _log_failure(error)
            raise error
        if job.error is not None:
            self._abort_connection()
            error = _classify(job.error, job.phase)
            error.elapsed_s = time.monotonic() - started
            _log_failure(error)
            raise error
        if job.result is None:  # pragma: no cover - a finished job has a result or an error
            raise TransportError("bad_response", "the exchange ended without a result")
        return job.result

    def _exchange_watched(
        self,
        conn: http.client.HTTPConnection,
        request_body: bytes,
        started: float,
        deadline: float,
    ) -> tuple[int, bytes]:
        """The exchange on a kept-alive connection, in this thread, its socket shut down by
        the watchdog if the deadline passes first. Raises ``_NeedsConnect``, having sent
        nothing, when the connection turns out to need opening again."""
        if self._watchdog is None:
            self._watchdog = _Watchdog(self._deadline_s)
        job = _Job(fn=_no_job, done=threading.Event(), phase="send")
        watch = self._watchdog.arm(conn.sock, deadline)
        try:
            result = self._exchange(job, conn, request_body, deadline, may_connect=False)
        except _NeedsConnect:
            self._watchdog.disarm(watch)
            raise
        except BaseException as exc:
            fired = self._watchdog.disarm(watch)
            self._abort_connection()
            if not isinstance(exc, Exception):  # an interrupt stays one
                raise
            if fired:
                error = TransportError(
                    "timeout",
                    f"no complete reply within the {self._deadline_s:g} s deadline",
                    elapsed_s=time.monotonic() - started,
                )
            else:
                error = _classify(exc, job.phase)
                error.elapsed_s = time.monotonic() - started
            _log_failure(error)
            raise error from None
        if self._watchdog.disarm(watch):
            # The reply was complete as the deadline passed and the socket was shut: PKB
            # answered, so the answer stands; the next send opens a fresh connection.
            self._abort_connection()
        return result

    def _exchange(
        self,
        job: _Job,
        conn: http.client.HTTPConnection,
        request_body: bytes,
        deadline: float,
        *,
        may_connect: bool = True,
    ) -> tuple[int, bytes]:
        """Connect if needed (and ``may_connect``), POST, read the whole reply. On the worker
        thread for a connect; else in the caller's (``_exchange_watched``)."""
        if conn.sock is not None and _peer_closed(conn.sock):
            # The server closed the idle keep-alive connection (or wrote something we did
            # not ask for): reconnect now rather than find out after writing the request.
            conn.close()
        if conn.sock is None and not may_connect:
            raise _NeedsConnect
        if conn.sock is None:
            job.phase = "connect"
            conn.timeout = max(0.001, min(self._connect_timeout_s, deadline - time.monotonic()))
            conn.connect()
            self.connections_opened += 1
        sock = conn.sock
        if sock is None:  # closed under us by a timeout in the waiting thread
            raise TimeoutError
        # A backstop only: the deadline itself is enforced by the waiting thread or the
        # watchdog.
        sock.settimeout(max(0.001, deadline - time.monotonic()))
        if job.abandoned:
            # The deadline passed while we were connecting: the caller has reported a timeout,
            # so do not send behind its back.
            conn.close()
            raise TimeoutError
        job.phase = "send"
        conn.request("POST", self._path, body=request_body, headers=self._headers)
        job.phase = "receive"
        response = conn.getresponse()
        body = response.read(self._max_response_bytes + 1)
        if len(body) > self._max_response_bytes:
            conn.close()
            raise _ResponseTooLarge
        if not response.isclosed():
            # Defensive: a body not read to its end leaves the connection out of step.
            conn.close()
        return response.status, body

    def _new_connection(self) -> http.client.HTTPConnection:
        if self._ssl_context is not None:
            return http.client.HTTPSConnection(
                self._host, self._port, timeout=self._connect_timeout_s, context=self._ssl_context
            )
        return http.client.HTTPConnection(self._host, self._port, timeout=self._connect_timeout_s)

    def _abort_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        sock = conn.sock
        if sock is not None:
            # socket.socket.shutdown on the raw descriptor, even for an SSLSocket: wakes a
            # thread blocked reading it, with no TLS close_notify exchange to wait for.
            with contextlib.suppress(OSError):
                socket.socket.shutdown(sock, socket.SHUT_RDWR)
        with contextlib.suppress(Exception):
            conn.close()


class _ResponseTooLarge(Exception):
    pass


class _NeedsConnect(Exception):
    """The kept-alive connection was closed by the peer: nothing sent, connect first."""


def _no_job(job: _Job) -> tuple[int, bytes]:  # pragma: no cover - a watched exchange's record
    raise RuntimeError("a watched exchange is not run by a worker")


@dataclass(slots=True)
class _Watch:
    sock: socket.socket
    deadline: float
    fired: bool = False


class _Watchdog:
    """A daemon thread that shuts down the socket of an exchange still running at its deadline.

    Arming and disarming take a lock and wake nobody: the thread sleeps until the deadline of
    the exchange it saw armed, or ``period_s`` when none was, and an exchange armed later has
    a later deadline than that (every deadline is its start plus the same ``period_s``). One
    that does not (a clock read before the thread's) wakes it. About one wake-up a deadline's
    length, whatever the number of sends.
    """

    def __init__(self, period_s: float) -> None:
        self._period_s = period_s
        self._lock = threading.Lock()
        self._armed: _Watch | None = None
        self._wake_at = float("inf")
        self._nudge = threading.Event()
        self._stopped = False
        self._thread = threading.Thread(
            target=self._run, name="pkb-transport-watchdog", daemon=True
        )
        self._thread.start()

    def arm(self, sock: socket.socket, deadline: float) -> _Watch:
        watch = _Watch(sock=sock, deadline=deadline)
        with self._lock:
            self._armed = watch
            early = deadline < self._wake_at
        if early:
            self._nudge.set()
        return watch

    def disarm(self, watch: _Watch) -> bool:
        """Stop watching ``watch``; True if its deadline passed and its socket was shut down."""
        with self._lock:
            if self._armed is watch:
                self._armed = None
            return watch.fired

    def stop(self) -> None:
        self._stopped = True
        self._nudge.set()

    def _run(self) -> None:
        while not self._stopped:
            with self._lock:
                watch = self._armed
                now = time.monotonic()
                if watch is not None and now >= watch.deadline:
                    watch.fired = True
                    self._armed = None
                    # As _abort_connection: wakes the thread blocked reading it.
                    with contextlib.suppress(OSError):
                        socket.socket.shutdown(watch.sock, socket.SHUT_RDWR)
                    watch = None
                self._wake_at = watch.deadline if watch is not None else now + self._period_s
                self._nudge.clear()
            self._nudge.wait(max(0.0, self._wake_at - now))


@dataclass(slots=True)
class _Job:
    fn: Callable[[_Job], tuple[int, bytes]]
    done: threading.Event
    phase: str = "connect"
    abandoned: bool = False
    result: tuple[int, bytes] | None = None
    error: BaseException | None = None


class _Worker:
    """A daemon thread that runs one exchange at a time.

    A timed-out exchange is abandoned with its worker: the waiting thread has already given up,
    and a new worker serves the next send, so a hung DNS lookup cannot stall later sends.
    """

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="pkb-transport", daemon=True)
        self._thread.start()

    def submit(self, fn: Callable[[_Job], tuple[int, bytes]]) -> _Job:
        job = _Job(fn=fn, done=threading.Event())
        self._jobs.put(job)
        return job

    def stop(self) -> None:
        self._jobs.put(None)

    def _run(self) -> None:
        while (job := self._jobs.get()) is not None:
            try:
                job.result = job.fn(job)
            except BaseException as error:  # handed to the waiting thread
                job.error = error
            finally:
                job.done.set()


# -- classification ----------------------------------------------------------------------------


def _classify(error: BaseException, phase: str) -> TransportError:
    """Map an exception from the worker to a ``TransportError``; never quotes content."""
    if isinstance(error, ssl.SSLCertVerificationError):
        return TransportError(
            "tls", f"TLS certificate verification failed: {error.verify_message or 'unknown'}"
        )
    if isinstance(error, ssl.SSLError):
        return TransportError("tls", f"TLS handshake or record failed: {error.reason or 'unknown'}")
    if isinstance(error, _ResponseTooLarge):
        return TransportError("bad_response", "the response is larger than an ACK can be")
    if isinstance(error, socket.gaierror):
        return TransportError("connect", "the PKB host name could not be resolved")
    if isinstance(error, TimeoutError):
        if phase == "connect":
            return TransportError("connect", "timed out connecting to PKB")
        return TransportError("timeout", "timed out waiting for PKB's reply")
    if isinstance(error, http.client.RemoteDisconnected | http.client.IncompleteRead):
        return TransportError("dropped", "PKB closed the connection before a complete reply")
    if isinstance(error, http.client.HTTPException):
        return TransportError("bad_response", f"not a valid HTTP response ({type(error).__name__})")
    if isinstance(error, OSError):
        if phase in ("connect", "send"):
            if isinstance(error, ConnectionRefusedError):
                return TransportError("connect", "connection refused")
            return TransportError("connect", f"connection failed ({type(error).__name__})")
        return TransportError("dropped", f"connection lost after sending ({type(error).__name__})")
    return TransportError("bad_response", f"unexpected failure ({type(error).__name__})")


def _ack_from_response(status: int, body: bytes) -> str:
    """The ACK text of a 2xx SOAP response; raise ``TransportError`` for anything else."""

    def fail(kind: TransportErrorKind, message: str) -> TransportError:
        return TransportError(kind, message, status_code=status, response_body=body)

    if 200 <= status < 300:
        try:
            ack_text = parse_envelope_response(body)
        except SoapError as error:
            if error.is_fault:
                raise fail("soap_fault", "PKB answered with a SOAP fault") from None
            raise fail("bad_response", "the response is not a SOAP envelope with an ACK") from None
        if parse_ack(ack_text).code is None:
            raise fail("bad_response", "the SOAP response holds no HL7 ACK")
        return ack_text
    if status in (401, 403):
        raise fail("http_auth", f"PKB refused the credentials or source address (HTTP {status})")
    if 300 <= status < 400:
        raise fail("http_redirect", f"PKB redirected (HTTP {status}); check the configured URL")
    if status >= 500:
        if _is_soap_fault(body):
            raise fail("soap_fault", f"PKB answered with a SOAP fault (HTTP {status})")
        raise fail("http_5xx", f"PKB is unavailable (HTTP {status})")
    if status in _THROTTLED:
        raise fail("http_throttled", f"PKB asked us to retry later (HTTP {status})")
    if 400 <= status < 500:
        raise fail("http_4xx", f"PKB refused the request (HTTP {status})")
    raise fail("bad_response", f"unexpected HTTP status {status}")


def _is_soap_fault(body: bytes) -> bool:
    try:
        parse_envelope_response(body)
    except SoapError as error:
        return error.is_fault
    return False


def _log_failure(error: TransportError) -> None:
    logger.warning(
        "PKB send failed: kind=%s permanent=%s status=%s elapsed=%s",
        error.kind,
        error.permanent,
        error.status_code,
        f"{error.elapsed_s:.3f}s" if error.elapsed_s is not None else "-",
    )


# -- sockets and TLS ---------------------------------------------------------------------------


def _peer_closed(sock: socket.socket) -> bool:
    """True if an idle connection is readable: the server closed it or sent unasked bytes."""
    # poll, not select: select fails for descriptors above 1024 in a busy worker process.
    poller = select.poll()
    try:
        poller.register(sock, select.POLLIN)
        return bool(poller.poll(0))
    except (OSError, ValueError):
        return True


def _is_loopback(host: str) -> bool:
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _client_ssl_context(ca_bundle: str | None, verify: bool) -> ssl.SSLContext:
    # With a cafile, create_default_context trusts that bundle only (no system store), which
    # lets a deployment pin PKB's CA.
    context = ssl.create_default_context(cafile=ca_bundle)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if not verify:
        logger.warning("PKB TLS certificate verification is OFF: use for local debugging only")
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context
