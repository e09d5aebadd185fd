"""The inbound endpoints of the API: one HL7 v2 message (/api/v1/inbound/hl7/) and one result
as JSON (/api/v1/results/). Both are for feed accounts holding ``rms.submit_inbound``."""

from __future__ import annotations

import copy
import datetime as dt
import io
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.db import connection
from django.urls import reverse
from drf_spectacular.drainage import GENERATOR_STATS
from rest_framework.test import APIClient

from rms.hl7 import parse
from rms.models import InboundMessage, Observation, Patient, Result
from tests.conftest import token_client
from tests.factories import PatientFactory, UserFactory
from tests.rms.hl7.samples import sample_bytes

pytestmark = pytest.mark.django_db

HL7_URL = reverse("api:inbound-hl7")
RESULTS_URL = reverse("api:results")
HL7_TYPE = "x-application/hl7-v2+er7"
PSA = sample_bytes("oru_r01_psa.hl7")


def ack_of(body: bytes) -> tuple[str, str]:
    """MSA-1 and MSA-3 of an ACK."""
    msa = parse(body.decode("latin-1")).get_segment("MSA")
    return msa.value(1), msa.value(3)


@pytest.fixture
def feed_user():  # type: ignore[no-untyped-def]
    user = UserFactory(username="winpath-feed")
    user.user_permissions.add(Permission.objects.get(codename="submit_inbound"))
    return user


@pytest.fixture
def feed(feed_user) -> APIClient:
    return token_client(feed_user)


@pytest.fixture
def tester(team) -> Patient:
    """The patient of the HL7 samples (TESTER, Alan; 9990000018; RXX1234567)."""
    return PatientFactory(
        nhs_number="9990000018",
        mrn="RXX1234567",
        given_name="Alan",
        family_name="Tester",
        date_of_birth=dt.date(1958, 2, 14),
        teams=[team],
    )


def post_hl7(client: APIClient, body: bytes, content_type: str = HL7_TYPE) -> Any:
    return client.generic("POST", HL7_URL, body, content_type=content_type)


# --- POST /api/v1/inbound/hl7/ ---------------------------------------------------------------


@pytest.mark.parametrize("content_type", [HL7_TYPE, "text/plain"])
def test_a_feed_account_posts_a_result_and_gets_an_aa_ack(feed, tester, content_type) -> None:
    response = post_hl7(feed, PSA, content_type)
    assert response.status_code == 200
    assert response["Content-Type"].startswith(HL7_TYPE)
    assert ack_of(response.content)[0] == "AA"
    assert Result.objects.get().patient == tester
    stored = InboundMessage.objects.get()
    assert (stored.channel, stored.status, stored.raw_bytes) == ("api", "processed", PSA)
    assert stored.peer == "127.0.0.1"


def test_acknowledged_on_storing_a_posted_result_is_stored_then_filed(
    feed, tester, settings
) -> None:  # type: ignore[no-untyped-def]
    from rms.inbound.receive import inbound_file_queued

    settings.INBOUND_ACK_AFTER = "storing"
    response = post_hl7(feed, PSA)
    assert response.status_code == 200 and ack_of(response.content)[0] == "AA"
    stored = InboundMessage.objects.get()
    assert (stored.channel, stored.status) == ("api", "received")
    assert not Result.objects.exists()
    assert inbound_file_queued() == 1
    assert Result.objects.get().patient == tester


def test_a_clinician_of_the_patients_team_may_not_post_messages(api_clinician, tester) -> None:
    response = post_hl7(api_clinician, PSA)
    assert response.status_code == 403
    assert not InboundMessage.objects.exists()
    assert not Result.objects.exists()


def test_posting_a_message_needs_a_token(tester) -> None:
    response = post_hl7(APIClient(), PSA)
    assert response.status_code == 401
    assert not InboundMessage.objects.exists()


@pytest.mark.parametrize("body", [b"", b"\r\n  "])
def test_an_empty_body_is_a_400_and_stores_nothing(feed, body) -> None:
    response = post_hl7(feed, body)
    assert response.status_code == 400
    assert not InboundMessage.objects.exists()


def test_garbage_is_refused_in_the_ack_and_kept(feed) -> None:
    response = post_hl7(feed, b"this is not an HL7 message\r")
    assert response.status_code == 200
    assert ack_of(response.content)[0] == "AR"
    assert InboundMessage.objects.get().status == InboundMessage.Status.ERROR


def test_the_same_message_twice_gets_the_same_ack_and_is_stored_once(feed, tester) -> None:
    first = post_hl7(feed, PSA)
    second = post_hl7(feed, PSA)
    assert (first.status_code, second.status_code) == (200, 200)
    assert first.content == second.content
    assert InboundMessage.objects.count() == 1
    assert Result.objects.count() == 1


def test_a_message_for_an_unknown_patient_is_accepted_and_held(feed) -> None:
    response = post_hl7(feed, PSA)
    assert ack_of(response.content)[0] == "AA"
    assert InboundMessage.objects.get().status == InboundMessage.Status.UNMATCHED
    assert not Result.objects.exists()


def test_a_database_failure_is_a_503_with_retry_after_and_no_ack(feed, tester) -> None:
    # The message table really is unavailable (renamed away inside the test's transaction,
    # which the test database rolls back): the real database raises, nothing is mocked.
    # A database that is down altogether fails earlier, at the token lookup; this is the
    # failure after authentication, e.g. a lost connection or a lock timeout.
    table = connection.ops.quote_name(InboundMessage._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {table} RENAME TO {connection.ops.quote_name('gone')}")
    response = post_hl7(feed, PSA)
    assert response.status_code == 503
    assert response["Retry-After"] == "30"
    assert b"MSA" not in response.content
    assert not Result.objects.exists()


# --- POST /api/v1/results/ -------------------------------------------------------------------

PSA_JSON: dict[str, Any] = {
    "patient": {
        "nhs_number": "999 000 0018",
        "family_name": "TESTER",
        "date_of_birth": "1958-02-14",
    },
    "category": "lab",
    "source_system": "WINPATH",
    "filler_order_number": "26L0099001",
    "service_code": "PSA",
    "service_name": "Prostate specific antigen",
    "observed_at": "2026-11-10T08:30:00Z",
    "status": "final",
    "observations": [
        {
            "code": "PSA",
            "code_system": "WINPATH",
            "name": "PSA",
            "value_type": "NM",
            "value": "<0.01",
            "units": "ug/L",
            "reference_range": "0.00-0.10",
        }
    ],
}


def psa_json(**changes: Any) -> dict[str, Any]:
    body = copy.deepcopy(PSA_JSON)
    body.update(changes)
    return body


def test_a_feed_account_posts_a_result_as_json_and_it_is_created(feed, tester) -> None:
    response = feed.post(RESULTS_URL, PSA_JSON, format="json")
    assert response.status_code == 201, response.data
    assert response.data["outcome"] == "created"
    assert response.data["patient"] == str(tester.public_id)
    body = response.data["result"]
    assert body["filler_order_number"] == "26L0099001"
    [observation] = body["observations"]
    assert (observation["value_text"], observation["comparator"], observation["value_numeric"]) == (
        "<0.01",
        "<",
        "0.01",
    )
    stored = Observation.objects.get()
    assert (stored.value_numeric, stored.comparator, stored.result.patient) == (
        Decimal("0.01"),
        "<",
        tester,
    )
    assert "nhs_number" not in str(response.data)


def test_the_same_result_again_is_unchanged(feed, tester) -> None:
    feed.post(RESULTS_URL, PSA_JSON, format="json")
    response = feed.post(RESULTS_URL, PSA_JSON, format="json")
    assert response.status_code == 200
    assert response.data["outcome"] == "unchanged"
    assert Result.objects.count() == 1
    assert Observation.objects.count() == 1


def test_a_correction_replaces_the_value_and_keeps_the_old_one(feed, tester) -> None:
    feed.post(RESULTS_URL, PSA_JSON, format="json")
    corrected = psa_json(status="corrected")
    corrected["observations"][0]["value"] = "0.03"
    response = feed.post(RESULTS_URL, corrected, format="json")
    assert response.status_code == 200
    assert response.data["outcome"] == "corrected"
    assert [o["value_text"] for o in response.data["result"]["observations"]] == ["0.03"]
    result = Result.objects.get()
    assert (result.status, result.version) == ("corrected", 2)
    assert result.observations.filter(superseded_at__isnull=False).count() == 1


def test_a_result_for_an_unknown_patient_is_a_404_and_stores_nothing(feed, tester) -> None:
    response = feed.post(RESULTS_URL, psa_json(patient={"nhs_number": "9434765919"}), format="json")
    assert response.status_code == 404
    assert "patient" in response.data
    assert not Result.objects.exists()


def test_a_result_whose_date_of_birth_differs_is_a_409_and_stores_nothing(feed, tester) -> None:
    patient = {"nhs_number": "9990000018", "family_name": "Tester", "date_of_birth": "1958-02-15"}
    response = feed.post(RESULTS_URL, psa_json(patient=patient), format="json")
    assert response.status_code == 409
    assert "date of birth" in response.data["patient"][0]
    assert not Result.objects.exists()


def test_a_numeric_observation_with_a_text_value_is_a_400(feed, tester) -> None:
    body = psa_json()
    body["observations"][0]["value"] = "haemolysed"
    response = feed.post(RESULTS_URL, body, format="json")
    assert response.status_code == 400
    assert "observations" in response.data
    assert not Result.objects.exists()


def test_a_numeric_value_too_large_to_store_is_a_400_not_a_server_error(feed, tester) -> None:
    body = psa_json()
    body["observations"][0]["value"] = "1" * 19
    response = feed.post(RESULTS_URL, body, format="json")
    assert response.status_code == 400
    assert "observations" in response.data
    assert not Result.objects.exists()


def test_a_text_observation_keeps_its_text_and_has_no_number(feed, tester) -> None:
    body = psa_json()
    body["observations"][0].update(value_type="TX", value="Sample haemolysed")
    response = feed.post(RESULTS_URL, body, format="json")
    assert response.status_code == 201
    stored = Observation.objects.get()
    assert (stored.value_type, stored.value_text, stored.value_numeric) == (
        "TX",
        "Sample haemolysed",
        None,
    )


def test_missing_fields_are_a_400_naming_each_of_them(feed, tester) -> None:
    body = psa_json()
    for name in ("source_system", "filler_order_number", "observed_at"):
        del body[name]
    response = feed.post(RESULTS_URL, body, format="json")
    assert response.status_code == 400
    assert {"source_system", "filler_order_number", "observed_at"} <= set(response.data)


def test_a_patient_without_nhs_number_or_mrn_is_a_400(feed, tester) -> None:
    response = feed.post(RESULTS_URL, psa_json(patient={"family_name": "Tester"}), format="json")
    assert response.status_code == 400
    assert "patient" in response.data


def test_a_filler_order_number_filed_for_another_patient_is_a_409(feed, tester, team) -> None:
    feed.post(RESULTS_URL, PSA_JSON, format="json")
    other = PatientFactory(nhs_number="9434765919", family_name="Other", teams=[team])
    body = psa_json(patient={"nhs_number": other.nhs_number, "family_name": "Other"})
    body["observations"][0]["value"] = "7.5"
    response = feed.post(RESULTS_URL, body, format="json")
    assert response.status_code == 409
    assert "filler_order_number" in response.data
    result = Result.objects.get()
    assert (result.patient, result.version) == (tester, 1)


def test_a_clinician_may_not_post_results(api_clinician, tester) -> None:
    response = api_clinician.post(RESULTS_URL, PSA_JSON, format="json")
    assert response.status_code == 403
    assert not Result.objects.exists()


def test_posting_results_needs_a_token(tester) -> None:
    assert APIClient().post(RESULTS_URL, PSA_JSON, format="json").status_code == 401


# --- schema ----------------------------------------------------------------------------------


def test_the_schema_with_the_inbound_endpoints_still_validates() -> None:
    GENERATOR_STATS.reset()
    out = io.StringIO()
    call_command("spectacular", "--validate", "--fail-on-warn", stdout=out)
    assert "/api/v1/inbound/hl7/" in out.getvalue()
    assert "/api/v1/results/" in out.getvalue()


def test_an_hl7_number_too_large_to_store_is_filed_as_the_text_sent(feed, tester) -> None:
    huge = PSA.replace(b"||0.24|ug/L|", b"||" + b"9" * 19 + b"|ug/L|")
    response = post_hl7(feed, huge)
    assert ack_of(response.content)[0] == "AA"
    stored = Observation.objects.get()
    assert (stored.value_type, stored.value_text, stored.value_numeric) == ("TX", "9" * 19, None)


def test_a_message_sent_after_a_blank_line_is_still_recognised_when_repeated(feed, tester) -> None:
    first = post_hl7(feed, b"\r\n" + PSA)
    second = post_hl7(feed, b"\r\n" + PSA)
    assert ack_of(first.content)[0] == "AA"
    assert first.content == second.content
    stored = InboundMessage.objects.get()
    assert (stored.sending_application, stored.control_id) == ("WINPATH", "LAB0000101")


def test_a_character_set_that_is_not_ascii_is_refused_with_an_ack(feed) -> None:
    raw = b"MSH|^~\\&|X|Y|RMS|RXX|20261110||ORU^R01|CS1|P|2.4|||||GBR|\xff\rPID|||1\r"
    response = post_hl7(feed, raw)
    assert response.status_code == 200
    assert ack_of(response.content)[0] == "AR"
    assert InboundMessage.objects.get().status == InboundMessage.Status.ERROR
    assert post_hl7(feed, raw).content == response.content


def test_the_same_test_twice_in_one_result_is_a_400(feed, tester) -> None:
    body = psa_json()
    body["observations"].append(dict(body["observations"][0], value="0.02"))
    response = feed.post(RESULTS_URL, body, format="json")
    assert response.status_code == 400
    assert "observations" in response.data
    assert not Result.objects.exists()


@pytest.mark.parametrize(
    ("value_type", "value", "number", "comparator", "flag"),
    [
        ("TX", "< 0.01", Decimal("0.01"), "<", ""),
        ("TX", "0.2 (H)", Decimal("0.2"), "", "H"),
        ("NM", "0.20*", Decimal("0.20"), "", "A"),
        ("TX", ">100", Decimal("100"), ">", ""),
    ],
)
def test_a_value_posted_as_text_or_with_a_flag_is_filed_as_a_number(
    feed, tester, value_type, value, number, comparator, flag
) -> None:
    """As at HL7 filing: a result sent as text is still a result, kept as sent for display."""
    body = psa_json()
    body["observations"][0] |= {"value_type": value_type, "value": value}
    response = feed.post(RESULTS_URL, body, format="json")
    assert response.status_code == 201, response.data
    stored = Observation.objects.get()
    assert (stored.value_numeric, stored.comparator, stored.abnormal_flag, stored.value_text) == (
        number,
        comparator,
        flag,
        value,
    )


def test_a_text_value_that_is_not_a_number_is_kept_as_text(feed, tester) -> None:
    body = psa_json()
    body["observations"][0] |= {"value_type": "TX", "value": "see comment"}
    assert feed.post(RESULTS_URL, body, format="json").status_code == 201
    stored = Observation.objects.get()
    assert (stored.value_numeric, stored.value_text) == (None, "see comment")
