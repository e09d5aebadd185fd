"""The metrics collected from every app's registered collector are the metrics ``/metrics``
served before the apps registered them: the same names, labels and values (recorded in
``metrics_expected.json`` from a scrape taken before the registry existed)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
import time_machine
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from pkb_bridge import services as pkb_services
from rms.inbound import receive
from tests.factories import PatientFactory, ResultFactory, UserFactory
from tests.rms.hl7.samples import sample_bytes

pytestmark = pytest.mark.django_db

EXPECTED = Path(__file__).with_name("metrics_expected.json")
# Times of day and durations of the scrape itself are not the same from one run to the next.
VARYING = {"rms_metrics_collect_seconds", "rms_inbound_last_received_timestamp_seconds"}


def _scrape(client) -> list[list[object]]:  # type: ignore[no-untyped-def]
    response = client.get("/metrics")
    assert response.status_code == 200
    rows = []
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            if sample.name in VARYING:
                continue
            rows.append(
                [sample.name, [list(kv) for kv in sorted(sample.labels.items())], sample.value]
            )
    return sorted(rows, key=lambda row: json.dumps(row[:2]))


def test_every_app_registers_its_collector() -> None:
    from rms.ops.metrics import registered_collectors

    assert {"inbound", "events", "pkb_bridge", "worklists"} <= set(registered_collectors())


def test_the_scrape_is_the_one_served_before_the_registry(client, team, clinician) -> None:
    start = timezone.make_aware(dt.datetime(2026, 11, 10, 9, 0))
    with time_machine.travel(start, tick=False):
        patient = PatientFactory(teams=[team])
        ResultFactory(patient=patient)
        pkb_services.enrolment_opt_in(
            attestation="Consented in clinic, paper form filed", patient=patient, actor=clinician
        )
        # A result for a patient nobody knows: held, and a work item raised for it.
        receive(raw=sample_bytes("oru_r01_psa.hl7"), channel="mllp")
    client.force_login(UserFactory(username="ops", is_staff=True))
    with time_machine.travel(start + dt.timedelta(minutes=10), tick=False):
        rows = _scrape(client)
    # The domain events' families came after that scrape was recorded (ADR 2): one sample of
    # each per consumer, the rest exactly as before.
    events = [row for row in rows if str(row[0]).startswith("rms_event_")]
    assert {(row[0], row[1][0][1]) for row in events} == {
        (name, consumer)
        for name in (
            "rms_event_deliveries_pending",
            "rms_event_deliveries_failing",
            "rms_event_lag_p95_seconds",
        )
        for consumer in ("careplans.monitoring", "pkb_bridge.share")
    }
    rest = [row for row in rows if row not in events]
    assert rest == json.loads(EXPECTED.read_text())
