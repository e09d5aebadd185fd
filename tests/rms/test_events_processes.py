"""Result events consumed by real Celery workers (their own processes, Redis as the broker,
PostgreSQL): every doorbell lost, beat's sweep finds the events; two workers at once consume
each event once per consumer, a patient's events in order. PostgreSQL and Redis only, as in
CI's second run (another process cannot share SQLite's in-memory test database)."""

from __future__ import annotations

import datetime as dt
import importlib
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from django.apps import apps as django_apps

from careplans.followup import services as plan_services
from careplans.models import Pathway
from rms.inbound import receive
from rms.models import DomainEvent, EventDelivery, Role
from tests.factories import MembershipFactory, PatientFactory, TeamFactory, UserFactory
from tests.processes import (
    NEEDS_POSTGRESQL_AND_REDIS,
    empty_broker,
    started_processes,
)
from tests.rms.hl7.samples import sample_bytes
from worklists.models import WorkItem

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [
    pytest.mark.celery_worker,
    pytest.mark.django_db(transaction=True),
    NEEDS_POSTGRESQL_AND_REDIS,
]


@pytest.fixture
def broker() -> Iterator[redis.Redis]:
    yield from empty_broker()


@pytest.fixture
def start(broker: redis.Redis) -> Iterator[Callable[..., subprocess.Popen[str]]]:
    yield from started_processes(EVENTS_SWEEP_INTERVAL_S="1")


def oru(
    control_id: str, nhs_number: str, filler: str, value: str, status: str, taken: str
) -> bytes:
    return (
        sample_bytes("oru_r01_psa.hl7")
        .replace(b"LAB0000101", control_id.encode())
        .replace(b"9990000018", nhs_number.encode())
        .replace(b"RXX1234567", f"RXX{nhs_number[-7:]}".encode())
        .replace(b"20261110083000", taken.encode())
        .replace(b"26L0045123", filler.encode())
        .replace(b"||0.24|", f"||{value}|".encode())
        .replace(b"||CH|F", f"||CH|{status}".encode())
    )


def on_plan(nhs_number: str):  # type: ignore[no-untyped-def]
    team = TeamFactory(code=f"U{nhs_number[-3:]}")
    patient = PatientFactory(
        nhs_number=nhs_number,
        mrn=f"RXX{nhs_number[-7:]}",
        family_name="Tester",
        date_of_birth=dt.date(1958, 2, 14),
        teams=[team],
    )
    plan_services.plan_start(
        patient=patient,
        pathway=Pathway.objects.get(code="prostate-post-prostatectomy"),
        anchor_date=dt.date(2025, 1, 15),
        actor=MembershipFactory(team=team, role=Role.CLINICIAN, user=UserFactory()).user,
    )
    return patient


@pytest.fixture
def pathways(transactional_db: None) -> None:
    """An earlier transactional test may have emptied the rows the migrations seed."""
    for module in (
        "careplans.migrations.0002_seed_pathways",
        "careplans.migrations.0008_monitoring_definitions",
        "worklists.migrations.0003_seed_outcomes",
    ):
        importlib.import_module(module).seed(django_apps, None)


def wait_for_all_consumed(seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while EventDelivery.objects.filter(done_at__isnull=True).exists():
        assert time.monotonic() < deadline, "the events were not consumed"
        time.sleep(0.3)


def test_events_whose_doorbells_were_lost_are_consumed_by_the_sweep_once_in_order(
    start, broker, pathways
) -> None:  # type: ignore[no-untyped-def]
    patients = [on_plan(n) for n in ("9990000018", "9990000026")]
    for n, patient in enumerate(patients):
        # A confirmed rise over 0.2 after prostatectomy (0.21, then 0.24): one breach each,
        # then the lab's correction of the second value and a resend of it.
        for control, filler, value, status, taken in (
            ("A", "F1", "0.21", "F", "20260802083000"),
            ("B", "F2", "0.24", "F", "20261110083000"),
            ("C", "F2", "0.25", "C", "20261110083000"),
        ):
            raw = oru(f"{control}{n}", patient.nhs_number, f"{filler}{n}", value, status, taken)
            assert b"MSA|AA|" in receive(raw=raw, channel="mllp")
    time.sleep(0.3)  # the doorbell's trailing ring, too
    broker.flushdb()  # every doorbell lost: only the event rows know
    assert DomainEvent.objects.count() == 6, "every message filed"
    assert EventDelivery.objects.filter(done_at__isnull=True).count() == 12

    worker = ("-m", "celery", "-A", "rms", "worker", "--pool=prefork", "--concurrency=2",
              "--without-gossip", "--without-mingle", "--loglevel=WARNING")  # fmt: skip
    start(*worker, "-n", "one@%h")
    start(*worker, "-n", "two@%h")
    start("-m", "celery", "-A", "rms", "beat", "--loglevel=WARNING",
          "--schedule", str(ROOT / "var" / "test-events-beat-schedule"))  # fmt: skip
    wait_for_all_consumed()
    time.sleep(2)  # more sweeps, each finding nothing left to do

    assert set(EventDelivery.objects.values_list("attempts", flat=True)) == {1}, "once each"
    for patient in patients:
        assert (
            WorkItem.objects.filter(patient=patient, kind=WorkItem.Kind.THRESHOLD_BREACH).count()
            == 1
        )
        for consumer in ("careplans.monitoring", "pkb_bridge.share"):
            done = [
                d.done_at
                for d in EventDelivery.objects.filter(
                    consumer=consumer, patient_id=patient.pk
                ).order_by("event_id")
                if d.done_at is not None
            ]
            assert len(done) == 3 and done == sorted(done), "in the order they happened"
    kinds = DomainEvent.objects.filter(patient=patients[0]).order_by("id")
    assert [e.kind for e in kinds] == [
        DomainEvent.Kind.RESULT_RECORDED,
        DomainEvent.Kind.RESULT_RECORDED,
        DomainEvent.Kind.RESULT_CORRECTED,
    ]
