"""The MLLP listener end to end: real TCP sockets, the real receive path and the database.

On PostgreSQL (CI's second run) these run against it with real concurrent connections; on
SQLite the same tests run with its single writer.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import connection

from devtools.mllp_client import MllpClient
from rms.hl7 import parse
from rms.inbound.listener import build_listener
from rms.mllp import FrameDecoder, MllpError, frame
from rms.models import InboundMessage, Patient, Result
from tests.factories import PatientFactory, TeamFactory
from tests.rms.hl7.samples import sample_bytes
from tests.rms.mllp.support import RunningServer, wait_until

ROOT = Path(__file__).resolve().parents[3]
pytestmark = pytest.mark.django_db(transaction=True)


def msa(ack: bytes) -> tuple[str, str]:
    segment = parse(ack.decode("latin-1")).get_segment("MSA")
    return segment.value(1), segment.value(2)


def oru(control_id: str, filler: str, value: str = "0.05") -> bytes:
    return (
        sample_bytes("oru_r01_psa.hl7")
        .replace(b"LAB0000101", control_id.encode())
        .replace(b"26L0045123", filler.encode())
        .replace(b"||0.24|", f"||{value}|".encode())
    )


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
def listener(transactional_db: None) -> Iterator[RunningServer]:
    # One worker thread on SQLite (one writer at a time); several on PostgreSQL.
    threads = 1 if connection.vendor == "sqlite" else 4
    server = build_listener("127.0.0.1", 0, threads=threads)
    running = RunningServer(server)
    running.start()
    yield running
    running.stop()


def send_until_acked(port: int, message: bytes, attempts: int = 20) -> bytes:
    """What a lab system does: resend the same message until it gets an acknowledgement."""
    for _ in range(attempts):
        try:
            with MllpClient("127.0.0.1", port, timeout_s=10.0) as client:
                return client.send(message)
        except MllpError:
            time.sleep(0.05)
    raise AssertionError("no acknowledgement after retries")


def test_a_result_sent_over_mllp_is_filed_and_acknowledged(listener, tester) -> None:
    with MllpClient("127.0.0.1", listener.port, timeout_s=10.0) as client:
        ack = client.send(sample_bytes("oru_r01_psa.hl7"))
    assert msa(ack) == ("AA", "LAB0000101")
    assert Result.objects.get().patient == tester
    message = InboundMessage.objects.get()
    assert (message.channel, message.peer) == ("mllp", "127.0.0.1")


@pytest.mark.parametrize("ack_after", ["filing", "storing"])
def test_one_connection_carries_the_samples_in_order(listener, tester, settings, ack_after) -> None:  # type: ignore[no-untyped-def]
    """Acknowledged after filing, or after storing, when the doorbell rung on commit files
    what was stored (in-process here, a worker in production): the correction after its
    original, each report once, a resend answered again."""
    settings.INBOUND_ACK_AFTER = ack_after
    names = [
        "oru_r01_psa.hl7",
        "oru_r01_bloods_panel.hl7",
        "oru_r01_corrected.hl7",
        "oru_r01_radiology_report.hl7",
    ]
    with MllpClient("127.0.0.1", listener.port, timeout_s=10.0) as client:
        codes = [msa(client.send(sample_bytes(name)))[0] for name in names]
        again = msa(client.send(sample_bytes("oru_r01_psa.hl7")))
    assert codes == ["AA"] * 4 and again == ("AA", "LAB0000101")
    assert InboundMessage.objects.count() == 4
    assert set(InboundMessage.objects.values_list("status", flat=True)) == {"processed"}
    assert Result.objects.count() == 3  # the correction updated the PSA
    assert Result.objects.get(filler_order_number="26L0045123").version == 2


def test_a_message_split_into_single_bytes_and_two_in_one_write_are_understood(
    listener, tester
) -> None:
    first, second = oru("SPLIT1", "F-SPLIT1"), oru("SPLIT2", "F-SPLIT2")
    with socket.create_connection(("127.0.0.1", listener.port), timeout=10) as sock:
        for byte in frame(first):
            sock.sendall(bytes([byte]))
        sock.sendall(frame(second) + frame(oru("SPLIT3", "F-SPLIT3")))
        acks = read_frames(sock, 3)
    assert [msa(ack) for ack in acks] == [("AA", "SPLIT1"), ("AA", "SPLIT2"), ("AA", "SPLIT3")]
    assert Result.objects.count() == 3


def test_garbage_and_a_cut_off_frame_do_not_stop_the_listener(listener, tester) -> None:
    with socket.create_connection(("127.0.0.1", listener.port), timeout=10) as sock:
        sock.sendall(b"\x00\xffnot a frame\r\n" + b"\x0bMSH|^~\\&|cut off mid-mess")
    with socket.create_connection(("127.0.0.1", listener.port), timeout=10) as sock:
        sock.sendall(b"junk between frames" + frame(b"\x00\x01\x02 binary garbage"))
        garbage_ack = read_frames(sock, 1)[0]
        sock.sendall(frame(sample_bytes("oru_r01_psa.hl7")))
        good_ack = read_frames(sock, 1)[0]
    assert msa(garbage_ack)[0] == "AR"
    assert msa(good_ack) == ("AA", "LAB0000101")
    assert Result.objects.count() == 1


def test_a_frame_over_the_limit_closes_only_that_connection(
    transactional_db, tester, settings
) -> None:
    settings.MLLP_MAX_MESSAGE_BYTES = 4096
    server = build_listener("127.0.0.1", 0, threads=1)
    running = RunningServer(server)
    running.start()
    try:
        with MllpClient("127.0.0.1", running.port, timeout_s=10.0) as healthy:
            with socket.create_connection(("127.0.0.1", running.port), timeout=10) as big:
                big.sendall(b"\x0b" + b"A" * 10_000)
                assert big.recv(100) == b""  # closed, nothing acknowledged
            assert msa(healthy.send(sample_bytes("oru_r01_psa.hl7")))[0] == "AA"
    finally:
        running.stop()


def test_ten_connections_at_once_each_get_every_message_filed_once(listener, tester) -> None:
    failures: list[BaseException] = []

    def sender(n: int) -> None:
        try:
            for i in range(10):
                ack = send_until_acked(listener.port, oru(f"C{n}-{i}", f"F{n}-{i}"))
                assert msa(ack) == ("AA", f"C{n}-{i}")
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=sender, args=(n,)) for n in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not failures, failures[:3]
    assert InboundMessage.objects.count() == 100
    assert Result.objects.count() == 100


def test_the_same_message_on_two_connections_at_once_is_filed_once(listener, tester) -> None:
    message = oru("TWICE", "F-TWICE")
    acks: list[bytes] = []
    threads = [
        threading.Thread(target=lambda: acks.append(send_until_acked(listener.port, message)))
        for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert [msa(ack) for ack in acks] == [("AA", "TWICE")] * 2
    assert InboundMessage.objects.count() == 1
    assert Result.objects.count() == 1


def read_frames(sock: socket.socket, count: int) -> list[bytes]:
    decoder = FrameDecoder(1024 * 1024)
    frames: list[bytes] = []
    deadline = time.monotonic() + 10
    while len(frames) < count and time.monotonic() < deadline:
        data = sock.recv(65536)
        if not data:
            break
        frames.extend(decoder.feed(data))
    return frames


def test_with_the_database_down_the_listener_sends_no_ack_and_keeps_serving(tmp_path) -> None:
    """A sender whose message cannot be stored must not get an AA: it keeps the message and
    retries. The listener runs as its own process, as in production, against a database that
    cannot be reached."""
    environment = {
        **{k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")},
        "DATABASE_URL": "postgres://rms@127.0.0.1:9/unreachable",
    }
    process = subprocess.Popen(
        [sys.executable, "manage.py", "mllp_listener", "--port", "0", "--threads", "1"],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        port = int(re.search(r":(\d+)", line).group(1))  # type: ignore[union-attr]
        for _ in range(2):
            with MllpClient("127.0.0.1", port, timeout_s=15.0) as client, pytest.raises(MllpError):
                client.send(sample_bytes("oru_r01_psa.hl7"))
        assert process.poll() is None, "the listener must keep running"
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=20)
    assert "TESTER" not in stderr and "9990000018" not in stderr


@pytest.mark.skipif(
    "postgres" not in os.environ.get("DATABASE_URL", ""),
    reason="needs PostgreSQL (DATABASE_URL), as in CI's second run",
)
def test_a_database_connection_cut_between_busy_messages_costs_a_resend_not_a_message(
    listener, tester
) -> None:
    """The listener checks its connections after an idle spell, not around every message:
    a connection the server cut between two messages fails the next one, which is not
    acknowledged; the sender's resend is stored and filed, once."""
    with MllpClient("127.0.0.1", listener.port, timeout_s=10.0) as client:
        for n in range(3):
            assert msa(client.send(oru(f"BUSY{n}", f"F-BUSY{n}")))[0] == "AA"
    with connection.cursor() as cursor:  # as a database restart or a proxy would
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    ack = send_until_acked(listener.port, oru("CUT1", "F-CUT1"))
    assert msa(ack) == ("AA", "CUT1")
    assert InboundMessage.objects.filter(control_id="CUT1").count() == 1
    assert Result.objects.filter(filler_order_number="F-CUT1").count() == 1
    assert Result.objects.count() == 4


def test_psas_sent_as_text_over_mllp_raise_recurrence_and_a_correction_closes_it(
    listener, tester
) -> None:
    """AUA 2007 (Cookson et al., J Urol 2007;177:540-545): PSA >= 0.2 ng/mL confirmed by a
    second >= 0.2 after prostatectomy. The lab sends both as text with a flag ("0.21 H",
    "0.24 (H)"): over a real socket they are filed as numbers, the first awaits confirmation
    (a "repeat" item), the second raises the recurrence and closes the repeat; the lab's
    correction of the second to "0.15" removes the evidence and closes the alert."""
    # A transactional test may start from an emptied database: the pathways are seeded again
    # by the migrations' own functions, which keep rows already there.
    import importlib

    from django.apps import apps as django_apps

    from careplans.followup import services as plan_services
    from careplans.models import Pathway
    from tests.factories import MembershipFactory
    from worklists.models import WorkItem

    for module in ("0002_seed_pathways", "0008_monitoring_definitions"):
        importlib.import_module(f"careplans.migrations.{module}").seed(django_apps, None)
    pathway = Pathway.objects.get(code="prostate-post-prostatectomy")

    actor = MembershipFactory(team=tester.caseload_entries.get().team, role="clinician").user
    plan_services.plan_start(
        patient=tester,
        pathway=pathway,
        anchor_date=dt.date(2026, 1, 15),
        actor=actor,
    )

    def oru(control: str, filler: str, taken: str, value: str, status: str = "F") -> bytes:
        return (
            "\r".join(
                [
                    f"MSH|^~\\&|WINPATH|RXX01|RMS|RXX|{taken}||ORU^R01^ORU_R01|{control}|P|2.4",
                    "PID|1||9990000018^^^NHS^NH~RXX1234567^^^RXX^MR||TESTER^Alan^James^^Mr"
                    "||19580214|M",
                    f"OBR|1||{filler}|PSA^Prostate specific antigen^WINPATH|||{taken}"
                    f"||||||||||||||{taken}||CH|{status}",
                    f"OBX|1|ST|PSA^PSA^WINPATH||{value}|ug/L||||||{status}|||{taken}",
                ]
            )
            + "\r"
        ).encode()

    with MllpClient("127.0.0.1", listener.port, timeout_s=10.0) as client:
        assert msa(client.send(oru("T1", "F1", "202608020900", "0.21 H")))[0] == "AA"
        [waiting] = WorkItem.objects.filter(patient=tester, dedupe_key__startswith="awaiting:")
        assert waiting.status == WorkItem.Status.OPEN
        assert waiting.title == "Repeat PSA by 13 Sep 2026: awaiting confirmation"
        assert msa(client.send(oru("T2", "F2", "202609100900", "0.24 (H)")))[0] == "AA"
        [alert] = WorkItem.objects.filter(patient=tester, kind=WorkItem.Kind.THRESHOLD_BREACH)
        assert alert.status == WorkItem.Status.OPEN
        assert "confirmed by 0.21" in alert.explanation
        waiting.refresh_from_db()
        assert (waiting.status, waiting.outcome) == (WorkItem.Status.DONE, "Confirmed")
        assert msa(client.send(oru("T3", "F2", "202609100900", "0.15", status="C")))[0] == "AA"
    alert.refresh_from_db()
    assert alert.status == WorkItem.Status.DONE
    assert alert.outcome == "Breach removed by a correction"


@pytest.mark.skipif(
    "postgres" not in os.environ.get("DATABASE_URL", ""),
    reason="needs PostgreSQL (DATABASE_URL), as in CI's second run",
)
def test_quiet_and_closed_connections_hold_no_database_connection(tester) -> None:
    """Each MLLP connection is served by a thread of its own, with a database connection of
    its own while it is busy: five connections that each sent a message hold five; quiet for
    longer than ``release_after_idle_s`` they hold none (still open, and the next message
    opens one again); closed, none."""

    def others() -> int:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            return int(cursor.fetchone()[0])

    before = others()
    server = build_listener("127.0.0.1", 0, threads=2, release_after_idle_s=0.5)
    running = RunningServer(server)
    running.start()
    clients = [MllpClient("127.0.0.1", running.port, timeout_s=10.0) for _ in range(5)]
    try:
        for n, client in enumerate(clients):
            assert msa(client.send(oru(f"HOLD{n}", f"F-HOLD{n}")))[0] == "AA"
        assert others() - before == 5
        wait_until(lambda: others() == before)
        assert server.connection_count == 5
        assert msa(clients[4].send(oru("HOLD5", "F-HOLD5")))[0] == "AA"
        assert others() - before == 1
        for client in clients:
            client.close()
        wait_until(lambda: server.connection_count == 0)
        wait_until(lambda: others() == before)
    finally:
        for client in clients:
            client.close()
        running.stop()
    assert Result.objects.filter(filler_order_number__startswith="F-HOLD").count() == 6
