"""/metrics: Prometheus text read from the database at scrape time, for the bearer token or a
staff session only."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest
import time_machine
from django.test import override_settings
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from pkb_bridge import services as pkb_services
from pkb_bridge.models import OutboundMessage
from pkb_bridge.transport import PkbTransport
from rms.inbound import receive
from tests.factories import PatientFactory, ResultFactory, UserFactory
from tests.rms.hl7.samples import sample_bytes

pytestmark = pytest.mark.django_db

TOKEN = "metrics-token-for-tests-0123456789abcdef"
ROOT = Path(__file__).resolve().parents[3]


def scrape(client, **headers: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """The samples of a scrape, by name and sorted labels."""
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples, name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


# --- who may read them ---------------------------------------------------------------------


def test_an_anonymous_scraper_is_asked_for_a_bearer_token(client) -> None:
    response = client.get("/metrics")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert b"rms_" not in response.content


@override_settings(METRICS_TOKEN=TOKEN)
def test_a_wrong_token_is_refused(client) -> None:
    response = client.get("/metrics", headers={"Authorization": "Bearer not-the-token"})
    assert response.status_code == 401
    assert 'error="invalid_token"' in response["WWW-Authenticate"]


@override_settings(METRICS_TOKEN="")
def test_any_bearer_token_is_refused_when_none_is_configured(client) -> None:
    response = client.get("/metrics", headers={"Authorization": "Bearer "})
    assert response.status_code == 401
    response = client.get("/metrics", headers={"Authorization": "Bearer anything"})
    assert response.status_code == 401


def test_a_signed_in_clinician_who_is_not_staff_is_refused(client, clinician) -> None:
    client.force_login(clinician)
    assert client.get("/metrics").status_code == 403


@override_settings(METRICS_TOKEN=TOKEN)
def test_the_configured_token_reads_the_metrics(client) -> None:
    samples = scrape(client, Authorization=f"Bearer {TOKEN}")
    assert value(samples, "rms_database_up") == 1


def test_a_staff_user_reads_the_metrics_in_the_browser(client) -> None:
    client.force_login(UserFactory(username="ops", is_staff=True))
    samples = scrape(client)
    assert value(samples, "rms_database_up") == 1


def test_an_inactive_staff_users_session_does_not_read_them(client) -> None:
    user = UserFactory(username="gone", is_staff=True)
    client.force_login(user)
    user.is_active = False
    user.save()
    assert client.get("/metrics").status_code in (401, 403)


def test_a_short_metrics_token_stops_start_up_naming_the_variable() -> None:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    environment["METRICS_TOKEN"] = "short"
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode != 0
    assert "METRICS_TOKEN" in result.stderr


# --- what they say -------------------------------------------------------------------------


@pytest.fixture
def staff_client(client):  # type: ignore[no-untyped-def]
    client.force_login(UserFactory(username="ops", is_staff=True))
    return client


def test_an_empty_installation_reports_zeros_for_every_status(staff_client) -> None:
    samples = scrape(staff_client)
    for status in OutboundMessage.Status.values:
        assert value(samples, "rms_pkb_outbox_messages", status=status) == 0
    assert value(samples, "rms_pkb_outbox_oldest_pending_age_seconds") == 0
    assert value(samples, "rms_pkb_connection_paused") == 0
    for code in ("AA", "AE", "AR"):
        assert value(samples, "rms_pkb_acks_total", code=code) == 0
    assert value(samples, "rms_inbound_unmatched_messages") == 0
    assert value(samples, "rms_work_items_open", kind="threshold_breach", status="open") == 0


def test_the_metrics_count_the_outbox_acks_attempts_inbound_and_work_items(
    staff_client, team, clinician, sandbox, transport, settings
) -> None:
    # One patient delivered in full, another whose registration PKB rejects.
    delivered = PatientFactory(teams=[team])
    ResultFactory(patient=delivered)
    pkb_services.enrolment_opt_in(
        attestation="Consented in clinic, paper form filed", patient=delivered, actor=clinician
    )
    pkb_services.dispatch(transport=transport, budget_s=10)
    accepted = OutboundMessage.objects.filter(patient=delivered).count()
    assert accepted >= 2

    blocked = PatientFactory(teams=[team])
    ResultFactory(patient=blocked)
    pkb_services.enrolment_opt_in(
        attestation="Consented in clinic, paper form filed", patient=blocked, actor=clinician
    )
    registration = OutboundMessage.objects.get(patient=blocked, seq=1)
    sandbox.set_faults(reject_control_ids=[registration.control_id])
    pkb_services.dispatch(transport=transport, budget_s=10)
    waiting = OutboundMessage.objects.filter(patient=blocked, status="pending").count()
    assert waiting >= 1

    # A result for a patient nobody knows: held, and a work item raised for it.
    receive(raw=sample_bytes("oru_r01_psa.hl7"), channel="mllp")
    # A result acknowledged on storing, not yet filed (the filer's doorbell does not ring in
    # a test's transaction).
    settings.INBOUND_ACK_AFTER = "storing"
    receive(raw=sample_bytes("oru_r01_psa.hl7").replace(b"LAB0000101", b"LAB9"), channel="mllp")

    with time_machine.travel(timezone.now() + dt.timedelta(minutes=10)):
        samples = scrape(staff_client)

    assert value(samples, "rms_pkb_outbox_messages", status="delivered") == accepted
    assert value(samples, "rms_pkb_outbox_messages", status="rejected") == 1
    assert value(samples, "rms_pkb_outbox_messages", status="pending") == waiting
    assert 590 <= value(samples, "rms_pkb_outbox_oldest_pending_age_seconds") <= 700
    assert value(samples, "rms_pkb_acks_total", code="AA") == accepted
    assert value(samples, "rms_pkb_acks_total", code="AR") == 1
    assert value(samples, "rms_pkb_delivery_attempts_total", outcome="accepted") == accepted
    assert value(samples, "rms_pkb_delivery_attempts_total", outcome="rejected") == 1
    assert value(samples, "rms_pkb_delivery_attempts_total", outcome="transient") == 0
    assert value(samples, "rms_inbound_messages", status="unmatched") == 1
    assert value(samples, "rms_inbound_unmatched_messages") == 1
    assert 590 <= value(samples, "rms_inbound_oldest_unmatched_age_seconds") <= 700
    assert value(samples, "rms_inbound_messages", status="received") == 1
    assert 590 <= value(samples, "rms_inbound_oldest_unfiled_age_seconds") <= 700
    assert value(samples, "rms_inbound_last_received_timestamp_seconds", channel="mllp") > 0
    assert value(samples, "rms_work_items_open", kind="unmatched_message", status="open") == 1
    assert value(samples, "rms_work_items_open", kind="delivery_failure", status="open") == 1


def test_the_metrics_name_no_patient(staff_client, team, clinician) -> None:
    patient = PatientFactory(teams=[team], nhs_number="9434765919", family_name="Zebedee")
    pkb_services.enrolment_opt_in(
        attestation="Consented in clinic, paper form filed", patient=patient, actor=clinician
    )
    text = staff_client.get("/metrics").content.decode()
    assert "rms_pkb_outbox_messages" in text
    assert "9434765919" not in text
    assert "Zebedee" not in text
    assert str(patient.public_id) not in text


def test_a_paused_connection_shows(staff_client, team, clinician, sandbox) -> None:
    patient = PatientFactory(teams=[team])
    pkb_services.enrolment_opt_in(
        attestation="Consented in clinic, paper form filed", patient=patient, actor=clinician
    )
    wrong = PkbTransport(sandbox.url, "rms", "wrong", connect_timeout_s=2.0, deadline_s=3.0)
    try:
        pkb_services.dispatch(transport=wrong, budget_s=5)
    finally:
        wrong.close()
    samples = scrape(staff_client)
    assert value(samples, "rms_pkb_connection_paused") == 1
    assert value(samples, "rms_pkb_delivery_attempts_total", outcome="paused") >= 1


def test_the_events_lag_and_backlog_are_reported_by_consumer(staff_client, team, clinician) -> None:
    from rms import events
    from rms.models import DomainEvent

    def broken(event: DomainEvent) -> None:
        raise RuntimeError("a bug")

    patient = PatientFactory(
        nhs_number="9990000018",
        mrn="RXX1234567",
        family_name="Tester",
        date_of_birth=dt.date(1958, 2, 14),
        teams=[team],
    )
    events.register_consumer("tests.broken", [DomainEvent.Kind.RESULT_RECORDED], broken)
    try:
        receive(raw=sample_bytes("oru_r01_psa.hl7"), channel="mllp")
        samples = scrape(staff_client)
    finally:
        events.unregister_consumer("tests.broken")
    assert patient.results.count() == 1
    assert value(samples, "rms_event_deliveries_pending", consumer="careplans.monitoring") == 0
    assert value(samples, "rms_event_deliveries_pending", consumer="tests.broken") == 1
    assert value(samples, "rms_event_deliveries_failing", consumer="tests.broken") == 1
    lag = value(samples, "rms_event_lag_p95_seconds", consumer="careplans.monitoring")
    assert 0 < lag < 2, "consumed at commit, in-process"
    assert value(samples, "rms_event_lag_p95_seconds", consumer="tests.broken") == 0
