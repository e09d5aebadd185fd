"""A small blocking MLLP client for tests, benchmarks and test senders.

Unlike python-hl7's ``MLLPClient`` (which returned a partial ACK when the reply was split across
TCP writes and has no timeout, reference §4.3) it reads until one whole frame has arrived and
gives each ``send`` a total deadline: a per-read timeout restarts on every byte, so a peer
dribbling bytes could hold it forever.
"""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Callable
from types import TracebackType

from rms.mllp.framing import FrameDecoder, MllpError, frame

_READ_SIZE = 64 * 1024


class MllpTimeout(MllpError, TimeoutError):
    """No complete reply before the deadline. Transient: the message may or may not have landed."""


class MllpConnectionError(MllpError, ConnectionError):
    """The connection could not be opened, or closed before a complete reply. Transient."""


class MllpProtocolError(MllpError):
    """The peer answered one message with more than one frame."""


class MllpClient:
    """Send messages over one persistent MLLP connection, one reply per message.

    The connection is opened on first use and kept across sends. After any error it is closed,
    so a late reply to a timed-out message can never be taken for the reply to the next one.
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        ssl_context: ssl.SSLContext | None = None,
        server_hostname: str | None = None,
        timeout_s: float = 10.0,
        max_reply_bytes: int = 1024 * 1024,
    ) -> None:
        if timeout_s <= 0:
            raise ValueError("timeout_s must be positive")
        self.host = host
        self.port = port
        self.timeout_s = timeout_s
        self._ssl_context = ssl_context
        self._server_hostname = server_hostname or host
        self._max_reply_bytes = max_reply_bytes
        self._sock: socket.socket | None = None

    @property
    def connected(self) -> bool:
        return self._sock is not None

    def connect(self) -> None:
        """Open the connection now (``send`` does it on demand)."""
        if self._sock is None:
            self._guarded(lambda: self._connect(time.monotonic() + self.timeout_s))

    def send(self, message: bytes) -> bytes:
        """Frame and send ``message``; return the one reply (unframed) within ``timeout_s``."""
        payload = frame(message)
        deadline = time.monotonic() + self.timeout_s
        return self._guarded(lambda: self._exchange(payload, deadline))

    def close(self) -> None:
        if self._sock is not None:
            sock, self._sock = self._sock, None
            sock.close()

    def __enter__(self) -> MllpClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _guarded[T](self, operation: Callable[[], T]) -> T:
        try:
            return operation()
        except MllpError:
            self.close()
            raise
        except TimeoutError as exc:
            self.close()
            raise MllpTimeout(
                f"no reply from {self.host}:{self.port} within {self.timeout_s:g} s"
            ) from exc
        except OSError as exc:
            self.close()
            raise MllpConnectionError(
                f"MLLP connection to {self.host}:{self.port} failed: {type(exc).__name__}: {exc}"
            ) from exc

    def _connect(self, deadline: float) -> socket.socket:
        sock = socket.create_connection((self.host, self.port), timeout=_remaining(deadline))
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self._ssl_context is not None:
                sock.settimeout(_remaining(deadline))
                sock = self._ssl_context.wrap_socket(sock, server_hostname=self._server_hostname)
        except BaseException:
            sock.close()
            raise
        self._sock = sock
        return sock

    def _exchange(self, payload: bytes, deadline: float) -> bytes:
        sock = self._sock or self._connect(deadline)
        # Since Python 3.5 the timeout bounds the whole sendall, not each underlying send.
        sock.settimeout(_remaining(deadline))
        sock.sendall(payload)
        decoder = FrameDecoder(self._max_reply_bytes)
        while True:
            sock.settimeout(_remaining(deadline))
            data = sock.recv(_READ_SIZE)
            if not data:
                raise MllpConnectionError(
                    f"{self.host}:{self.port} closed the connection before a complete reply"
                )
            replies = decoder.feed(data)
            if replies:
                if len(replies) > 1 or decoder.pending_bytes:
                    raise MllpProtocolError("the peer sent more than one reply to one message")
                return replies[0]


def _remaining(deadline: float) -> float:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise TimeoutError("MLLP deadline passed")
    return remaining
