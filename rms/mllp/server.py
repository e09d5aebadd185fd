"""An MLLP listener that knows nothing of HL7 content or the database.

Connections are accepted on an asyncio event loop (the allowlist and the connection caps are
checked there, before any TLS work); each accepted connection is then served by a thread of
its own with blocking reads and writes. Each complete frame is passed to an injected
``handler(message, peer) -> ack``, called in that thread, and the ACK is framed and written
back before the next frame on that connection is read: original-mode HL7 senders wait for the
ACK anyway, and it keeps per-connection order. Serving a connection in one thread is how the
established MLLP servers work (HAPI's, Mirth's): a message goes from the socket to the handler
and its ACK back to the socket without passing between threads, which on this machine kind
was about a sixth of a filed message's wall time (docs/benchmarks.md, "Fourteenth round").
``max_handlers`` caps how many handlers run at once across connections.

If the handler raises, the connection is closed without a reply, so the sender keeps the
message and resends it later; that is how a database outage must look from the sending side
(reference §5.2 I2/I3).

Nothing here logs message bytes: only peer addresses, counts and exception types.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import math
import os
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from rms.mllp.framing import FrameDecoder, FrameTooLarge, frame

logger = logging.getLogger("rms.mllp")

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_READ_SIZE = 64 * 1024
# A peer that will not finish a TLS close_notify exchange must not hold up shutdown.
_CLOSE_TIMEOUT_S = 2.0
# How often close() looks whether the connections' threads have finished.
_POLL_S = 0.01


@dataclass(frozen=True, slots=True)
class PeerInfo:
    """Who sent a message: source address, whether TLS was used, the client certificate's CN."""

    host: str
    port: int
    tls: bool
    client_cert_cn: str | None = None


# Called in the connection's own thread; it may block (it files the message).
Handler = Callable[[bytes, PeerInfo], bytes]


def build_server_ssl_context(
    certfile: str | os.PathLike[str],
    keyfile: str | os.PathLike[str],
    cafile: str | os.PathLike[str] | None = None,
    require_client_cert: bool = False,
) -> ssl.SSLContext:
    """Build the listener's TLS context: TLS 1.2 or later, optionally verifying client certificates.

    With ``cafile`` only certificates issued by that CA are trusted (never the system store, which
    would let any publicly issued certificate in); ``require_client_cert`` then refuses clients
    that present none.
    """
    if require_client_cert and cafile is None:
        raise ValueError("require_client_cert needs a cafile to verify client certificates against")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(certfile, keyfile)
    if cafile is not None:
        context.load_verify_locations(cafile=cafile)
        context.verify_mode = ssl.CERT_REQUIRED if require_client_cert else ssl.CERT_OPTIONAL
    return context


def _common_name(peercert: object) -> str | None:
    if not isinstance(peercert, dict):
        return None
    for rdn in peercert.get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                return str(value)
    return None


def _address_key(host: str) -> str:
    """The source address a connection is counted under for the per-address cap."""
    try:
        return str(_source_address(host))
    except ValueError:
        return host


def _source_address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    address = ipaddress.ip_address(host)
    # On a dual-stack socket an IPv4 sender shows up as ::ffff:a.b.c.d; match it as IPv4 so an
    # allowlist written with IPv4 networks still applies.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


class _Connection:
    """One accepted connection and the thread serving it."""

    __slots__ = ("aborted", "busy", "host", "messages", "port", "sock", "stopped", "thread")

    def __init__(self, sock: socket.socket, host: str, port: int) -> None:
        self.sock = sock
        self.host = host
        self.port = port
        self.thread: threading.Thread | None = None
        # True while a message is in the handler or its ACK is being written: graceful shutdown
        # waits for these and stops the rest at once. Set and read under the server's lock.
        self.busy = False
        # The server is ending the connection (closing): no further message is begun.
        self.stopped = False
        # And it was cut (idle at close, or its handler outlasted the grace): closed with a
        # reset, as nothing of it is owed to the peer.
        self.aborted = False
        self.messages = 0

    def stop(self) -> None:
        """Make the connection's thread stop: its blocked read returns and a write fails. From
        another thread: the socket's own shutdown, never TLS's (which is not thread-safe)."""
        self.stopped = True
        self.aborted = True
        with contextlib.suppress(OSError):
            socket.socket.shutdown(self.sock, socket.SHUT_RDWR)


class MllpServer:
    """Serve MLLP over TCP (optionally TLS) with per-connection limits, a thread a connection.

    ``max_message_bytes`` caps one message; ``idle_timeout_s`` is how long a connection may go
    without completing a frame (a slow drip of bytes does not reset it); ``max_connections`` caps
    concurrent connections and ``max_connections_per_address`` those from one source address
    (``None``: no cap of its own), so one host cannot take every slot; ``frame_timeout_s`` is
    how long a frame (or a TLS handshake) may take from its first byte to its last (``None``:
    only the idle timeout), so a connection that starts a message and never finishes it is let
    go long before the idle timeout; ``allowed_networks`` lists the networks a sender may
    connect from (``None`` accepts any source; an empty list is refused as ambiguous);
    ``max_handlers`` is how many handlers may run at once across connections (``None``: one a
    connection); ``on_idle`` is called in a connection's thread when no message has come for
    ``on_idle_after_s`` since its last answered one (once a quiet spell), and
    ``on_thread_exit`` as the thread ends: the listener closes the thread's database
    connection in both.
    """

    def __init__(
        self,
        handler: Handler,
        host: str | None,
        port: int,
        *,
        max_message_bytes: int,
        idle_timeout_s: float,
        max_connections: int,
        ssl_context: ssl.SSLContext | None = None,
        allowed_networks: Iterable[IPNetwork | str] | None = None,
        max_connections_per_address: int | None = None,
        frame_timeout_s: float | None = None,
        max_handlers: int | None = None,
        on_idle: Callable[[], None] | None = None,
        on_idle_after_s: float = 1.0,
        on_thread_exit: Callable[[], None] | None = None,
    ) -> None:
        if max_message_bytes < 1:
            raise ValueError("max_message_bytes must be at least 1")
        if idle_timeout_s <= 0:
            raise ValueError("idle_timeout_s must be positive")
        if max_connections < 1:
            raise ValueError("max_connections must be at least 1")
        if max_connections_per_address is not None and max_connections_per_address < 1:
            raise ValueError("max_connections_per_address must be at least 1")
        if frame_timeout_s is not None and frame_timeout_s <= 0:
            raise ValueError("frame_timeout_s must be positive")
        if max_handlers is not None and max_handlers < 1:
            raise ValueError("max_handlers must be at least 1")
        self._handler = handler
        self._host = host
        self._port = port
        self._max_message_bytes = max_message_bytes
        self._idle_timeout_s = idle_timeout_s
        self._max_connections = max_connections
        self._max_per_address = max_connections_per_address
        self._frame_timeout_s = frame_timeout_s
        self._ssl_context = ssl_context
        self._handlers = None if max_handlers is None else threading.BoundedSemaphore(max_handlers)
        self._on_idle = on_idle
        self._on_idle_after_s = on_idle_after_s
        self._on_thread_exit = on_thread_exit
        # ip_network() is strict: "10.0.0.1/8" (host bits set) fails at start, not at first use.
        self._allowed_networks: tuple[IPNetwork, ...] | None = (
            None
            if allowed_networks is None
            else tuple(ipaddress.ip_network(network) for network in allowed_networks)
        )
        if self._allowed_networks == ():
            # An empty list reads as "no restriction" in settings but as "nobody" here; refuse
            # to guess which was meant.
            raise ValueError("allowed_networks is empty: pass None to accept any source address")
        self._sockets: list[socket.socket] = []
        self._accepting: list[asyncio.Task[None]] = []
        # The connections and the per-address counts are changed by the event loop (accept)
        # and by the connections' threads (as they end): under this lock.
        self._lock = threading.Lock()
        self._connections: set[_Connection] = set()
        # Open connections by source address (as _address_key gives it), for the per-address cap.
        self._per_address: dict[str, int] = {}
        self._closing = False
        self._stopped = asyncio.Event()

    @property
    def port(self) -> int:
        """The bound port (the real one when constructed with port 0)."""
        if not self._sockets:
            raise RuntimeError("the MLLP server is not listening")
        return int(self._sockets[0].getsockname()[1])

    @property
    def connection_count(self) -> int:
        """Connections currently open (accepted and not yet closed)."""
        with self._lock:
            return len(self._connections)

    async def start(self) -> None:
        """Bind and start accepting connections."""
        if self._sockets:
            raise RuntimeError("the MLLP server is already started")
        self._sockets = await _bind(self._host, self._port)
        # Accepted on the event loop; the TLS handshake is done in the connection's thread
        # after the allowlist and connection cap, so a refused peer costs no TLS work.
        self._accepting = [
            asyncio.create_task(self._accept_from(sock), name="mllp-accept")
            for sock in self._sockets
        ]
        logger.info(
            "MLLP listener on %s port %d (tls=%s, max_connections=%d)",
            self._host or "all interfaces",
            self.port,
            self._ssl_context is not None,
            self._max_connections,
        )

    async def serve_forever(self) -> None:
        """Serve until :meth:`close` is called; if this task is cancelled, close gracefully."""
        if not self._sockets:
            await self.start()
        try:
            await self._stopped.wait()
        except asyncio.CancelledError:
            await self.close()
            raise

    async def close(self, *, grace_s: float = 10.0) -> None:
        """Stop accepting, let messages already in a handler finish (up to ``grace_s``), close.

        Idle connections and half-received frames are dropped at once: their senders have no ACK
        and will resend. A handler still running after ``grace_s`` is left to finish in its
        thread, but its connection is closed at once and its ACK never written (the sender
        resends; a message filed meanwhile is recognised as a repeat). Safe to call twice.
        """
        if not self._sockets:
            return
        if self._closing:
            await self._stopped.wait()
            return
        with self._lock:
            self._closing = True
            connections = list(self._connections)
            idle = [c for c in connections if not c.busy]
        for task in self._accepting:
            task.cancel()
        await asyncio.gather(*self._accepting, return_exceptions=True)
        for sock in self._sockets:
            sock.close()
        for connection in idle:
            connection.stop()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace_s
        while loop.time() < deadline and self._alive(connections):
            await asyncio.sleep(_POLL_S)
        alive = [c for c in connections if c.thread is not None and c.thread.is_alive()]
        for connection in alive:
            connection.stop()
        # Those still in their handler (not a connection that answered and is closing).
        late = [c for c in alive if c.busy]
        if late:
            logger.warning(
                "MLLP shutdown stopped %d connection(s) whose handler was still running after "
                "%.1f s; their senders get no ACK and will resend",
                len(late),
                grace_s,
            )
        logger.info("MLLP listener closed")
        self._stopped.set()

    @staticmethod
    def _alive(connections: list[_Connection]) -> bool:
        return any(c.thread is not None and c.thread.is_alive() for c in connections)

    def _is_allowed(self, host: str) -> bool:
        if self._allowed_networks is None:
            return True
        try:
            address = _source_address(host)
        except ValueError:
            return False
        return any(address in network for network in self._allowed_networks)

    async def _accept_from(self, listening: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                sock, address = await loop.sock_accept(listening)
            except OSError as exc:
                # Out of descriptors or memory, say: the connections open are served on, and
                # accepting is tried again shortly.
                logger.error("MLLP could not accept a connection (%s)", type(exc).__name__)
                await asyncio.sleep(0.1)
                continue
            self._accept(sock, str(address[0]), int(address[1]))

    def _accept(self, sock: socket.socket, host: str, port: int) -> None:
        """On the event loop: admit a connection (allowlist, caps) and start its thread, or
        close it at once."""
        connection = _Connection(sock, host, port)
        refusal = self._refusal(connection)
        if refusal is not None:
            if refusal:
                logger.warning("MLLP connection from %s:%d refused: %s", host, port, refusal)
            sock.close()
            return
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            # Set explicitly: a Nagle plus delayed-ACK stall costs ~44 ms per message
            # (measured, reference §4.3).
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setblocking(True)
        connection.thread = threading.Thread(
            target=self._run,
            args=(connection,),
            name=f"mllp-{host}:{port}",
            # Not a daemon: a message being filed as the process exits is finished first.
            daemon=False,
        )
        connection.thread.start()

    def _refusal(self, connection: _Connection) -> str | None:
        """Why ``connection`` is refused (``""``: the server is closing, nothing logged), or
        None, having counted it in."""
        host = connection.host
        if not self._is_allowed(host):
            return "source address is not in an allowed network"
        address = _address_key(host)
        with self._lock:
            if self._closing:
                return ""
            if (
                self._max_per_address is not None
                and self._per_address.get(address, 0) >= self._max_per_address
            ):
                return (
                    f"already at the limit of {self._max_per_address} connections from that address"
                )
            if len(self._connections) >= self._max_connections:
                return f"already at the limit of {self._max_connections} connections"
            self._per_address[address] = self._per_address.get(address, 0) + 1
            self._connections.add(connection)
        return None

    def _run(self, connection: _Connection) -> None:
        """A connection's thread: TLS if configured, then read, de-frame and answer."""
        address = _address_key(connection.host)
        host, port = connection.host, connection.port
        reason = "closed by the peer"
        try:
            peer = self._open(connection)
            if peer is None:
                reason = "TLS handshake failed"
                return
            logger.info(
                "MLLP connection opened from %s:%d (tls=%s, client_cn=%s)",
                host,
                port,
                peer.tls,
                peer.client_cert_cn,
            )
            reason = self._serve(connection, peer)
        except OSError as exc:
            reason = (
                "server shutting down"
                if connection.stopped
                else f"connection error ({type(exc).__name__})"
            )
        finally:
            with self._lock:
                self._connections.discard(connection)
                remaining = self._per_address.pop(address, 1) - 1
                if remaining > 0:
                    self._per_address[address] = remaining
            _close_socket(connection.sock, abort=connection.aborted)
            logger.info(
                "MLLP connection from %s:%d closed after %d message(s): %s",
                host,
                port,
                connection.messages,
                reason,
            )
            _call_hook(self._on_thread_exit)

    def _open(self, connection: _Connection) -> PeerInfo | None:
        host, port = connection.host, connection.port
        if self._ssl_context is None:
            return PeerInfo(host=host, port=port, tls=False)
        # A handshake begun and not finished holds a slot like a half-sent frame: it gets the
        # frame deadline, not the idle one. A socket's timeout is the handshake's whole
        # duration, not restarted by each byte a peer drips (the ssl module, since 3.5).
        timeout_s = min(self._idle_timeout_s, self._frame_timeout_s or math.inf)
        try:
            connection.sock.settimeout(timeout_s)
            tls = self._ssl_context.wrap_socket(
                connection.sock, server_side=True, do_handshake_on_connect=False
            )
            connection.sock = tls
            tls.do_handshake()
        except (OSError, ValueError) as exc:
            if connection.stopped:
                raise OSError("stopped") from exc
            logger.warning(
                "MLLP TLS handshake with %s:%d failed (%s: %.200s)",
                host,
                port,
                type(exc).__name__,
                exc,
            )
            return None
        return PeerInfo(
            host=host,
            port=port,
            tls=True,
            client_cert_cn=_common_name(tls.getpeercert()),
        )

    def _serve(self, connection: _Connection, peer: PeerInfo) -> str:
        """Read, de-frame and answer until the connection ends; return why it ended."""
        sock = connection.sock
        decoder = FrameDecoder(self._max_message_bytes)
        # When the frame now being received must be complete (None: no frame begun). Set at a
        # frame's first byte and never moved by later bytes, so half-open connections sending
        # only the start of a message (or dripping it) are let go after frame_timeout_s.
        frame_deadline: float | None = None
        answered = 0
        while not connection.stopped:
            # The idle clock restarts only when a frame completes, so a sender dripping one byte
            # at a time (slowloris) is still cut off after idle_timeout_s.
            deadline = time.monotonic() + self._idle_timeout_s
            # When on_idle is due: a quiet spell after a message answered (None: not due).
            idle_due = (
                time.monotonic() + self._on_idle_after_s
                if self._on_idle is not None and connection.messages > answered
                else None
            )
            answered = connection.messages
            messages: list[bytes] = []
            while not messages:
                wait_until = deadline if frame_deadline is None else min(deadline, frame_deadline)
                if idle_due is not None:
                    wait_until = min(wait_until, idle_due)
                try:
                    sock.settimeout(max(wait_until - time.monotonic(), 0.0) or 1e-6)
                    data = sock.recv(_READ_SIZE)
                except TimeoutError:
                    if idle_due is not None and wait_until == idle_due:
                        _call_hook(self._on_idle)
                        idle_due = None
                        continue
                    if frame_deadline is not None and frame_deadline <= deadline:
                        logger.warning(
                            "MLLP message from %s:%d begun but not finished within %g s; "
                            "closing the connection",
                            peer.host,
                            peer.port,
                            self._frame_timeout_s,
                        )
                        return (
                            f"a message begun but not finished within {self._frame_timeout_s:g} s"
                        )
                    return f"no complete message within {self._idle_timeout_s:g} s"
                if connection.stopped:
                    return "server shutting down"
                if not data:
                    if decoder.pending_bytes:
                        return f"closed by the peer inside a frame ({decoder.pending_bytes} bytes)"
                    return "closed by the peer"
                discarded_before = decoder.discarded_bytes
                try:
                    messages = decoder.feed(data)
                except FrameTooLarge as exc:
                    logger.warning(
                        "MLLP message from %s:%d exceeds %d bytes; closing the connection",
                        peer.host,
                        peer.port,
                        self._max_message_bytes,
                    )
                    # Whole messages that arrived just before the oversized one still get
                    # their ACKs, so the sender does not resend them needlessly.
                    for message in exc.messages:
                        if not self._answer(connection, message, peer):
                            return "handler failed"
                    return "message too large"
                if not decoder.pending_bytes:
                    frame_deadline = None
                elif self._frame_timeout_s is not None and (frame_deadline is None or messages):
                    # A frame began in this read (after any it completed).
                    frame_deadline = time.monotonic() + self._frame_timeout_s
                discarded = decoder.discarded_bytes - discarded_before
                if discarded:
                    logger.warning(
                        "MLLP discarded %d byte(s) outside a frame from %s:%d",
                        discarded,
                        peer.host,
                        peer.port,
                    )
            for message in messages:
                if not self._answer(connection, message, peer):
                    return "server shutting down" if connection.stopped else "handler failed"
        return "server shutting down"

    def _answer(self, connection: _Connection, message: bytes, peer: PeerInfo) -> bool:
        """Run the handler and write its ACK; False means the connection must be closed."""
        with self._lock:
            # A message is begun only while the server is open: close() either sees it busy
            # (and waits for it) or it sees the server closing (and is not begun).
            if self._closing or connection.stopped:
                connection.stopped = True
                return False
            connection.busy = True
        try:
            try:
                if self._handlers is None:
                    reply = frame(self._handler(message, peer))
                else:
                    with self._handlers:
                        reply = frame(self._handler(message, peer))
            except Exception as exc:
                # Type and message only: a traceback or repr could carry the payload.
                logger.error(
                    "MLLP handler failed on a message from %s:%d (%s: %.200s); "
                    "closing the connection without an ACK so the sender resends",
                    peer.host,
                    peer.port,
                    type(exc).__name__,
                    exc,
                )
                return False
            if connection.stopped:  # close() gave up waiting: no ACK, the sender resends
                return False
            try:
                connection.sock.settimeout(self._idle_timeout_s)
                connection.sock.sendall(reply)
            except OSError as exc:  # TimeoutError included
                if not connection.stopped:
                    logger.warning(
                        "MLLP could not write an ACK to %s:%d (%s)",
                        peer.host,
                        peer.port,
                        type(exc).__name__,
                    )
                return False
            connection.messages += 1
            return True
        finally:
            with self._lock:
                connection.busy = False
                # close() began while this message was in hand (it saw the connection busy
                # and waits for it): the connection ends here, its ACK written.
                if self._closing:
                    connection.stopped = True


def _call_hook(hook: Callable[[], None] | None) -> None:
    if hook is None:
        return
    try:
        hook()
    except Exception as exc:
        logger.warning("MLLP connection thread's hook failed (%s)", type(exc).__name__)


async def _bind(host: str | None, port: int) -> list[socket.socket]:
    """Listening sockets for ``host`` (``None``: every interface, IPv4 and IPv6) and ``port``,
    one an address, as asyncio's ``create_server`` binds them."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    sockets: list[socket.socket] = []
    try:
        for family, kind, proto, _name, address in dict.fromkeys(infos):
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                # Each family on its own socket, as asyncio does.
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
            sock.listen(100)
            sock.setblocking(False)
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    if not sockets:
        raise OSError(f"no address to listen on for {host!r}")
    return sockets


def _close_socket(sock: socket.socket, *, abort: bool) -> None:
    """Close a connection: at once (a reset) when the server stopped it, else after TLS's
    close_notify (bounded by ``_CLOSE_TIMEOUT_S``) and a FIN."""
    with contextlib.suppress(OSError):
        if abort:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        elif isinstance(sock, ssl.SSLSocket):
            sock.settimeout(_CLOSE_TIMEOUT_S)
            with contextlib.suppress(OSError, ValueError):
                sock = sock.unwrap()
    sock.close()
