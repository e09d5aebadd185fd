"""Trust boundaries of the inbound HL7 feed, end to end over real TCP sockets against the real
listener (``build_listener``), the real receive path and the database.

The defects these tests come from are the security test's findings (docs/security.md, "Trust
boundaries"): a sender that merely claims a lab's MSH-3/MSH-4 must not change that lab's
results, a made-up sender must not add results under an existing filler order number, only the
PAS may change demographics, and half-open connections must not lock genuine senders out.

Connections "from another host" come from 127.0.0.2: on Linux the whole of 127.0.0.0/8 is the
loopback interface, so a socket bound to it reaches the listener on 127.0.0.1 with 127.0.0.2 as
its source address, which is what the listener sees and checks.
"""

from __future__ import annotations

import datetime as dt
import socket
import time
from collections.abc import Callable, Iterator

import pytest
from django.db import connection

from rms.hl7 import parse
from rms.inbound.listener import build_listener
from rms.mllp import frame
from rms.models import InboundMessage, Patient
from tests.factories import PatientFactory, TeamFactory
from tests.rms.hl7.samples import sample_bytes
from tests.rms.mllp.support import RunningServer, is_closed_by_peer, read_frames

pytestmark = pytest.mark.django_db(transaction=True)

LAB = "127.0.0.1"
OTHER_HOST = "127.0.0.2"


def msa(ack: bytes) -> tuple[str, str]:
    segment = parse(ack.decode("latin-1")).get_segment("MSA")
    return segment.value(1), segment.value(2)


def connect(port: int, source: str = LAB) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5.0, source_address=(source, 0))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def send(port: int, message: bytes, source: str = LAB) -> bytes:
    """Send one message from ``source`` and return the acknowledgement."""
    with connect(port, source) as sock:
        sock.sendall(frame(message))
        return read_frames(sock, 1, timeout=10.0)[0]


@pytest.fixture
def tester(transactional_db: None) -> Patient:
    return PatientFactory(
        nhs_number="9990000018",
        mrn="RXX1234567",
        family_name="Tester",
        date_of_birth=dt.date(1958, 2, 14),
        teams=[TeamFactory(code="URO")],
    )


@pytest.fixture
def start_listener(transactional_db: None) -> Iterator[Callable[[], RunningServer]]:
    """Start the real listener with the settings as the test has set them."""
    started: list[tuple[RunningServer, object]] = []

    def start() -> RunningServer:
        threads = 1 if connection.vendor == "sqlite" else 4
        server, executor = build_listener("127.0.0.1", 0, threads=threads)
        running = RunningServer(server)
        running.start()
        started.append((running, executor))
        return running

    yield start
    for running, executor in started:
        running.stop()
        executor.shutdown(wait=True)  # type: ignore[attr-defined]


# --- Defect 2: the listener cannot be starved ------------------------------------------------


def test_half_open_connections_are_let_go_at_the_frame_timeout_and_a_lab_gets_through(
    settings, tester: Patient, start_listener: Callable[[], RunningServer]
) -> None:
    """Security test, defect 2: connections sending only ``\\x0bMSH|`` held every slot until
    MLLP_IDLE_TIMEOUT_S (600 s). A frame begun must finish within MLLP_FRAME_TIMEOUT_S; after
    that the slots are free and the lab's message is acknowledged."""
    settings.MLLP_MAX_CONNECTIONS = 4
    settings.MLLP_MAX_CONNECTIONS_PER_ADDRESS = 10
    settings.MLLP_IDLE_TIMEOUT_S = 600.0
    settings.MLLP_FRAME_TIMEOUT_S = 0.5
    listener = start_listener()
    half_open = [connect(listener.port, OTHER_HOST) for _ in range(4)]
    try:
        for sock in half_open:
            sock.sendall(b"\x0bMSH|")
        for sock in half_open:
            assert is_closed_by_peer(sock, timeout=5.0)
        ack = send(listener.port, sample_bytes("oru_r01_psa.hl7"))
        assert msa(ack)[0] == "AA"
    finally:
        for sock in half_open:
            sock.close()


def test_one_address_cannot_take_more_than_its_share_of_connections(
    settings, tester: Patient, start_listener: Callable[[], RunningServer]
) -> None:
    """Security test, defect 2: a cap of connections per source address
    (MLLP_MAX_CONNECTIONS_PER_ADDRESS): the next connection from that address is closed at
    once, and a sender from another address is still served."""
    settings.MLLP_MAX_CONNECTIONS = 100
    settings.MLLP_MAX_CONNECTIONS_PER_ADDRESS = 3
    settings.MLLP_FRAME_TIMEOUT_S = 60.0
    listener = start_listener()
    held = [connect(listener.port, OTHER_HOST) for _ in range(3)]
    try:
        for sock in held:
            sock.sendall(b"\x0bMSH|")
        time.sleep(0.2)  # the three are accepted and counted before the fourth comes
        with connect(listener.port, OTHER_HOST) as fourth:
            assert is_closed_by_peer(fourth, timeout=3.0)
        for sock in held:  # the three are not disturbed by the refusal
            assert not is_closed_by_peer(sock, timeout=0.05)
        ack = send(listener.port, sample_bytes("oru_r01_psa.hl7"))
        assert msa(ack)[0] == "AA"
    finally:
        for sock in held:
            sock.close()
    assert InboundMessage.objects.count() == 1
