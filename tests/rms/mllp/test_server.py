from __future__ import annotations

import contextlib
import ipaddress
import logging
import socket
import ssl
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from devtools.mllp_client import MllpConnectionError
from rms.mllp import MllpServer, PeerInfo, build_server_ssl_context, frame
from tests.rms.mllp.support import (
    Certificates,
    StartServer,
    echo,
    is_closed_by_peer,
    read_frames,
    send_from_clients,
    wait_until,
)

ORU = b"MSH|^~\\&|LAB|RGT|RMS|RGT|20260101120000||ORU^R01|MSG0001|P|2.4\rPID|1||1234567^^^RGT^MR\r"
SECRET = b"PID|1||9434765919^^^NHS||DOE^JANE"


def ack(message: bytes, peer: PeerInfo) -> bytes:
    return b"ACK|" + message


def describe_peer(message: bytes, peer: PeerInfo) -> bytes:
    return f"{peer.host}|{peer.port}|{peer.tls}|{peer.client_cert_cn}".encode()


@pytest.fixture
def mllp_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO, logger="rms.mllp")
    return caplog


def test_it_answers_a_message_with_the_handlers_ack(start_server: StartServer) -> None:
    server = start_server(ack)
    with server.client() as client:
        assert client.send(ORU) == b"ACK|" + ORU


def test_the_handler_sees_the_senders_address_without_tls(start_server: StartServer) -> None:
    server = start_server(describe_peer)
    with server.client() as client:
        host, port, tls, cn = client.send(b"x").decode().split("|")
    assert (host, tls, cn) == ("127.0.0.1", "False", "None")
    assert int(port) > 0


def test_it_reassembles_a_message_written_one_byte_at_a_time(start_server: StartServer) -> None:
    server = start_server(ack)
    with server.connect() as sock:
        for byte in frame(ORU):
            sock.sendall(bytes([byte]))
        assert read_frames(sock, 1) == [b"ACK|" + ORU]


def test_two_messages_in_one_write_get_two_acks_in_order_one_at_a_time(
    start_server: StartServer,
) -> None:
    events: list[str] = []

    def slow_ack(message: bytes, peer: PeerInfo) -> bytes:
        events.append(f"start {message.decode()}")
        time.sleep(0.05)
        events.append(f"end {message.decode()}")
        return b"ACK|" + message

    server = start_server(slow_ack)
    with server.connect() as sock:
        sock.sendall(frame(b"first") + frame(b"second"))
        assert read_frames(sock, 2) == [b"ACK|first", b"ACK|second"]
    # The second message reaches the handler only after the first one's ACK was written.
    assert events == ["start first", "end first", "start second", "end second"]


def test_garbage_between_frames_is_discarded_counted_and_never_logged(
    start_server: StartServer, mllp_logs: pytest.LogCaptureFixture
) -> None:
    server = start_server(ack)
    with server.connect() as sock:
        sock.sendall(frame(b"one") + b"GARBAGE-" + SECRET + frame(b"two"))
        assert read_frames(sock, 2) == [b"ACK|one", b"ACK|two"]
    assert f"discarded {len(b'GARBAGE-' + SECRET)} byte(s) outside a frame" in mllp_logs.text
    assert "GARBAGE" not in mllp_logs.text
    assert "9434765919" not in mllp_logs.text


def test_an_oversized_message_closes_only_its_own_connection(
    start_server: StartServer, mllp_logs: pytest.LogCaptureFixture
) -> None:
    server = start_server(ack, max_message_bytes=1000)
    with server.client() as other, server.connect() as sock:
        assert other.send(b"before") == b"ACK|before"
        # The server may reset the connection before the write is finished.
        with contextlib.suppress(OSError):
            sock.sendall(frame(b"x" * 5000))
        assert is_closed_by_peer(sock)
        assert other.send(b"after") == b"ACK|after"
    assert "exceeds 1000 bytes" in mllp_logs.text


def test_a_message_just_before_an_oversized_one_is_still_answered(
    start_server: StartServer,
) -> None:
    server = start_server(ack, max_message_bytes=100)
    with server.connect() as sock:
        sock.sendall(frame(b"small") + b"\x0b" + b"y" * 200)
        assert read_frames(sock, 1) == [b"ACK|small"]
        assert is_closed_by_peer(sock)


def test_it_closes_a_connection_that_stays_silent_past_the_idle_timeout(
    start_server: StartServer, mllp_logs: pytest.LogCaptureFixture
) -> None:
    server = start_server(idle_timeout_s=0.3)
    with server.connect() as sock:
        started = time.monotonic()
        assert is_closed_by_peer(sock, timeout=3.0)
        assert 0.25 < time.monotonic() - started < 2.0
    wait_until(lambda: "no complete message within 0.3 s" in mllp_logs.text)


def test_a_slow_drip_that_never_completes_a_frame_is_cut_off_at_the_idle_timeout(
    start_server: StartServer,
) -> None:
    server = start_server(idle_timeout_s=0.5)
    with server.connect() as sock:
        started = time.monotonic()
        sock.sendall(b"\x0bMSH|")
        closed = False
        while time.monotonic() - started < 3.0 and not closed:
            time.sleep(0.05)
            try:
                sock.sendall(b"x")
            except OSError:
                closed = True
                break
            sock.settimeout(0.001)
            try:
                closed = sock.recv(1) == b""
            except TimeoutError:
                pass
            except ConnectionResetError:
                closed = True
        assert closed
        assert time.monotonic() - started < 1.5


def test_a_frame_begun_and_not_finished_is_cut_off_at_the_frame_timeout_not_the_idle_one(
    start_server: StartServer, mllp_logs: pytest.LogCaptureFixture
) -> None:
    """Security test (docs/security.md, "Trust boundaries"): a connection that sends only
    ``\x0bMSH|`` and then a byte now and then held its slot for the whole idle timeout (600 s
    in production); a begun frame must now be complete within frame_timeout_s."""
    server = start_server(idle_timeout_s=30.0, frame_timeout_s=0.4)
    with server.connect() as sock:
        started = time.monotonic()
        sock.sendall(b"\x0bMSH|")
        closed = False
        while time.monotonic() - started < 5.0 and not closed:
            time.sleep(0.1)
            try:
                sock.sendall(b"x")
                sock.settimeout(0.001)
                closed = sock.recv(1) == b""
            except TimeoutError:
                pass
            except OSError:
                closed = True
        assert closed
        assert time.monotonic() - started < 2.0
    wait_until(lambda: "begun but not finished within 0.4 s" in mllp_logs.text)


def test_the_frame_timeout_does_not_cut_off_a_quiet_connection_or_a_frame_in_time(
    start_server: StartServer,
) -> None:
    """Only a begun frame has the short deadline: a connection that waits between messages
    keeps the idle timeout, and each frame gets its own deadline from its first byte."""
    server = start_server(ack, idle_timeout_s=5.0, frame_timeout_s=0.4)
    with server.connect() as sock:
        time.sleep(0.8)  # quiet, longer than the frame timeout
        for n in range(3):  # each frame in two halves 0.25 s apart: 0.75 s in all
            message = b"MSH|%d" % n
            framed = frame(message)
            sock.sendall(framed[:4])
            time.sleep(0.25)
            sock.sendall(framed[4:])
            assert read_frames(sock, 1) == [b"ACK|" + message]


def test_a_tls_handshake_begun_and_not_finished_is_cut_off_at_the_frame_timeout(
    start_server: StartServer, certificates: Certificates
) -> None:
    context = build_server_ssl_context(certificates.server_cert, certificates.server_key)
    server = start_server(ack, ssl_context=context, idle_timeout_s=30.0, frame_timeout_s=0.4)
    with server.connect() as sock:
        started = time.monotonic()
        sock.sendall(b"\x16\x03\x01")  # the start of a ClientHello, and no more
        assert is_closed_by_peer(sock, timeout=5.0)
        assert time.monotonic() - started < 2.0


def test_one_address_gets_at_most_its_cap_of_connections_and_others_are_still_served(
    start_server: StartServer, mllp_logs: pytest.LogCaptureFixture
) -> None:
    server = start_server(max_connections=10, max_connections_per_address=2)
    first, second = server.client(), server.client()
    assert first.send(b"1") == b"1"
    assert second.send(b"2") == b"2"
    with server.client() as third, pytest.raises(MllpConnectionError):
        third.send(b"3")
    assert "limit of 2 connections from that address" in mllp_logs.text
    # 127.0.0.2 is loopback too, and another source address to the listener.
    with socket.create_connection(
        ("127.0.0.1", server.port), timeout=5.0, source_address=("127.0.0.2", 0)
    ) as other:
        other.sendall(frame(b"4"))
        assert read_frames(other, 1) == [b"4"]
    first.close()
    wait_until(lambda: server.server.connection_count == 1)  # second's alone
    with server.client() as fourth:  # first's slot is free again
        assert fourth.send(b"5") == b"5"
    second.close()


def test_the_idle_clock_restarts_after_each_answered_message(start_server: StartServer) -> None:
    server = start_server(idle_timeout_s=0.4)
    with server.client() as client:
        for n in range(4):  # 0.9 s in all, longer than the idle timeout
            assert client.send(b"%d" % n) == b"%d" % n
            time.sleep(0.3)


def test_a_failing_handler_closes_the_connection_silently_and_the_server_carries_on(
    start_server: StartServer, mllp_logs: pytest.LogCaptureFixture
) -> None:
    def database_down(message: bytes, peer: PeerInfo) -> bytes:
        if message.startswith(b"PID"):
            raise ConnectionRefusedError("database is unavailable")
        return b"ACK|" + message

    server = start_server(database_down)
    with server.connect() as sock:
        sock.sendall(frame(SECRET))
        assert is_closed_by_peer(sock)
    with server.client() as client:
        assert client.send(b"next") == b"ACK|next"
    assert "ConnectionRefusedError: database is unavailable" in mllp_logs.text
    assert "without an ACK" in mllp_logs.text
    assert "9434765919" not in mllp_logs.text
    assert "DOE" not in mllp_logs.text


def test_a_handler_returning_a_framing_byte_gets_no_reply_sent(start_server: StartServer) -> None:
    def broken(message: bytes, peer: PeerInfo) -> bytes:
        return b"ACK\x1c\x0dtrailing"

    server = start_server(broken)
    with server.connect() as sock:
        sock.sendall(frame(b"x"))
        assert is_closed_by_peer(sock)


def test_it_refuses_a_source_outside_the_allowed_networks(
    start_server: StartServer, mllp_logs: pytest.LogCaptureFixture
) -> None:
    server = start_server(allowed_networks=[ipaddress.ip_network("10.0.0.0/8")])
    with server.client() as client, pytest.raises(MllpConnectionError):
        client.send(b"x")
    wait_until(lambda: "from 127.0.0.1:" in mllp_logs.text)
    assert "not in an allowed network" in mllp_logs.text


def test_it_accepts_a_source_inside_the_allowed_networks(start_server: StartServer) -> None:
    server = start_server(allowed_networks=["10.0.0.0/8", "127.0.0.0/8"])
    with server.client() as client:
        assert client.send(b"x") == b"x"


def test_it_refuses_connections_beyond_the_maximum_and_admits_one_when_a_slot_frees(
    start_server: StartServer, mllp_logs: pytest.LogCaptureFixture
) -> None:
    server = start_server(max_connections=2)
    first, second = server.client(), server.client()
    assert first.send(b"1") == b"1"
    assert second.send(b"2") == b"2"
    with server.client() as third, pytest.raises(MllpConnectionError):
        third.send(b"3")
    assert "limit of 2 connections" in mllp_logs.text
    assert second.send(b"still served") == b"still served"

    first.close()
    wait_until(lambda: server.server.connection_count == 1)
    with server.client() as fourth:
        assert fourth.send(b"4") == b"4"
    second.close()


def test_fifty_concurrent_clients_each_get_all_twenty_acks(start_server: StartServer) -> None:
    server = start_server(ack)
    results = send_from_clients(server, clients=50, messages=20)
    assert results == [[b"ACK|client %d message %d" % (n, i) for i in range(20)] for n in range(50)]


def test_the_connection_stays_open_across_messages(start_server: StartServer) -> None:
    server = start_server(describe_peer)
    with server.client() as client:
        ports = {client.send(b"x").split(b"|")[1] for _ in range(5)}
    assert len(ports) == 1


def test_close_lets_a_message_in_the_handler_finish_and_then_refuses_new_connections(
    start_server: StartServer,
) -> None:
    entered = threading.Event()

    def slow(message: bytes, peer: PeerInfo) -> bytes:
        entered.set()
        time.sleep(0.3)
        return b"ACK|" + message

    server = start_server(slow)
    port = server.port
    with server.client() as client, ThreadPoolExecutor(max_workers=1) as pool:
        reply = pool.submit(client.send, b"in flight")
        assert entered.wait(3.0)
        server.run(server.server.close(grace_s=5.0))
        assert reply.result(5.0) == b"ACK|in flight"
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=1.0):
        pass


def test_close_does_not_wait_for_idle_connections(start_server: StartServer) -> None:
    server = start_server(idle_timeout_s=30.0)
    with server.client() as client:
        assert client.send(b"x") == b"x"
        started = time.monotonic()
        server.run(server.server.close(grace_s=10.0))
        assert time.monotonic() - started < 2.0
        with pytest.raises(MllpConnectionError):
            client.send(b"y")


def test_close_gives_up_on_a_handler_that_outlasts_the_grace_period(
    start_server: StartServer,
) -> None:
    entered, released = threading.Event(), threading.Event()

    def stuck(message: bytes, peer: PeerInfo) -> bytes:
        entered.set()
        released.wait(60)  # a thread cannot be stopped: the test lets it go at its end
        return b"never"

    server = start_server(stuck)
    try:
        with server.connect() as sock:
            sock.sendall(frame(b"x"))
            assert entered.wait(3.0)
            started = time.monotonic()
            server.run(server.server.close(grace_s=0.2))
            assert time.monotonic() - started < 3.0
            assert is_closed_by_peer(sock)
    finally:
        released.set()


def test_each_connection_is_served_by_a_thread_of_its_own_and_two_run_at_once(
    start_server: StartServer,
) -> None:
    """A connection's messages are handled in one thread, its own: two connections' handlers
    run at the same time (each waits for the other at a barrier)."""
    barrier = threading.Barrier(2, timeout=3.0)

    def meet(message: bytes, peer: PeerInfo) -> bytes:
        if message == b"meet":
            barrier.wait()
        return str(threading.get_ident()).encode()

    server = start_server(meet)
    with server.client() as first, server.client() as second, ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda client: client.send(b"meet"), (first, second)))
        assert answers[0] != answers[1]
        assert {first.send(b"again") for _ in range(3)} == {answers[0]}
        assert {second.send(b"again") for _ in range(3)} == {answers[1]}


def test_max_handlers_caps_the_handlers_running_at_once_across_connections(
    start_server: StartServer,
) -> None:
    running, most = 0, 0
    lock = threading.Lock()

    def counted(message: bytes, peer: PeerInfo) -> bytes:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.02)
        with lock:
            running -= 1
        return b"ACK|" + message

    server = start_server(counted, max_handlers=2)
    results = send_from_clients(server, clients=6, messages=5)
    assert results == [[b"ACK|client %d message %d" % (n, i) for i in range(5)] for n in range(6)]
    assert most == 2


def test_on_thread_exit_runs_in_the_connections_own_thread_as_it_closes(
    start_server: StartServer,
) -> None:
    ended: list[int] = []

    def ident(message: bytes, peer: PeerInfo) -> bytes:
        return str(threading.get_ident()).encode()

    server = start_server(ident, on_thread_exit=lambda: ended.append(threading.get_ident()))
    with server.client() as client:
        thread = int(client.send(b"x"))
        assert ended == []
    wait_until(lambda: ended == [thread])


def test_on_idle_runs_in_the_connections_thread_once_a_quiet_spell_after_a_message(
    start_server: StartServer,
) -> None:
    calls: list[int] = []

    def ident(message: bytes, peer: PeerInfo) -> bytes:
        return str(threading.get_ident()).encode()

    server = start_server(
        ident, on_idle=lambda: calls.append(threading.get_ident()), on_idle_after_s=0.2
    )
    with server.connect() as sock:
        time.sleep(0.4)
        assert calls == []  # no message yet: nothing to let go
        sock.sendall(frame(b"x"))
        thread = int(read_frames(sock, 1)[0])
        wait_until(lambda: calls == [thread])
        time.sleep(0.4)
        assert calls == [thread]  # once a quiet spell
        sock.sendall(frame(b"y"))
        assert read_frames(sock, 1) == [str(thread).encode()]
        wait_until(lambda: calls == [thread, thread])


def test_a_tls_handshake_dripped_a_byte_at_a_time_is_cut_off_at_the_frame_timeout(
    start_server: StartServer, certificates: Certificates
) -> None:
    """The handshake's deadline is for the whole handshake: a peer that sends a real
    ClientHello one byte every 50 ms (each byte inside any per-read timeout) is let go at
    the frame timeout, not kept while it drips."""
    context = build_server_ssl_context(certificates.server_cert, certificates.server_key)
    server = start_server(ack, ssl_context=context, idle_timeout_s=30.0, frame_timeout_s=0.4)
    client_side = _client_context(certificates, with_cert=False)
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = client_side.wrap_bio(incoming, outgoing, server_hostname="127.0.0.1")
    with contextlib.suppress(ssl.SSLWantReadError):
        tls.do_handshake()
    hello = outgoing.read()
    assert len(hello) > 40
    with server.connect() as sock:
        started = time.monotonic()
        closed = False
        for byte in hello[:-1]:
            if time.monotonic() - started > 3.0:
                break
            time.sleep(0.05)
            try:
                sock.sendall(bytes([byte]))
                sock.settimeout(0.001)
                closed = sock.recv(1) == b""
            except TimeoutError:
                pass
            except OSError:
                closed = True
            if closed:
                break
        assert closed
        assert time.monotonic() - started < 1.5


def test_it_refuses_settings_it_cannot_honour() -> None:
    with pytest.raises(ValueError, match="pass None"):
        MllpServer(echo, "127.0.0.1", 0, max_message_bytes=10, idle_timeout_s=1,
                   max_connections=1, allowed_networks=[])  # fmt: skip
    with pytest.raises(ValueError, match="host bits"):
        MllpServer(echo, "127.0.0.1", 0, max_message_bytes=10, idle_timeout_s=1,
                   max_connections=1, allowed_networks=["10.0.0.1/8"])  # fmt: skip
    with pytest.raises(ValueError, match="max_connections_per_address"):
        MllpServer(echo, "127.0.0.1", 0, max_message_bytes=10, idle_timeout_s=1,
                   max_connections=1, max_connections_per_address=0)  # fmt: skip
    with pytest.raises(ValueError, match="frame_timeout_s"):
        MllpServer(echo, "127.0.0.1", 0, max_message_bytes=10, idle_timeout_s=1,
                   max_connections=1, frame_timeout_s=0)  # fmt: skip
    with pytest.raises(ValueError, match="max_handlers"):
        MllpServer(echo, "127.0.0.1", 0, max_message_bytes=10, idle_timeout_s=1,
                   max_connections=1, max_handlers=0)  # fmt: skip


# TLS ----------------------------------------------------------------------------------------


def _client_context(certificates: Certificates, *, with_cert: bool) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=certificates.ca)
    if with_cert:
        context.load_cert_chain(certificates.client_cert, certificates.client_key)
    return context


def test_it_serves_tls_with_a_certificate_made_for_the_test(
    start_server: StartServer, certificates: Certificates
) -> None:
    context = build_server_ssl_context(certificates.server_cert, certificates.server_key)
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2
    server = start_server(describe_peer, ssl_context=context)
    with server.client(ssl_context=_client_context(certificates, with_cert=False)) as client:
        _, _, tls, cn = client.send(b"x").decode().split("|")
        assert (tls, cn) == ("True", "None")
        assert client.send(ORU).startswith(b"127.0.0.1|")


def test_a_plain_tcp_sender_gets_nothing_from_a_tls_listener(
    start_server: StartServer, certificates: Certificates
) -> None:
    context = build_server_ssl_context(certificates.server_cert, certificates.server_key)
    server = start_server(ack, ssl_context=context)
    with server.client(timeout_s=2.0) as client, pytest.raises(MllpConnectionError):
        client.send(ORU)


def test_it_passes_the_client_certificate_cn_to_the_handler(
    start_server: StartServer, certificates: Certificates
) -> None:
    context = build_server_ssl_context(
        certificates.server_cert, certificates.server_key, certificates.ca, True
    )
    assert context.verify_mode == ssl.CERT_REQUIRED
    server = start_server(describe_peer, ssl_context=context)
    with server.client(ssl_context=_client_context(certificates, with_cert=True)) as client:
        assert client.send(b"x").decode().endswith("|True|lab-system")


def test_it_refuses_a_tls_client_without_a_certificate_when_one_is_required(
    start_server: StartServer, certificates: Certificates, mllp_logs: pytest.LogCaptureFixture
) -> None:
    context = build_server_ssl_context(
        certificates.server_cert, certificates.server_key, certificates.ca, True
    )
    server = start_server(ack, ssl_context=context)
    with (
        server.client(ssl_context=_client_context(certificates, with_cert=False)) as client,
        pytest.raises(MllpConnectionError),
    ):
        client.send(ORU)
    wait_until(lambda: "TLS handshake with 127.0.0.1" in mllp_logs.text)


def test_requiring_client_certificates_without_a_ca_is_refused(certificates: Certificates) -> None:
    with pytest.raises(ValueError, match="cafile"):
        build_server_ssl_context(
            certificates.server_cert, certificates.server_key, require_client_cert=True
        )
