"""The express filing of new results (``rms.inbound.express``, PostgreSQL, filing mode).

What it must do is what the general path does: the same rows for the same message, column by
column (the message with its acknowledgement, the results, their observations, the change
log's entries, the events and their deliveries), and for anything that is not a message of
new results for a patient matched outright, the general path's own answer. The expected rows
are not written here by hand: they are the general path's, for the same messages, in the
same test.
"""

from __future__ import annotations

import datetime as dt
import importlib
import json
import os
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from auditlog.models import LogEntry
from django.db import connections

from rms.inbound import express
from rms.models import DomainEvent, EventDelivery, InboundMessage, Observation, Result
from tests.factories import PatientFactory
from tests.rms.hl7.samples import message, sample_bytes

pytestmark = pytest.mark.skipif(
    "postgres" not in os.environ.get("DATABASE_URL", ""),
    reason="needs PostgreSQL (DATABASE_URL), as in CI's second run",
)

Status = InboundMessage.Status
receive_module = importlib.import_module("rms.inbound.receive")
PID = "PID|1||9990000018^^^NHS^NH~RXX1234567^^^RXX^MR||TESTER^Alan^James^^Mr||19580214|M"


def msh(control_id: str, app: str = "WINPATH", charset: str = "") -> str:
    return f"MSH|^~\\&|{app}|RXX01|RMS|RXX|20261110141502||ORU^R01^ORU_R01|{control_id}|P|2.4" + (
        f"|||AL|NE||{charset}" if charset else ""
    )


def varied() -> list[bytes]:
    """New results of the shapes a lab and a radiology system send: a panel with a flag and
    a note, a radiology report, two reports in one message, a comparator, text values, a
    preliminary report, a withdrawn line beside a current one, and non-ASCII text."""
    two_reports = message(
        msh("X1"),
        PID,
        "ORC|RE|ORD1|X1F1",
        "OBR|1|ORD1|X1F1|PSA^PSA^WINPATH|||20261101083000|||||||20261101091500||||||||20261101141500||CH|F",
        "OBX|1|SN|PSA^PSA^WINPATH||<^0.01|ug/L|0.00-4.00|N|||F|||20261101083000",
        "ORC|RE|ORD2|X1F2",
        "OBR|2|ORD2|X1F2|LFT^Liver^WINPATH|||20261101083000|||||||20261101091500||||||||20261101141500||CH|P",
        "OBX|1|NM|ALT^ALT^WINPATH||41|U/L|0-40|H|||P|||20261101083000",
        "OBX|2|ST|COMM^Comment^WINPATH||Sample lipaemic|||||P|||20261101083000",
        "OBX|3|NM|ALP^ALP^WINPATH||0.2 (H)|U/L|30-130||||F|||20261101083000",
        "OBX|4|NM|BIL^Bilirubin^WINPATH||12.345678|umol/L|0-21|N|||W|||20261101083000",
    )
    utf8 = message(
        msh("X2", charset="UNICODE UTF-8"),
        PID,
        "ORC|RE|ORD3|X2F1",
        "OBR|1|ORD3|X2F1|MIC^Microbiology^WINPATH|||20261102083000|||||||20261102091500||||||||20261102141500||MB|F",
        "OBX|1|TX|CULT^Culture^WINPATH||Growth of Staphylococcus aureus — sensitive (Zoë)||||||F",
    ).encode("utf-8")
    return [
        sample_bytes("oru_r01_psa.hl7"),
        sample_bytes("oru_r01_bloods_panel.hl7"),
        sample_bytes("oru_r01_radiology_report.hl7"),
        two_reports.encode(),
        utf8,
    ]


@pytest.fixture
def general_path_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many messages the general path processed (a pass-through count of its ``_run``)."""
    calls: list[int] = []
    run = receive_module._run

    def counted(message: InboundMessage, **kwargs: Any) -> None:
        calls.append(message.pk)
        run(message, **kwargs)

    monkeypatch.setattr(receive_module, "_run", counted)
    return calls


def receive(raw: bytes) -> bytes:
    return receive_module.receive(raw=raw, channel="mllp", peer="127.0.0.1")


def _without_msh7_and_10(ack: str) -> str:
    fields = ack.split("\r")[0].split("|")
    fields[6] = fields[9] = ""
    return "\r".join(["|".join(fields), *ack.split("\r")[1:]])


def snapshot() -> dict[str, list[dict[str, Any]]]:
    """Every row the filing wrote, with what differs between two fillings of the same
    message by nature (ids, random public ids, the clock, the ACK's own time and control id)
    left out, and each reference given as the position of the row it points at."""
    messages = list(InboundMessage.objects.order_by("id").values())
    results = list(Result.objects.order_by("id").values())
    events = list(DomainEvent.objects.order_by("id").values())
    message_at = {row["id"]: n for n, row in enumerate(messages)}
    result_at = {row["id"]: n for n, row in enumerate(results)}
    event_at = {row["id"]: n for n, row in enumerate(events)}
    times = {"received_at", "processed_at", "created_at", "updated_at", "next_attempt_at"}

    def plain(row: dict[str, Any], *drop: str) -> dict[str, Any]:
        return {k: v for k, v in row.items() if k not in {"id", "public_id", *times, *drop}}

    def entry(row: dict[str, Any]) -> dict[str, Any]:
        changes = dict(row["changes"] or {})
        for key in ("id", "public_id", "created_at", "updated_at"):
            assert changes.pop(key)[0] == "None"
        changes["last_message"] = ["None", str(message_at[int(changes["last_message"][1])])]
        return {
            **plain(row, "timestamp", "object_pk", "object_id", "changes"),
            "object": result_at[row["object_id"]],
            "changes": changes,
        }

    return {
        "messages": [
            {**plain(row, "ack"), "ack": _without_msh7_and_10(row["ack"])} for row in messages
        ],
        "results": [
            {**plain(row, "last_message_id"), "message": message_at[row["last_message_id"]]}
            for row in results
        ],
        "observations": [
            {**plain(row, "result_id"), "result": result_at[row["result_id"]]}
            for row in Observation.objects.order_by("result_id", "sequence").values()
        ],
        "entries": [
            entry(row)
            for row in LogEntry.objects.filter(action=LogEntry.Action.CREATE)
            .order_by("object_id")
            .values()
            if row["object_id"] in result_at and row["content_type_id"] == _result_type()
        ],
        "events": [
            {**plain(row, "subject_id"), "subject": result_at[row["subject_id"]]} for row in events
        ],
        "deliveries": [
            {**plain(row, "event_id", "done_at", "lag_s"), "event": event_at[row["event_id"]]}
            for row in EventDelivery.objects.order_by("event_id", "id").values()
        ],
    }


def _result_type() -> int:
    from django.contrib.contenttypes.models import ContentType

    return ContentType.objects.get_for_model(Result).pk


def forget_filings() -> None:
    EventDelivery.objects.all().delete()
    DomainEvent.objects.all().delete()
    Observation.objects.all().delete()
    LogEntry.objects.filter(content_type_id=_result_type()).delete()
    Result.objects.all().delete()
    InboundMessage.objects.all().delete()


@pytest.mark.django_db
def test_the_express_path_writes_the_rows_the_general_path_writes(
    tester: Any, settings: Any, general_path_calls: list[int]
) -> None:
    messages = varied()
    settings.INBOUND_EXPRESS = False
    general_acks = [receive(raw) for raw in messages]
    assert len(general_path_calls) == len(messages)
    expected = snapshot()
    forget_filings()

    settings.INBOUND_EXPRESS = True
    express_acks = [receive(raw) for raw in messages]
    assert len(general_path_calls) == len(messages), "every one of them took the express path"
    got = snapshot()

    assert [_without_msh7_and_10(a.decode()) for a in express_acks] == [
        _without_msh7_and_10(a.decode()) for a in general_acks
    ]
    assert all(b"MSA|AA|" in ack for ack in express_acks)
    assert len(expected["results"]) == 6 and len(expected["observations"]) == 10
    for table in expected:
        assert got[table] == expected[table], table
    # The values as filed, read back: the comparator, the text kept as sent, the rounding.
    psa = Observation.objects.get(code="PSA", result__filler_order_number="X1F1")
    assert (psa.comparator, str(psa.value_numeric), psa.value_text) == ("<", "0.010000", "<0.01")
    culture = Observation.objects.get(code="CULT")
    assert culture.value_text == "Growth of Staphylococcus aureus — sensitive (Zoë)"
    # The times the snapshot leaves out: the change log's entry names the row's own.
    for result in Result.objects.all():
        entry = LogEntry.objects.get(content_type_id=_result_type(), object_id=result.pk)
        assert entry.changes["created_at"][1] == str(
            result.created_at.astimezone(dt.UTC).replace(tzinfo=None)
        )
        assert entry.changes["updated_at"][1] == str(
            result.updated_at.astimezone(dt.UTC).replace(tzinfo=None)
        )
    for row in InboundMessage.objects.all():
        assert row.processed_at is not None and row.received_at <= row.processed_at
    stored = InboundMessage.objects.get(control_id="X2")
    assert stored.raw_bytes == messages[4]


def oru(control_id: str, filler: str, value: str, *, app: str = "WINPATH", pid: str = PID) -> bytes:
    return message(
        msh(control_id, app=app),
        pid,
        f"ORC|RE|ORD{filler}|{filler}",
        f"OBR|1|ORD{filler}|{filler}|PSA^PSA^WINPATH|||20261110083000|||||||20261110083000||||||||"
        "20261110141500||CH|F",
        f"OBX|1|NM|PSA^PSA^WINPATH||{value}|ug/L|0.00-4.00|N|||F|||20261110083000",
    ).encode()


@pytest.mark.django_db
def test_what_is_not_new_results_for_a_matched_patient_gets_the_general_paths_answer(
    tester: Any, general_path_calls: list[int]
) -> None:
    # New: the express path.
    assert b"MSA|AA|" in receive(oru("C1", "F1", "0.04"))
    assert general_path_calls == []
    # A resend under the same control id: the stored acknowledgement, nothing filed twice.
    first_ack = InboundMessage.objects.get(control_id="C1").ack
    assert receive(oru("C1", "F1", "0.04")).decode() == first_ack
    assert InboundMessage.objects.filter(control_id="C1").count() == 1
    # A correction (the filler order number is filed): version 2, by the general path.
    assert b"MSA|AA|" in receive(oru("C2", "F1", "0.09"))
    result = Result.objects.get(filler_order_number="F1")
    assert result.version == 2
    assert [o.value_text for o in result.observations.filter(superseded_at__isnull=True)] == [
        "0.09"
    ]
    # Another sender's report under that number for this patient: held, nothing filed.
    assert b"MSA|AA|" in receive(oru("C3", "F1", "0.5", app="OTHERLAB"))
    held = InboundMessage.objects.get(control_id="C3")
    assert held.status == Status.REVIEW
    assert held.sender_check == InboundMessage.SenderCheck.OTHER_SENDER
    # A patient we do not know: held unmatched, with the message kept.
    unknown = "PID|1||9990000026^^^NHS^NH||NOBODY^Nat||19600101|F"
    assert b"MSA|AA|" in receive(oru("C4", "F9", "1.0", pid=unknown))
    assert InboundMessage.objects.get(control_id="C4").status == Status.UNMATCHED
    assert not Result.objects.filter(filler_order_number="F9").exists()
    # The same filler order number for a different patient: held as a possible wrong patient.
    other = PatientFactory(
        nhs_number="9990000034", mrn="", family_name="Other", date_of_birth=dt.date(1960, 1, 1)
    )
    other_pid = f"PID|1||{other.nhs_number}^^^NHS^NH||OTHER^Olive||19600101|F"
    receive(oru("C5", "F1", "0.04", pid=other_pid))
    assert InboundMessage.objects.get(control_id="C5").status == Status.REVIEW
    assert Result.objects.get(filler_order_number="F1").patient_id == tester.pk
    # A message whose content does not parse (OBR-7 is not a time): refused, and kept.
    bad = oru("C6", "F6", "0.04").replace(b"|||20261110083000|||", b"|||not-a-time|||", 1)
    ack = receive(bad)
    assert b"MSA|AE|" in ack or b"MSA|AR|" in ack
    assert InboundMessage.objects.get(control_id="C6").status == Status.ERROR
    assert len(general_path_calls) == 5  # C2 to C6; the resend was answered before filing


@pytest.mark.django_db
def test_a_report_dated_before_the_patients_birth_is_refused_as_before(
    tester: Any, general_path_calls: list[int]
) -> None:
    raw = oru("B1", "FB1", "0.04").replace(b"20261110083000", b"19500101083000")
    ack = receive(raw)
    assert general_path_calls, "the general path decided it"
    assert b"MSA|AA|" not in ack
    assert not Result.objects.filter(filler_order_number="FB1").exists()
    assert InboundMessage.objects.get(control_id="B1").status == Status.ERROR


@pytest.fixture
def committed_patient(transactional_db: None) -> Iterator[Any]:
    yield PatientFactory(
        nhs_number="9990000018",
        mrn="RXX1234567",
        family_name="Tester",
        date_of_birth=dt.date(1958, 2, 14),
    )


def in_threads(calls: list[Callable[[], bytes]]) -> list[bytes]:
    """Run each call on its own thread and database connection, all released at once."""
    start = threading.Barrier(len(calls))
    answers: list[bytes] = [b""] * len(calls)

    def run(n: int) -> None:
        try:
            start.wait()
            answers[n] = calls[n]()
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(n,)) for n in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return answers


def test_two_connections_filing_the_same_new_report_at_once_file_it_once(
    committed_patient: Any,
) -> None:
    # Two engines (or a resend under a new control id) racing with the same new report: the
    # unique key stops the second statement, which writes nothing; the general path then
    # finds the first's result and files the second as a resend (nothing changed).
    for round_ in range(5):
        raws = [
            oru(f"R{round_}a", f"RF{round_}", "0.04"),
            oru(f"R{round_}b", f"RF{round_}", "0.04"),
        ]
        answers = in_threads([lambda raw=raw: receive(raw) for raw in raws])
        assert all(b"MSA|AA|" in answer for answer in answers), answers
        assert Result.objects.filter(filler_order_number=f"RF{round_}").count() == 1
        statuses = set(
            InboundMessage.objects.filter(control_id__startswith=f"R{round_}").values_list(
                "status", flat=True
            )
        )
        assert statuses == {Status.PROCESSED}
        result = Result.objects.get(filler_order_number=f"RF{round_}")
        assert result.observations.count() == 1 and result.version == 1
        assert DomainEvent.objects.filter(subject_id=result.pk).count() == 1


@pytest.mark.django_db
def test_the_express_path_is_off_where_it_does_not_apply(settings: Any) -> None:
    assert express.enabled()
    settings.INBOUND_ACK_AFTER = "storing"
    assert not express.enabled()
    settings.INBOUND_ACK_AFTER = "filing"
    settings.INBOUND_EXPRESS = False
    assert not express.enabled()


def test_the_write_statement_is_short_enough_for_psycopg_to_keep_its_parsing(db: None) -> None:
    # psycopg caches the parsing of a statement of up to 4 KiB; a longer one is parsed again
    # at every message (a few hundred microseconds). A column added to one of the six tables
    # may cross it: then shorten the statement.
    from psycopg import _queries

    express._prepare()
    assert len(express._sql["write"]) <= _queries.MAX_CACHED_STATEMENT_LENGTH
    json.dumps(express._sql)  # plain text, no parameters baked in


def test_nothing_but_the_change_log_listens_to_the_rows_it_writes(db: None) -> None:
    # The express path writes its rows without Django's save, so without the model signals;
    # it writes the change log's entries itself. A receiver added later to one of these
    # models would be passed over for every message it files: add it to the express path
    # (or decline there) when this fails.
    from django.db.models.signals import post_save, pre_save

    for model in (InboundMessage, Result, Observation, DomainEvent, EventDelivery, LogEntry):
        for signal in (pre_save, post_save):
            modules = {receiver.__module__ for receiver in signal._live_receivers(model)[0]}
            assert modules <= {"auditlog.receivers"}, (model.__name__, modules)
