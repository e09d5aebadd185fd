"""Filing partitioned by patient (``INBOUND_ACK_AFTER=storing`` on PostgreSQL): while one
filer is filing a patient, another files everyone else and passes that patient's messages
over, and nothing of theirs (nor a correction of one of their results sent under another
patient) overtakes what is waiting.

"Another filer" is a second database connection holding the patient's filing key, as a
filer in another worker does while it files them (rms.inbound.partition). The doorbell is
lost (as when Redis restarts) so that the test decides when the filer runs.
"""

from __future__ import annotations

import datetime as dt
import importlib
import os
import threading
from collections.abc import Iterator

import pytest
from django.db import connection, connections, transaction

from rms.inbound import partition, receive
from rms.inbound.receive import inbound_file_queued
from rms.models import InboundMessage, Patient, Result
from tests.factories import PatientFactory, TeamFactory
from tests.rms.hl7.samples import sample_bytes

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        "postgres" not in os.environ.get("DATABASE_URL", ""),
        reason="needs PostgreSQL (DATABASE_URL), as in CI's second run",
    ),
]

Status = InboundMessage.Status
# The package's ``receive`` is the function; its module holds the doorbell.
receive_module = importlib.import_module("rms.inbound.receive")


@pytest.fixture(autouse=True)
def storing_with_the_doorbell_lost(settings, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    settings.INBOUND_ACK_AFTER = "storing"
    monkeypatch.setattr(receive_module.doorbell, "send", lambda: None)


@pytest.fixture
def patients() -> list[Patient]:
    team = TeamFactory(code="URO")
    names = ["ASHWORTH", "BRENNAN", "CARTWRIGHT", "DUNMORE"]
    return [
        PatientFactory(family_name=name.title(), date_of_birth=dt.date(1958, 2, 14), teams=[team])
        for name in names
    ]


def oru(patient: Patient, control_id: str, filler: str, value: str, status: str = "F") -> bytes:
    return (
        sample_bytes("oru_r01_psa.hl7")
        .replace(b"9990000018", patient.nhs_number.encode())
        .replace(b"RXX1234567", patient.mrn.encode())
        .replace(b"TESTER", patient.family_name.upper().encode())
        .replace(b"LAB0000101", control_id.encode())
        .replace(b"26L0045123", filler.encode())
        .replace(b"||0.24|", f"||{value}|".encode())
        .replace(b"||CH|F", f"||CH|{status}".encode())
    )


class KeyHolder:
    """Another connection holding a filing key in an open transaction, as a filer does."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.taken = threading.Event()
        self.release = threading.Event()
        self.thread = threading.Thread(target=self._hold, daemon=True)

    def _hold(self) -> None:
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(
                    "SELECT pg_advisory_xact_lock(%s, %s)",
                    [partition.LOCK_CLASS, partition.lock_id(self.key)],
                )
                self.taken.set()
                self.release.wait(30)
        finally:
            connections.close_all()

    def __enter__(self) -> KeyHolder:
        self.thread.start()
        assert self.taken.wait(10), "the other connection could not take the key"
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.thread.join(10)


@pytest.fixture
def held() -> Iterator[type[KeyHolder]]:
    yield KeyHolder


def statuses(*control_ids: str) -> list[str]:
    rows = InboundMessage.objects.filter(control_id__in=control_ids)
    found = dict(rows.values_list("control_id", "status"))
    return [found[c] for c in control_ids]


def test_a_patient_being_filed_elsewhere_is_passed_over_and_everyone_else_is_filed(
    patients: list[Patient], held
) -> None:  # type: ignore[no-untyped-def]
    ash, bren, cart, _ = patients
    receive(raw=oru(ash, "A1", "FA1", "0.10"), channel="mllp")
    receive(raw=oru(bren, "B1", "FB1", "0.20"), channel="mllp")
    receive(raw=oru(ash, "A2", "FA1", "0.11", status="C"), channel="mllp")
    receive(raw=oru(cart, "C1", "FC1", "0.30"), channel="mllp")
    receive(raw=oru(bren, "B2", "FB2", "0.21"), channel="mllp")

    with held(f"id:{ash.nhs_number}"):
        assert inbound_file_queued() == 3
        assert statuses("A1", "B1", "A2", "C1", "B2") == [
            Status.RECEIVED,
            Status.PROCESSED,
            Status.RECEIVED,
            Status.PROCESSED,
            Status.PROCESSED,
        ]
        assert not Result.objects.filter(patient=ash).exists()

    assert inbound_file_queued() == 2
    result = Result.objects.get(patient=ash)
    assert (result.status, result.version) == ("corrected", 2), "the correction came second"
    assert result.observations.get(superseded_at__isnull=True).value_text == "0.11"
    assert Result.objects.count() == 4
    assert inbound_file_queued() == 0, "nothing is filed twice"


def test_a_correction_sent_under_another_patient_waits_for_the_original(
    patients: list[Patient], held
) -> None:  # type: ignore[no-untyped-def]
    ash, _, _, dun = patients
    receive(raw=oru(ash, "A1", "FX1", "0.10"), channel="mllp")
    # The same filler order number under Dunmore: it meets Ashworth's result, so it must not
    # be filed while Ashworth's original waits.
    receive(raw=oru(dun, "D1", "FX1", "0.12", status="C"), channel="mllp")
    receive(raw=oru(dun, "D2", "FD2", "0.40"), channel="mllp")

    with held(f"id:{ash.mrn}"):
        assert inbound_file_queued() == 0
        assert statuses("A1", "D1", "D2") == [Status.RECEIVED] * 3, (
            "Dunmore's next result waits behind his correction, which waits for the original"
        )

    assert inbound_file_queued() == 3
    assert statuses("A1", "D1", "D2")[0] == Status.PROCESSED
    original = InboundMessage.objects.get(control_id="A1")
    correction = InboundMessage.objects.get(control_id="D1")
    assert original.processed_at is not None and correction.processed_at is not None
    assert original.processed_at <= correction.processed_at


def test_a_message_stored_before_its_keys_were_kept_is_keyed_from_its_content(
    patients: list[Patient], held
) -> None:  # type: ignore[no-untyped-def]
    ash, bren, _, _ = patients
    receive(raw=oru(ash, "A1", "FA1", "0.10"), channel="mllp")
    receive(raw=oru(bren, "B1", "FB1", "0.20"), channel="mllp")
    InboundMessage.objects.update(filing_keys="")  # as stored by an earlier release

    with held(f"id:{ash.nhs_number}"):
        assert inbound_file_queued() == 1
        assert statuses("A1", "B1") == [Status.RECEIVED, Status.PROCESSED]
    assert inbound_file_queued() == 1
