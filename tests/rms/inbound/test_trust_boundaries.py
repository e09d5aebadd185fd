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
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from decimal import Decimal

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command
from django.db import connection
from prometheus_client.parser import text_string_to_metric_families

from devtools.mllp_client import MllpClient
from rms.env import parse_sender
from rms.hl7 import parse
from rms.inbound.listener import build_listener
from rms.mllp import build_server_ssl_context, frame
from rms.models import InboundMessage, Patient, Result
from tests.factories import PatientFactory, TeamFactory
from tests.rms.hl7.samples import sample_bytes
from tests.rms.mllp.support import (
    Certificates,
    RunningServer,
    is_closed_by_peer,
    make_certificates,
    read_frames,
)
from worklists.models import WorkItem

pytestmark = pytest.mark.django_db(transaction=True)

LAB = "127.0.0.1"
OTHER_HOST = "127.0.0.2"


PSA = sample_bytes("oru_r01_psa.hl7")  # WINPATH^RXX01, filler 26L0045123, PSA 0.24, final
CORRECTION = sample_bytes("oru_r01_corrected.hl7")  # the same lab's correction to 0.21 (OBR-25 C)
Check = InboundMessage.SenderCheck


def msa(ack: bytes) -> tuple[str, str]:
    segment = parse(ack.decode("latin-1")).get_segment("MSA")
    return segment.value(1), segment.value(2)


def senders(*entries: str, with_origin: bool = True) -> tuple[object, ...]:
    """MLLP_SENDERS / MLLP_PAS_SENDERS as settings.py reads them from the environment."""
    return tuple(parse_sender(entry, with_origin=with_origin) for entry in entries)


def psa_value(patient: Patient) -> Decimal:
    """The PSA value the patient's record shows now."""
    result = Result.objects.get(patient=patient)
    return result.observations.get(superseded_at__isnull=True).value_numeric


def as_sender(message: bytes, application: str, facility: str, control_id: str) -> bytes:
    """``message`` with another MSH-3, MSH-4 and MSH-10."""
    msh, rest = message.split(b"\r", 1)
    fields = msh.split(b"|")
    fields[2], fields[3], fields[9] = application.encode(), facility.encode(), control_id.encode()
    return b"|".join(fields) + b"\r" + rest


def a08(application: str, control_id: str, street: str) -> bytes:
    """An ADT^A08 (update patient information) for the sample patient with a new address."""
    message = (
        sample_bytes("adt_a28_pas_new_patient.hl7")
        .replace(b"ADT^A28^ADT_A05", b"ADT^A08^ADT_A01")
        .replace(b"EVN|A28|", b"EVN|A08|")
        .replace(b"12 Orchard Close", street.encode())
    )
    return as_sender(message, application, "RXX01", control_id)


def refusals(admin_client, reason: str) -> float:
    """The rms_inbound_sender_refusals sample for ``reason`` from /metrics."""
    response = admin_client.get("/metrics")
    assert response.status_code == 200
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            if sample.name == "rms_inbound_sender_refusals" and sample.labels == {"reason": reason}:
                return sample.value
    raise AssertionError("rms_inbound_sender_refusals is not served")


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
def start_listener(transactional_db: None) -> Iterator[Callable[..., RunningServer]]:
    """Start the real listener with the settings as the test has set them."""
    started: list[RunningServer] = []

    def start(ssl_context: ssl.SSLContext | None = None) -> RunningServer:
        threads = 1 if connection.vendor == "sqlite" else 4
        server = build_listener("127.0.0.1", 0, threads=threads, ssl_context=ssl_context)
        running = RunningServer(server)
        running.start()
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop()


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


# --- Defect 1: only the Trust's own systems write results --------------------------------------


def test_a_correction_claiming_the_labs_name_from_another_address_is_refused_and_kept(
    settings, tester: Patient, start_listener: Callable[..., RunningServer], admin_client
) -> None:
    """Security test, defect 1: a correction (OBR-25/OBX-11 C) that merely claimed WINPATH's
    MSH-3/MSH-4, sent from an address MLLP_SENDERS does not allow for WINPATH, replaced the PSA
    value. It is refused with AR (HL7 v2 ACK: application reject), kept as a refused inbound
    message, counted in /metrics, and the value stays what the lab sent."""
    settings.MLLP_SENDERS = senders(f"WINPATH^RXX01@{LAB}/32")
    listener = start_listener()
    assert msa(send(listener.port, PSA))[0] == "AA"

    ack = send(listener.port, CORRECTION, source=OTHER_HOST)

    assert msa(ack) == ("AR", "LAB0000103")
    assert psa_value(tester) == Decimal("0.24")
    refused = InboundMessage.objects.get(sender_check=Check.NOT_ALLOWED)
    assert (refused.status, refused.peer, refused.raw_bytes) == ("error", OTHER_HOST, CORRECTION)
    assert "not allowed to send from 127.0.0.2" in refused.error
    assert refusals(admin_client, Check.NOT_ALLOWED) == 1


def test_the_labs_own_correction_from_its_own_address_is_still_applied(
    settings, tester: Patient, start_listener: Callable[..., RunningServer]
) -> None:
    """The same correction from the address MLLP_SENDERS allows for WINPATH^RXX01 is applied
    (even after a spoofed copy was refused: the refused copy did not take its MSH-10)."""
    settings.MLLP_SENDERS = senders(f"WINPATH^RXX01@{LAB}/32", "CRIS^RXX01@10.12.4.0/24")
    listener = start_listener()
    assert msa(send(listener.port, PSA))[0] == "AA"
    assert msa(send(listener.port, CORRECTION, source=OTHER_HOST))[0] == "AR"

    assert msa(send(listener.port, CORRECTION))[0] == "AA"

    assert psa_value(tester) == Decimal("0.21")
    assert Result.objects.get(patient=tester).status == Result.Status.CORRECTED


def test_a_sender_not_named_in_mllp_senders_is_refused(
    settings, tester: Patient, start_listener: Callable[..., RunningServer]
) -> None:
    """A sending system MLLP_SENDERS does not name at all is refused from anywhere."""
    settings.MLLP_SENDERS = senders(f"WINPATH^RXX01@{LAB}/32")
    listener = start_listener()
    ack = send(listener.port, as_sender(PSA, "EVILLAB", "RXX01", "EVIL0001"))
    assert msa(ack)[0] == "AR"
    assert not Result.objects.exists()
    assert InboundMessage.objects.get().sender_check == Check.NOT_ALLOWED


def test_a_made_up_sender_under_an_existing_filler_order_number_is_held_not_filed_beside_it(
    settings, tester: Patient, start_listener: Callable[..., RunningServer]
) -> None:
    """Security test, defect 1: with no MLLP_SENDERS (development: any sender), EVILLAB added
    results of its own under WINPATH's filler order number, which then sat in the record and
    monitoring beside the real one. The message is held for review with a work item (AA: it
    is kept and a person decides), and nothing of it is filed."""
    settings.MLLP_SENDERS = ()
    listener = start_listener()
    assert msa(send(listener.port, PSA))[0] == "AA"
    evil = as_sender(PSA, "EVILLAB", "RXX01", "EVIL0001").replace(b"||0.24|", b"||9.99|")

    assert msa(send(listener.port, evil))[0] == "AA"

    assert Result.objects.filter(patient=tester).count() == 1
    assert psa_value(tester) == Decimal("0.24")
    held = InboundMessage.objects.get(sending_application="EVILLAB")
    assert (held.status, held.sender_check) == (InboundMessage.Status.REVIEW, Check.OTHER_SENDER)
    assert "already filed by another sending system (WINPATH^RXX01)" in held.error
    item = WorkItem.objects.get(kind=WorkItem.Kind.UNMATCHED_MESSAGE)
    assert "another sending system" in item.title
    assert item.priority == WorkItem.Priority.HIGH


def test_a_correction_from_another_facility_of_the_same_application_is_held(
    settings, tester: Patient, start_listener: Callable[..., RunningServer]
) -> None:
    """A correction is applied only from the sending system (MSH-3 and MSH-4) that filed the
    original: WINPATH at another facility is another sender, even in development."""
    settings.MLLP_SENDERS = ()
    listener = start_listener()
    assert msa(send(listener.port, PSA))[0] == "AA"

    ack = send(listener.port, as_sender(CORRECTION, "WINPATH", "RYY99", "LAB0000103"))

    assert msa(ack)[0] == "AA"
    assert psa_value(tester) == Decimal("0.24")
    held = InboundMessage.objects.get(sending_facility="RYY99")
    assert (held.status, held.sender_check) == (InboundMessage.Status.REVIEW, Check.OTHER_SENDER)


def test_a_held_correction_is_filed_when_an_administrator_reprocesses_it(
    settings, tester: Patient, start_listener: Callable[..., RunningServer], admin_user
) -> None:
    """The held message is kept whole: once the lab confirms it, an administrator reprocesses
    it (admin's Reprocess action) and it is filed; the result keeps the sender that filed it."""
    from rms.inbound import inbound_reprocess

    settings.MLLP_SENDERS = ()
    listener = start_listener()
    send(listener.port, PSA)
    send(listener.port, as_sender(CORRECTION, "WINPATH", "RYY99", "LAB0000103"))
    held = InboundMessage.objects.get(sending_facility="RYY99")

    inbound_reprocess(message=held, actor=admin_user)

    held.refresh_from_db()
    assert held.status == InboundMessage.Status.PROCESSED
    assert psa_value(tester) == Decimal("0.21")
    assert Result.objects.get(patient=tester).sender == "WINPATH^RXX01"


def test_demographics_from_a_sender_that_is_not_the_pas_are_refused(
    settings, tester: Patient, start_listener: Callable[..., RunningServer], admin_client
) -> None:
    """Security test, defect 1: an ADT^A08 from an unknown sender rewrote a patient's address.
    Demographic updates are accepted only from MLLP_PAS_SENDERS: another sender's is refused
    (AR) and kept; the PAS's own is applied."""
    settings.MLLP_SENDERS = ()
    settings.MLLP_PAS_SENDERS = senders("PAS^RXX01", with_origin=False)
    tester.address_line_1 = "12 Orchard Close"
    tester.save()
    listener = start_listener()

    ack = send(listener.port, a08("EVILPAS", "EVIL0008", "1 Somewhere Else"))

    assert msa(ack)[0] == "AR"
    tester.refresh_from_db()
    assert tester.address_line_1 == "12 Orchard Close"
    refused = InboundMessage.objects.get()
    assert (refused.status, refused.sender_check) == ("error", Check.NOT_PAS)
    assert refusals(admin_client, Check.NOT_PAS) == 1

    assert msa(send(listener.port, a08("PAS", "PAS0000008", "3 New Street")))[0] == "AA"
    tester.refresh_from_db()
    assert tester.address_line_1 == "3 New Street"


def test_with_mllp_senders_set_and_no_pas_named_no_sender_changes_demographics(
    settings, tester: Patient, start_listener: Callable[..., RunningServer]
) -> None:
    """Once MLLP_SENDERS is set, only senders named in MLLP_PAS_SENDERS are the PAS: none
    when it is empty, even a sender MLLP_SENDERS allows."""
    settings.MLLP_SENDERS = senders(f"PAS^RXX01@{LAB}/32")
    settings.MLLP_PAS_SENDERS = ()
    listener = start_listener()
    assert msa(send(listener.port, a08("PAS", "PAS0000008", "3 New Street")))[0] == "AR"
    tester.refresh_from_db()
    assert tester.address_line_1 != "3 New Street"


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return make_certificates(tmp_path_factory.mktemp("tls"))


def test_a_cn_entry_matches_only_a_verified_client_certificate_of_that_name(
    settings,
    tester: Patient,
    start_listener: Callable[..., RunningServer],
    certificates: Certificates,
) -> None:
    """``MSH3^MSH4@cn:NAME`` admits the sender over TLS with a client certificate (issued by
    the listener's CA) whose common name is NAME; the same message over TLS without a
    certificate, or over a plain connection, is refused."""
    settings.MLLP_SENDERS = senders("WINPATH^RXX01@cn:lab-system")
    server_context = build_server_ssl_context(
        certificates.server_cert, certificates.server_key, cafile=certificates.ca
    )
    tls_listener = start_listener(ssl_context=server_context)
    plain_listener = start_listener()

    def over_tls(message: bytes, *, with_cert: bool) -> bytes:
        context = ssl.create_default_context(cafile=certificates.ca)
        if with_cert:
            context.load_cert_chain(certificates.client_cert, certificates.client_key)
        with MllpClient("127.0.0.1", tls_listener.port, ssl_context=context) as client:
            return client.send(message)

    assert msa(over_tls(PSA, with_cert=False))[0] == "AR"
    assert msa(send(plain_listener.port, PSA))[0] == "AR"
    assert not Result.objects.exists()
    assert msa(over_tls(PSA, with_cert=True))[0] == "AA"
    assert psa_value(tester) == Decimal("0.24")


# --- Production start-up --------------------------------------------------------------------


def test_in_production_the_listener_refuses_to_start_without_mllp_senders(settings) -> None:
    """Security test, defect 1: in production the listener does not start with no
    MLLP_SENDERS unless MLLP_ALLOW_ANY_SENDER=true says so on purpose."""
    settings.PRODUCTION = True
    settings.MLLP_SENDERS = ()
    settings.MLLP_ALLOW_ANY_SENDER = False
    with pytest.raises(ImproperlyConfigured, match="MLLP_SENDERS"):
        build_listener("127.0.0.1", 0)

    errors: list[BaseException] = []

    def run() -> None:
        try:
            call_command("mllp_listener", "--port", "0")
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(10.0)
    assert not thread.is_alive(), "the listener started"
    assert len(errors) == 1 and isinstance(errors[0], CommandError)
    assert "MLLP_SENDERS" in str(errors[0])


def test_in_production_any_sender_on_purpose_starts_with_a_warning_and_readyz_says_so(
    settings, client, caplog: pytest.LogCaptureFixture
) -> None:
    """MLLP_ALLOW_ANY_SENDER=true lets the listener start without MLLP_SENDERS, warning at
    start and in /readyz (still ready: a warning, not a failure)."""
    settings.PRODUCTION = True
    settings.MLLP_SENDERS = ()
    settings.MLLP_ALLOW_ANY_SENDER = True
    build_listener("127.0.0.1", 0)
    assert "MLLP_ALLOW_ANY_SENDER=true" in caplog.text

    response = client.get("/readyz")
    assert response.json()["checks"]["mllp_senders"] == "any-sender"

    settings.MLLP_SENDERS = senders("WINPATH^RXX01@10.12.0.0/16")
    assert client.get("/readyz").json()["checks"]["mllp_senders"] == "ok"


# --- The API's inbound endpoints ------------------------------------------------------------


def test_the_hl7_endpoint_takes_the_token_account_as_the_sender(settings, tester: Patient) -> None:
    """An API sender is its account: with MLLP_SENDERS set, a message whose MSH-3^MSH-4 is not
    allowed to the account (MSH3^MSH4@user:USERNAME) is refused (AR) and kept."""
    from django.contrib.auth.models import Permission

    from tests.conftest import token_client
    from tests.factories import UserFactory

    def feed(username: str):  # type: ignore[no-untyped-def]
        user = UserFactory(username=username)
        user.user_permissions.add(Permission.objects.get(codename="submit_inbound"))
        return token_client(user)

    settings.MLLP_SENDERS = senders("WINPATH^RXX01@user:winpath-feed")

    def post(client) -> bytes:  # type: ignore[no-untyped-def]
        response = client.generic(
            "POST", "/api/v1/inbound/hl7/", PSA, content_type="x-application/hl7-v2+er7"
        )
        assert response.status_code == 200
        return response.content

    assert msa(post(feed("someone-else")))[0] == "AR"
    assert not Result.objects.exists()
    assert InboundMessage.objects.get().sender_check == Check.NOT_ALLOWED
    assert msa(post(feed("winpath-feed")))[0] == "AA"
    assert psa_value(tester) == Decimal("0.24")


def test_a_json_result_cannot_change_a_result_another_sender_filed(
    settings, tester: Patient, start_listener: Callable[..., RunningServer]
) -> None:
    """The JSON results endpoint's sender is the token's account: it cannot correct a result
    the lab filed over HL7 (409, nothing stored)."""
    from django.contrib.auth.models import Permission

    from tests.conftest import token_client
    from tests.factories import UserFactory

    settings.MLLP_SENDERS = ()
    listener = start_listener()
    send(listener.port, PSA)
    user = UserFactory(username="some-feed")
    user.user_permissions.add(Permission.objects.get(codename="submit_inbound"))
    body = {
        "patient": {"nhs_number": "9990000018", "family_name": "Tester"},
        "category": "lab",
        "source_system": "WINPATH",
        "filler_order_number": "26L0045123",
        "observed_at": "2026-11-10T08:30:00Z",
        "status": "corrected",
        "observations": [{"code": "PSA", "value_type": "NM", "value": "50", "status": "corrected"}],
    }
    response = token_client(user).post("/api/v1/results/", body, format="json")
    assert response.status_code == 409, response.content
    assert "sender" in response.json()
    assert psa_value(tester) == Decimal("0.24")


def test_a_refused_message_reprocessed_is_filed_only_once_its_sender_is_allowed(
    settings, tester: Patient, start_listener: Callable[..., RunningServer], admin_user
) -> None:
    """A message refused for where it came from is kept so that it can be filed once
    MLLP_SENDERS is put right (a genuine system whose address changed); reprocessing it
    checks its stored address again, so reprocessing a spoofed message does not file it."""
    from rms.inbound import inbound_reprocess

    settings.MLLP_SENDERS = senders(f"WINPATH^RXX01@{LAB}/32")
    listener = start_listener()
    assert msa(send(listener.port, PSA, source=OTHER_HOST))[0] == "AR"
    refused = InboundMessage.objects.get()

    inbound_reprocess(message=refused, actor=admin_user)
    refused.refresh_from_db()
    assert refused.status == InboundMessage.Status.ERROR
    assert not Result.objects.exists()

    settings.MLLP_SENDERS = senders(f"WINPATH^RXX01@{LAB}/32", f"WINPATH^RXX01@{OTHER_HOST}/32")
    inbound_reprocess(message=refused, actor=admin_user)
    refused.refresh_from_db()
    assert refused.status == InboundMessage.Status.PROCESSED
    assert psa_value(tester) == Decimal("0.24")


def test_another_systems_report_for_another_patient_under_the_same_number_is_filed(
    settings, tester: Patient, start_listener: Callable[..., RunningServer]
) -> None:
    """Two of the Trust's systems may number their reports alike: a report from another
    sending system under the same filler order number, for another patient, is not a change
    to the first patient's result and is filed for its own patient (docs/security.md)."""
    from django.contrib.auth.models import Permission

    from tests.conftest import token_client
    from tests.factories import UserFactory

    settings.MLLP_SENDERS = ()
    listener = start_listener()
    send(listener.port, PSA)
    other = PatientFactory(teams=[TeamFactory(code="ONC")])
    user = UserFactory(username="cris-feed")
    user.user_permissions.add(Permission.objects.get(codename="submit_inbound"))
    body = {
        "patient": {"nhs_number": other.nhs_number, "family_name": other.family_name},
        "category": "lab",
        "source_system": "CRIS",
        "filler_order_number": "26L0045123",
        "observed_at": "2026-11-10T08:30:00Z",
        "status": "final",
        "observations": [{"code": "PSA", "value_type": "NM", "value": "3.1", "status": "final"}],
    }
    response = token_client(user).post("/api/v1/results/", body, format="json")
    assert response.status_code == 201, response.content
    assert psa_value(tester) == Decimal("0.24")
    assert Result.objects.get(patient=other).sender == "api:cris-feed"


def test_admin_shows_why_a_sender_was_refused_and_does_not_let_it_be_edited(
    settings, tester: Patient, start_listener: Callable[..., RunningServer], admin_client
) -> None:
    """The refusal is evidence: admin's Inbound messages page shows the reason and the
    source, filterable, and offers no field to change them."""
    settings.MLLP_SENDERS = senders(f"WINPATH^RXX01@{LAB}/32")
    listener = start_listener()
    send(listener.port, CORRECTION, source=OTHER_HOST)
    refused = InboundMessage.objects.get()

    page = admin_client.get(f"/admin/rms/inboundmessage/{refused.pk}/change/")
    assert page.status_code == 200
    assert "Refused: sender not allowed from where it came" in page.content.decode()
    assert b'name="sender_check"' not in page.content
    assert b'name="credential"' not in page.content
    listing = admin_client.get("/admin/rms/inboundmessage/?sender_check__exact=not_allowed")
    assert listing.status_code == 200
    assert "1 inbound message" in listing.content.decode()


def test_acknowledging_on_storing_a_foreign_a08_is_still_refused_at_once(
    settings, tester: Patient, start_listener: Callable[..., RunningServer]
) -> None:
    """With INBOUND_ACK_AFTER=storing, a message we will never file is refused before the
    acknowledgement (docs/operations.md): demographics from a sender that is not the PAS are
    such a message, so the sender hears AR, not an AA followed by nothing."""
    settings.INBOUND_ACK_AFTER = "storing"
    settings.MLLP_SENDERS = ()
    settings.MLLP_PAS_SENDERS = senders("PAS^RXX01", with_origin=False)
    tester.address_line_1 = "12 Orchard Close"
    tester.save()
    listener = start_listener()

    assert msa(send(listener.port, a08("EVILPAS", "EVIL0009", "1 Somewhere Else")))[0] == "AR"

    refused = InboundMessage.objects.get()
    assert (refused.status, refused.sender_check) == ("error", Check.NOT_PAS)
    tester.refresh_from_db()
    assert tester.address_line_1 == "12 Orchard Close"
