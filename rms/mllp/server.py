"""An asyncio MLLP listener that knows nothing of HL7 content or the database.

Each complete frame is passed to an injected ``handler(message, peer) -> ack`` and the ACK is
framed and written back before the next frame on that connection is handled: original-mode HL7
senders wait for the ACK anyway, and it keeps per-connection order. If the handler raises, the
connection is closed without a reply, so the sender keeps the message and resends it later; that
is how a database outage must look from the sending side (reference §5.2 I2/I3).

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
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from rms.mllp.framing import FrameDecoder, FrameTooLarge, frame

logger = logging.getLogger("rms.mllp")

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_READ_SIZE = 64 * 1024
# A peer that will not finish a TLS close_notify exchange must not hold up shutdown.
_CLOSE_TIMEOUT_S = 2.0


@dataclass(frozen=True, slots=True)
class PeerInfo:
    """Who sent a message: source address, whether TLS was used, the client certificate's CN."""

    host: str
    port: int
    tls: bool
    client_cert_cn: str | None = None


Handler = Callable[[bytes, PeerInfo], Awaitable[bytes]]


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
    __slots__ = ("busy", "messages", "task")

    def __init__(self, task: asyncio.Task[object] | None) -> None:
        self.task = task
        # True while a message is in the handler or its ACK is being written: graceful shutdown
        # waits for these and cancels the rest at once.
        self.busy = False
        self.messages = 0


class MllpServer:
    """Serve MLLP over TCP (optionally TLS) with per-connection limits.

    ``max_message_bytes`` caps one message; ``idle_timeout_s`` is how long a connection may go
    without completing a frame (a slow drip of bytes does not reset it); ``max_connections`` caps
    concurrent connections and ``max_connections_per_address`` those from one source address
    (``None``: no cap of its own), so one host cannot take every slot; ``frame_timeout_s`` is
    how long a frame (or a TLS handshake) may take from its first byte to its last (``None``:
    only the idle timeout), so a connection that starts a message and never finishes it is let
    go long before the idle timeout; ``allowed_networks`` lists the networks a sender may
    connect from (``None`` accepts any source; an empty list is refused as ambiguous).
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
        self._handler = handler
        self._host = host
        self._port = port
        self._max_message_bytes = max_message_bytes
        self._idle_timeout_s = idle_timeout_s
        self._max_connections = max_connections
        self._max_per_address = max_connections_per_address
        self._frame_timeout_s = frame_timeout_s
        self._ssl_context = ssl_context
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
        self._server: asyncio.Server | None = None
        self._connections: set[_Connection] = set()
        # Open connections by source address (as _address_key gives it), for the per-address cap.
        self._per_address: dict[str, int] = {}
        self._closing = False
        self._stopped = asyncio.Event()

    @property
    def port(self) -> int:
        """The bound port (the real one when constructed with port 0)."""
        if self._server is None or not self._server.sockets:
            raise RuntimeError("the MLLP server is not listening")
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def connection_count(self) -> int:
        """Connections currently open (accepted and not yet closed)."""
        return len(self._connections)

    async def start(self) -> None:
        """Bind and start accepting connections."""
        if self._server is not None:
            raise RuntimeError("the MLLP server is already started")
        # TLS is not given to start_server: the handshake is done per connection after the
        # allowlist and connection cap, so a refused peer costs no TLS work.
        self._server = await asyncio.start_server(
            self._accept, self._host, self._port, reuse_address=True
        )
        logger.info(
            "MLLP listener on %s port %d (tls=%s, max_connections=%d)",
            self._host or "all interfaces",
            self.port,
            self._ssl_context is not None,
            self._max_connections,
        )

    async def serve_forever(self) -> None:
        """Serve until :meth:`close` is called; if this task is cancelled, close gracefully."""
        if self._server is None:
            await self.start()
        try:
            await self._stopped.wait()
        except asyncio.CancelledError:
            await self.close()
            raise

    async def close(self, *, grace_s: float = 10.0) -> None:
        """Stop accepting, let messages already in a handler finish (up to ``grace_s``), close.

        Idle connections and half-received frames are dropped at once: their senders have no ACK
        and will resend. Safe to call twice.
        """
        if self._server is None:
            return
        if self._closing:
            await self._stopped.wait()
            return
        self._closing = True
        self._server.close()
        for connection in list(self._connections):
            if not connection.busy and connection.task is not None:
                connection.task.cancel()
        tasks = {c.task for c in self._connections if c.task is not None}
        if tasks:
            _, late = await asyncio.wait(tasks, timeout=grace_s)
            for task in late:
                task.cancel()
            if late:
                logger.warning(
                    "MLLP shutdown cancelled %d handler(s) still running after %.1f s; "
                    "their senders get no ACK and will resend",
                    len(late),
                    grace_s,
                )
                await asyncio.wait(late, timeout=_CLOSE_TIMEOUT_S)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(_CLOSE_TIMEOUT_S):
                await self._server.wait_closed()
        logger.info("MLLP listener closed")
        self._stopped.set()

    def _is_allowed(self, host: str) -> bool:
        if self._allowed_networks is None:
            return True
        try:
            address = _source_address(host)
        except ValueError:
            return False
        return any(address in network for network in self._allowed_networks)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peername = writer.get_extra_info("peername")
        host, port = str(peername[0]), int(peername[1])
        if self._closing:
            writer.close()
            return
        if not self._is_allowed(host):
            logger.warning(
                "MLLP connection from %s:%d refused: source address is not in an allowed network",
                host,
                port,
            )
            writer.close()
            return
        address = _address_key(host)
        if (
            self._max_per_address is not None
            and self._per_address.get(address, 0) >= self._max_per_address
        ):
            logger.warning(
                "MLLP connection from %s:%d refused: already at the limit of %d connections "
                "from that address",
                host,
                port,
                self._max_per_address,
            )
            writer.close()
            return
        if len(self._connections) >= self._max_connections:
            logger.warning(
                "MLLP connection from %s:%d refused: already at the limit of %d connections",
                host,
                port,
                self._max_connections,
            )
            writer.close()
            return

        sock = writer.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            # asyncio already sets this on TCP transports; set it explicitly because a Nagle
            # plus delayed-ACK stall costs ~44 ms per message (measured, reference §4.3).
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        connection = _Connection(asyncio.current_task())
        self._connections.add(connection)
        self._per_address[address] = self._per_address.get(address, 0) + 1
        reason = "closed by the peer"
        abort = False
        try:
            peer = await self._open(writer, host, port)
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
            reason = await self._serve(connection, reader, writer, peer)
        except asyncio.CancelledError:
            reason = "server shutting down"
            abort = True
            raise
        except OSError as exc:
            reason = f"connection error ({type(exc).__name__})"
        finally:
            self._connections.discard(connection)
            remaining = self._per_address.pop(address, 1) - 1
            if remaining > 0:
                self._per_address[address] = remaining
            await _close_writer(writer, abort=abort)
            logger.info(
                "MLLP connection from %s:%d closed after %d message(s): %s",
                host,
                port,
                connection.messages,
                reason,
            )

    async def _open(self, writer: asyncio.StreamWriter, host: str, port: int) -> PeerInfo | None:
        if self._ssl_context is None:
            return PeerInfo(host=host, port=port, tls=False)
        # No await may come before start_tls(): it pauses reading first, so a ClientHello that
        # has already arrived stays in the socket for the TLS layer rather than the stream buffer.
        # A handshake begun and not finished holds a slot like a half-sent frame: it gets the
        # frame deadline, not the idle one.
        handshake_timeout_s = min(self._idle_timeout_s, self._frame_timeout_s or math.inf)
        try:
            async with asyncio.timeout(handshake_timeout_s):
                await writer.start_tls(self._ssl_context, ssl_handshake_timeout=handshake_timeout_s)
        except (OSError, TimeoutError) as exc:
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
            client_cert_cn=_common_name(writer.get_extra_info("peercert")),
        )

    async def _serve(
        self,
        connection: _Connection,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        peer: PeerInfo,
    ) -> str:
        """Read, de-frame and answer until the connection ends; return why it ended."""
        decoder = FrameDecoder(self._max_message_bytes)
        loop = asyncio.get_running_loop()
        # When the frame now being received must be complete (None: no frame begun). Set at a
        # frame's first byte and never moved by later bytes, so half-open connections sending
        # only the start of a message (or dripping it) are let go after frame_timeout_s.
        frame_deadline: float | None = None
        while not self._closing:
            # The idle clock restarts only when a frame completes, so a sender dripping one byte
            # at a time (slowloris) is still cut off after idle_timeout_s.
            deadline = loop.time() + self._idle_timeout_s
            messages: list[bytes] = []
            while not messages:
                wait_until = deadline if frame_deadline is None else min(deadline, frame_deadline)
                try:
                    async with asyncio.timeout_at(wait_until):
                        data = await reader.read(_READ_SIZE)
                except TimeoutError:
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
                        if not await self._answer(connection, writer, message, peer):
                            return "handler failed"
                    return "message too large"
                if not decoder.pending_bytes:
                    frame_deadline = None
                elif self._frame_timeout_s is not None and (frame_deadline is None or messages):
                    # A frame began in this read (after any it completed).
                    frame_deadline = loop.time() + self._frame_timeout_s
                discarded = decoder.discarded_bytes - discarded_before
                if discarded:
                    logger.warning(
                        "MLLP discarded %d byte(s) outside a frame from %s:%d",
                        discarded,
                        peer.host,
                        peer.port,
                    )
            for message in messages:
                if self._closing:
                    return "server shutting down"
                if not await self._answer(connection, writer, message, peer):
                    return "handler failed"
        return "server shutting down"

    async def _answer(
        self,
        connection: _Connection,
        writer: asyncio.StreamWriter,
        message: bytes,
        peer: PeerInfo,
    ) -> bool:
        """Run the handler and write its ACK; False means the connection must be closed."""
        connection.busy = True
        try:
            try:
                reply = frame(await self._handler(message, peer))
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
            writer.write(reply)
            try:
                async with asyncio.timeout(self._idle_timeout_s):
                    await writer.drain()
            except (OSError, TimeoutError) as exc:
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
            connection.busy = False


async def _close_writer(writer: asyncio.StreamWriter, *, abort: bool) -> None:
    if abort:
        writer.transport.abort()
        return
    writer.close()
    try:
        async with asyncio.timeout(_CLOSE_TIMEOUT_S):
            await writer.wait_closed()
    except (OSError, TimeoutError):
        writer.transport.abort()
