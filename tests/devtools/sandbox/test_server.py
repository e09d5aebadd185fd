"""The sandbox over real sockets: auth, SOAP, the control endpoints and injected faults."""

from __future__ import annotations

import http.client
import json
import socket
import time

import pytest

from devtools.sandbox import SandboxServer
from pkb_bridge.hl7.ack import parse_ack
from pkb_bridge.hl7.soap import build_envelope, parse_envelope_response
from tests.devtools.sandbox.conftest import (
    PASSWORD,
    USERNAME,
    auth_header,
    control,
    post_hl7,
    request,
)
from tests.devtools.sandbox.messages import NHS, a28, oru


def test_it_acknowledges_a_message_posted_with_the_right_credentials(sandbox):
    status, ack = post_hl7(sandbox, a28("A28-1"))

    assert status == 200
    assert parse_ack(ack).code == "AA"
    assert parse_ack(ack).control_id == "A28-1"


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": auth_header(password="wrong")},
        {"Authorization": auth_header(username="someone")},
        {"Authorization": "Bearer abc"},
        {"Authorization": "Basic !!!not-base64"},
    ],
)
def test_it_refuses_a_message_without_the_right_credentials(sandbox, headers):
    status, response_headers, _ = request(
        sandbox, "POST", "/services/hl7", build_envelope(a28()), headers
    )

    assert status == 401
    assert response_headers["WWW-Authenticate"] == 'Basic realm="PKB sandbox"'
    assert sandbox.state.messages() == []


def test_it_answers_a_soap_fault_to_a_body_that_is_not_an_accept_message_request(sandbox):
    status, _, body = request(
        sandbox, "POST", "/services/hl7", b"<x/>", {"Authorization": auth_header()}
    )

    assert status == 500
    assert b"<soap:Fault>" in body
    assert sandbox.state.messages() == []


def test_it_keeps_one_connection_alive_across_messages(sandbox):
    connection = http.client.HTTPConnection(sandbox.host, sandbox.port, timeout=5)
    headers = {"Authorization": auth_header(), "Content-Type": "text/xml; charset=utf-8"}
    for number in range(5):
        connection.request("POST", "/services/hl7", build_envelope(a28(f"A-{number}")), headers)
        response = connection.getresponse()
        assert response.status == 200
        response.read()
    connection.close()

    assert sandbox.connections_accepted == 1
    assert len(sandbox.state.messages()) == 5


def test_the_accepted_socket_has_nagle_turned_off(sandbox):
    # Without TCP_NODELAY a keep-alive round trip costs ~44 ms (reference 4.3(d)).
    started = time.perf_counter()
    connection = http.client.HTTPConnection(sandbox.host, sandbox.port, timeout=5)
    headers = {"Authorization": auth_header()}
    for number in range(20):
        connection.request("POST", "/services/hl7", build_envelope(a28(f"A-{number}")), headers)
        connection.getresponse().read()
    connection.close()

    assert (time.perf_counter() - started) / 20 < 0.03


# -- control endpoints -------------------------------------------------------------------------


def test_the_state_endpoint_dumps_records_and_messages(sandbox):
    post_hl7(sandbox, a28())

    state = control(sandbox, "/_sandbox/state")

    assert list(state["patients"]) == [NHS]
    assert state["messages"][0]["control_id"] == "A28-1"
    assert state["messages"][0]["raw"].startswith("MSH|")


def test_the_messages_endpoint_lists_messages_with_their_concurrency(sandbox):
    post_hl7(sandbox, oru("ORU-EARLY"))
    post_hl7(sandbox, a28())

    listing = control(sandbox, "/_sandbox/messages")

    assert [(m["control_id"], m["ack_code"]) for m in listing["messages"]] == [
        ("ORU-EARLY", "AR"),
        ("A28-1", "AA"),
    ]
    first = listing["messages"][0]
    assert (first["message_type"], first["nhs_number"]) == ("ORU^R01", NHS)
    assert (first["in_flight"], first["in_flight_same_patient"]) == (1, 1)
    assert listing["max_in_flight"] == 1
    assert listing["connections_accepted"] >= 2


def test_reset_forgets_records_messages_and_faults(sandbox):
    post_hl7(sandbox, a28())
    control(sandbox, "/_sandbox/faults", {"reject_types": ["ADT^A28"]})

    assert control(sandbox, "/_sandbox/reset", {}) == {"reset": True}

    assert control(sandbox, "/_sandbox/state")["patients"] == {}
    assert control(sandbox, "/_sandbox/faults")["reject_types"] == []


def test_it_refuses_an_unknown_fault_with_a_400(sandbox):
    status, _, body = request(
        sandbox, "POST", "/_sandbox/faults", json.dumps({"explode": True}).encode()
    )

    assert status == 400
    assert "unknown fault 'explode'" in json.loads(body)["error"]


def test_it_refuses_a_fault_of_the_wrong_type_with_a_400(sandbox):
    status, _, _ = request(
        sandbox, "POST", "/_sandbox/faults", json.dumps({"ae_next": "two"}).encode()
    )

    assert status == 400


def _non_loopback_address() -> str | None:
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("192.0.2.1", 9))  # no packet is sent for a UDP connect
        address = probe.getsockname()[0]
    except OSError:
        return None
    finally:
        probe.close()
    return None if address.startswith("127.") else address


def test_control_endpoints_and_patient_pages_refuse_clients_that_are_not_loopback(clock):
    address = _non_loopback_address()
    if address is None:
        pytest.skip("this machine has no non-loopback IPv4 address to connect from")
    server = SandboxServer(username=USERNAME, password=PASSWORD, host="0.0.0.0").start()  # noqa: S104
    try:
        for method, path, body in [
            ("GET", "/_sandbox/state", None),
            ("POST", "/_sandbox/faults", b'{"ae_next": 1}'),
            ("POST", "/_sandbox/reset", b"{}"),
            ("GET", "/", None),
            ("GET", f"/patients/{NHS}", None),
        ]:
            status, _, _ = request(server, method, path, body, host=address)
            assert status == 403, path
        status, _, _ = request(server, "GET", "/_sandbox/state", host="127.0.0.1")
        assert status == 200
    finally:
        server.stop()


# -- faults ------------------------------------------------------------------------------------


def test_reject_types_answers_ar_with_the_configured_text(sandbox):
    post_hl7(sandbox, a28())
    control(sandbox, "/_sandbox/faults", {"reject_types": ["ORU^R01"], "ar_text": "Nope"})

    ack = parse_ack(post_hl7(sandbox, oru())[1])

    assert (ack.code, ack.text) == ("AR", "Nope")
    assert sandbox.state.patient(NHS)["lab_results"] == {}


def test_reject_control_ids_answers_ar_for_those_messages_only(sandbox):
    control(sandbox, "/_sandbox/faults", {"reject_control_ids": ["A28-BAD"]})

    assert parse_ack(post_hl7(sandbox, a28("A28-BAD"))[1]).code == "AR"
    assert parse_ack(post_hl7(sandbox, a28("A28-GOOD"))[1]).code == "AA"


def test_ae_next_answers_ae_to_that_many_messages(sandbox):
    control(sandbox, "/_sandbox/faults", {"ae_next": 2})

    codes = [parse_ack(post_hl7(sandbox, a28(f"A-{n}"))[1]).code for n in range(3)]

    assert codes == ["AE", "AE", "AA"]


def test_ack_wrong_control_id_answers_with_another_msa_2(sandbox):
    control(sandbox, "/_sandbox/faults", {"ack_wrong_control_id": 1})

    ack = parse_ack(post_hl7(sandbox, a28("A28-1"))[1])

    assert ack.code == "AA"
    assert not ack.acknowledges("A28-1")
    assert sandbox.state.messages()[0]["reply"] == "wrong_control_id"


def test_status_answers_every_message_with_that_http_status(sandbox):
    control(sandbox, "/_sandbox/faults", {"status": 503})

    assert post_hl7(sandbox, a28())[0] == 503
    control(sandbox, "/_sandbox/faults", {"status": None})
    assert post_hl7(sandbox, a28())[0] == 200
    assert len(sandbox.state.messages()) == 1


def test_soap_fault_next_answers_a_soap_fault_without_processing(sandbox):
    control(sandbox, "/_sandbox/faults", {"soap_fault_next": 1})

    status, _, body = request(
        sandbox, "POST", "/services/hl7", build_envelope(a28()), {"Authorization": auth_header()}
    )

    assert status == 500
    assert b"faultstring" in body
    assert sandbox.state.messages() == []


def test_non_soap_next_answers_a_page_that_is_not_soap(sandbox):
    control(sandbox, "/_sandbox/faults", {"non_soap_next": 1})

    status, headers, body = request(
        sandbox, "POST", "/services/hl7", build_envelope(a28()), {"Authorization": auth_header()}
    )

    assert status == 200
    assert headers["Content-Type"].startswith("text/html")
    assert b"Envelope" not in body


def test_drop_after_receive_processes_the_message_but_never_answers(sandbox):
    control(sandbox, "/_sandbox/faults", {"drop_after_receive": 1})

    with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
        post_hl7(sandbox, a28())

    assert sandbox.state.patient(NHS) is not None
    assert sandbox.state.messages()[0]["reply"] == "dropped"
    assert post_hl7(sandbox, a28("A28-2"))[0] == 200


def test_delay_holds_the_answer_back(sandbox):
    sandbox.set_faults(delay_s=0.5)

    started = time.monotonic()
    post_hl7(sandbox, a28())

    assert time.monotonic() - started >= 0.5


def test_drip_sends_the_answer_one_byte_at_a_time(sandbox):
    sandbox.set_faults(drip_s=0.001)
    connection = socket.create_connection((sandbox.host, sandbox.port), timeout=5)
    envelope = build_envelope(a28())
    connection.sendall(
        b"POST /services/hl7 HTTP/1.1\r\nHost: x\r\nAuthorization: "
        + auth_header().encode()
        + f"\r\nContent-Length: {len(envelope)}\r\n\r\n".encode()
        + envelope
    )
    reads = []
    while b"</soap:Envelope>" not in b"".join(reads):
        reads.append(connection.recv(65536))
    connection.close()

    assert len(reads) > 50  # a whole response would arrive in a read or two
    body = b"".join(reads).split(b"\r\n\r\n", 1)[1]
    assert parse_ack(parse_envelope_response(body)).code == "AA"


def test_refuse_connections_closes_the_port_until_told_otherwise(sandbox):
    sandbox.set_faults(refuse_connections=True)

    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((sandbox.host, sandbox.port), timeout=2)

    sandbox.set_faults(refuse_connections=False)
    assert post_hl7(sandbox, a28())[0] == 200


def test_refuse_connections_over_http_reopens_after_refuse_for_s(sandbox):
    control(sandbox, "/_sandbox/faults", {"refuse_connections": True, "refuse_for_s": 0.5})

    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((sandbox.host, sandbox.port), timeout=2)
    time.sleep(1.0)

    assert post_hl7(sandbox, a28())[0] == 200
    assert sandbox.faults.snapshot().refuse_connections is False


def test_reset_listens_again_after_a_refusal(sandbox):
    sandbox.set_faults(refuse_connections=True, refuse_for_s=60)

    sandbox.reset()

    assert post_hl7(sandbox, a28())[0] == 200
    assert sandbox.connections_accepted == 1


def test_refusing_also_closes_connections_already_open(sandbox):
    connection = http.client.HTTPConnection(sandbox.host, sandbox.port, timeout=5)
    headers = {"Authorization": auth_header()}
    connection.request("POST", "/services/hl7", build_envelope(a28("A-1")), headers)
    connection.getresponse().read()

    sandbox.set_faults(refuse_connections=True)

    with pytest.raises((ConnectionError, http.client.HTTPException, OSError)):
        connection.request("POST", "/services/hl7", build_envelope(a28("A-2")), headers)
        connection.getresponse().read()
    connection.close()
