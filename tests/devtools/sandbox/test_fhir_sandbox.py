"""The sandbox's FHIR side over real HTTP: tokens, the send operation, searches, controls."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from urllib.parse import urlencode

import pytest

from devtools.sandbox import SandboxServer
from devtools.sandbox.fhir import FhirSandbox
from tests.devtools.sandbox.conftest import request

SEND = "/fhir/Questionnaire/{}/$send-questionnaire-request"


@pytest.fixture
def pkb() -> Iterator[SandboxServer]:
    server = SandboxServer(
        username="u", password="p", fhir=FhirSandbox(client_id="cid", client_secret="sec")
    )
    server.start()
    yield server
    server.stop()


def token(server: SandboxServer, client_id: str = "cid", secret: str = "sec") -> tuple[int, dict]:
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    status, _, body = request(
        server,
        "POST",
        "/oauth/token",
        b"grant_type=client_credentials",
        {"Authorization": f"Basic {basic}", "Content-Type": "application/x-www-form-urlencoded"},
    )
    return status, json.loads(body)


def bearer(server: SandboxServer) -> dict[str, str]:
    status, payload = token(server)
    assert status == 200
    return {"Authorization": f"Bearer {payload['access_token']}"}


def parameters(nhs_number: str = "9990000018") -> bytes:
    return json.dumps(
        {
            "resourceType": "Parameters",
            "parameter": [
                {
                    "name": "patient",
                    "valueIdentifier": {
                        "system": "https://fhir.nhs.uk/Id/nhs-number",
                        "value": nhs_number,
                    },
                }
            ],
        }
    ).encode()


def test_it_issues_an_expiring_bearer_token_for_the_right_client_only(pkb) -> None:
    status, payload = token(pkb)
    assert status == 200
    assert payload["token_type"] == "Bearer"
    assert payload["expires_in"] > 0
    status, payload = token(pkb, secret="wrong")
    assert status == 401
    assert payload["error"] == "invalid_client"


def test_it_accepts_the_client_in_the_form_body_too(pkb) -> None:
    body = urlencode(
        {"grant_type": "client_credentials", "client_id": "cid", "client_secret": "sec"}
    ).encode()
    status, _, raw = request(pkb, "POST", "/oauth/token", body, {})
    assert status == 200
    assert json.loads(raw)["access_token"]


def test_fhir_calls_need_a_valid_unexpired_token(pkb) -> None:
    status, headers, _ = request(pkb, "GET", "/fhir/Observation")
    assert status == 401
    assert "Bearer" in headers["WWW-Authenticate"]
    status, _, _ = request(pkb, "GET", "/fhir/Observation", headers={"Authorization": "Bearer x"})
    assert status == 401
    auth = bearer(pkb)
    assert request(pkb, "GET", "/fhir/Observation", headers=auth)[0] == 200
    pkb.fhir.expire_tokens()
    assert request(pkb, "GET", "/fhir/Observation", headers=auth)[0] == 401


def test_a_questionnaire_request_is_recorded_and_answered_with_an_id(pkb) -> None:
    status, _, raw = request(pkb, "POST", SEND.format("phq9"), parameters(), bearer(pkb))
    assert status == 200
    answer = json.loads(raw)
    assert answer["parameter"][0]["name"] == "requestId"
    [recorded] = pkb.fhir.requests()
    assert recorded["questionnaire_id"] == "phq9"
    assert recorded["nhs_number"] == "9990000018"
    assert recorded["id"] == answer["parameter"][0]["valueString"]


def test_an_unknown_questionnaire_is_404_once_the_sandbox_knows_which_exist(pkb) -> None:
    pkb.fhir.set_questionnaires(["phq9"])
    status, _, raw = request(pkb, "POST", SEND.format("nope"), parameters(), bearer(pkb))
    assert status == 404
    assert json.loads(raw)["resourceType"] == "OperationOutcome"
    assert pkb.fhir.requests() == []


def test_a_body_that_names_no_patient_is_400_with_an_operation_outcome(pkb) -> None:
    status, _, raw = request(pkb, "POST", SEND.format("phq9"), b"{}", bearer(pkb))
    assert status == 400
    assert "patient" in json.loads(raw)["issue"][0]["diagnostics"]


def test_searches_return_what_was_queued_after_the_cursor_in_pages(pkb) -> None:
    for n, stamp in enumerate(
        ["2025-01-01T10:00:00Z", "2025-01-02T10:00:00Z", "2025-01-03T10:00:00Z"]
    ):
        pkb.fhir.queue(
            {"resourceType": "Observation", "id": f"o{n}", "meta": {"lastUpdated": stamp}}
        )
    auth = bearer(pkb)
    query = urlencode({"_lastUpdated": "gt2025-01-01T10:00:00Z", "_count": 1})
    status, _, raw = request(pkb, "GET", f"/fhir/Observation?{query}", headers=auth)
    bundle = json.loads(raw)
    assert status == 200
    assert bundle["total"] == 2
    assert [e["resource"]["id"] for e in bundle["entry"]] == ["o1"]
    next_url = bundle["link"][0]["url"]
    status, _, raw = request(pkb, "GET", next_url, headers=auth)
    assert [e["resource"]["id"] for e in json.loads(raw)["entry"]] == ["o2"]


def test_the_control_endpoints_queue_resources_and_set_questionnaires(pkb) -> None:
    status, _, raw = request(
        pkb,
        "POST",
        "/_sandbox/fhir/queue",
        json.dumps([{"resourceType": "QuestionnaireResponse", "status": "completed"}]).encode(),
    )
    assert status == 200
    [queued] = json.loads(raw)["queued"]
    assert queued["id"] and queued["meta"]["lastUpdated"]
    status, _, raw = request(pkb, "GET", "/fhir/QuestionnaireResponse", headers=bearer(pkb))
    assert [e["resource"]["id"] for e in json.loads(raw)["entry"]] == [queued["id"]]
    status, _, _ = request(
        pkb, "POST", "/_sandbox/fhir/queue", json.dumps({"resourceType": "Patient"}).encode()
    )
    assert status == 400
    status, _, _ = request(pkb, "POST", "/_sandbox/fhir/questionnaires", json.dumps(["a"]).encode())
    assert status == 200
    assert request(pkb, "POST", SEND.format("b"), parameters(), bearer(pkb))[0] == 404


def test_reset_forgets_the_fhir_side_too(pkb) -> None:
    pkb.fhir.queue({"resourceType": "Observation"})
    request(pkb, "POST", SEND.format("x"), parameters(), bearer(pkb))
    request(pkb, "POST", "/_sandbox/reset", b"{}")
    assert pkb.fhir.snapshot() == {
        "requests": [],
        "queued": {"QuestionnaireResponse": 0, "Observation": 0},
        "tokens_issued": 0,
    }
