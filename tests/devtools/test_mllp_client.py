from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from devtools.mllp_client import (
    MllpClient,
    MllpConnectionError,
    MllpProtocolError,
    MllpTimeout,
)
from rms.mllp import FrameDecoder, frame

Script = Callable[[socket.socket, int], None]


class ScriptedPeer:
    """A raw TCP peer that runs ``script(conn, n)`` for its n-th accepted connection (from 0)."""

    def __init__(self, script: Script) -> None:
        self._script = script
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.accepted = 0
        self._stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            n, self.accepted = self.accepted, self.accepted + 1
            threading.Thread(target=self._run, args=(conn, n), daemon=True).start()

    def _run(self, conn: socket.socket, n: int) -> None:
        # The client may already have hung up: that is what several tests are about.
        with conn, contextlib.suppress(OSError):
            self._script(conn, n)

    def client(self, timeout_s: float = 2.0) -> MllpClient:
        return MllpClient("127.0.0.1", self.port, timeout_s=timeout_s)

    def close(self) -> None:
        self._stop.set()
        # shutdown() wakes the thread blocked in accept(); close() alone would not on Linux.
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()


@pytest.fixture
def peer() -> Iterator[Callable[[Script], ScriptedPeer]]:
    peers: list[ScriptedPeer] = []

    def make(script: Script) -> ScriptedPeer:
        peers.append(ScriptedPeer(script))
        return peers[-1]

    yield make
    for p in peers:
        p.close()


def read_message(conn: socket.socket) -> bytes | None:
    decoder = FrameDecoder(1024 * 1024)
    while True:
        data = conn.recv(65536)
        if not data:
            return None
        messages = decoder.feed(data)
        if messages:
            return messages[0]


def echo_forever(conn: socket.socket, n: int) -> None:
    while (message := read_message(conn)) is not None:
        conn.sendall(frame(b"ACK|" + message))


def test_it_returns_a_reply_that_arrives_in_several_pieces(peer) -> None:
    def split_reply(conn: socket.socket, n: int) -> None:
        read_message(conn)
        reply = frame(b"MSH|^~\\&|RMS|RGT|LAB|RGT|20260101||ACK|1|P|2.4\rMSA|AA|MSG0001\r")
        for piece in (reply[:5], reply[5:30], reply[30:-1], reply[-1:]):
            conn.sendall(piece)
            time.sleep(0.05)

    with peer(split_reply).client() as client:
        assert client.send(b"MSH|x").endswith(b"MSA|AA|MSG0001\r")


def test_it_skips_bytes_before_the_reply_frame(peer) -> None:
    def noisy(conn: socket.socket, n: int) -> None:
        read_message(conn)
        conn.sendall(b"\r\nnoise" + frame(b"ACK"))

    with peer(noisy).client() as client:
        assert client.send(b"x") == b"ACK"


def test_the_deadline_covers_the_whole_reply_not_each_read(peer) -> None:
    def drip(conn: socket.socket, n: int) -> None:
        read_message(conn)
        conn.sendall(b"\x0bMSH|")
        for _ in range(40):  # a byte every 0.1 s: a per-read timeout would never fire
            time.sleep(0.1)
            conn.sendall(b"x")

    with peer(drip).client(timeout_s=0.5) as client:
        started = time.monotonic()
        with pytest.raises(MllpTimeout):
            client.send(b"x")
        assert time.monotonic() - started < 1.2
        assert not client.connected


def test_a_silent_peer_times_out(peer) -> None:
    with peer(lambda conn, n: time.sleep(3)).client(timeout_s=0.3) as client:
        with pytest.raises(MllpTimeout) as raised:
            client.send(b"x")
        assert not raised.value.permanent


def test_a_peer_that_closes_before_replying_raises_a_connection_error(peer) -> None:
    with (
        peer(lambda conn, n: read_message(conn)).client() as client,
        pytest.raises(MllpConnectionError, match="before a complete reply"),
    ):
        client.send(b"x")


def test_a_refused_connection_raises_a_connection_error() -> None:
    with socket.create_server(("127.0.0.1", 0)) as placeholder:
        port = placeholder.getsockname()[1]
    with (
        MllpClient("127.0.0.1", port, timeout_s=1.0) as client,
        pytest.raises(MllpConnectionError),
    ):
        client.send(b"x")


def test_it_keeps_one_connection_across_sends(peer) -> None:
    server = peer(echo_forever)
    with server.client() as client:
        assert [client.send(b"%d" % n) for n in range(3)] == [b"ACK|0", b"ACK|1", b"ACK|2"]
    assert server.accepted == 1


def test_after_a_timeout_it_reconnects_and_never_takes_the_late_reply(peer) -> None:
    def late_then_echo(conn: socket.socket, n: int) -> None:
        if n == 0:
            read_message(conn)
            time.sleep(0.5)
            conn.sendall(frame(b"late reply to the first message"))
            time.sleep(0.5)
        else:
            echo_forever(conn, n)

    server = peer(late_then_echo)
    with server.client(timeout_s=0.3) as client:
        with pytest.raises(MllpTimeout):
            client.send(b"first")
        time.sleep(0.4)
        assert client.send(b"second") == b"ACK|second"
    assert server.accepted == 2


def test_two_replies_to_one_message_are_a_protocol_error(peer) -> None:
    def chatty(conn: socket.socket, n: int) -> None:
        read_message(conn)
        conn.sendall(frame(b"one") + frame(b"two"))
        time.sleep(0.5)

    with peer(chatty).client() as client, pytest.raises(MllpProtocolError):
        client.send(b"x")


def test_it_refuses_to_send_a_message_containing_a_framing_byte(peer) -> None:
    server = peer(echo_forever)
    with server.client() as client, pytest.raises(ValueError, match="must not contain"):
        client.send(b"bad\x0bbyte")
    assert server.accepted == 0
