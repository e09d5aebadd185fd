"""``manage.py import_history``: a cohort's history of results, filed in bulk through the live
feed's checks (issue "Go-live at Trust scale", section 1; docs/operations.md, "Going live").

The expected outcomes are worked out from the sources the live feed follows: HL7 v2.4 chapter 2
(batch protocol: FHS/BHS/BTS/FTS around the messages, 2.10.3) and chapter 7 (ORU^R01, OBR-3
filler order number, OBR-25 result status table 0123, OBX-8 abnormal flags table 0078), the
matching rules of docs/security.md ("Patient matching": an NHS number whose date of birth or
family name disagree is a possible wrong patient, held), and for monitoring the EAU definition
of biochemical recurrence after prostatectomy (PSA > 0.2 ug/L, confirmed), as the
post-prostatectomy pathway encodes it.
"""

from __future__ import annotations

import datetime as dt
import io
import os
from pathlib import Path

import pytest
from auditlog.diff import model_instance_diff
from auditlog.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core.management import call_command
from django.core.management.base import CommandError

from careplans.followup import services as plan_services
from careplans.models import Pathway
from pkb_bridge import services as pkb_services
from pkb_bridge.models import OutboundMessage, Publication
from rms.audit_trail import change_entries
from rms.inbound import history, receive
from rms.models import InboundMessage, Observation, Patient, Result
from rms.services import system_user
from tests.factories import PatientFactory
from worklists.models import WorkItem

pytestmark = pytest.mark.django_db

needs_postgresql = pytest.mark.skipif(
    "postgres" not in os.environ.get("DATABASE_URL", ""),
    reason="needs PostgreSQL (DATABASE_URL), as in CI's second run",
)


def oru(
    control: str,
    fon: str,
    value: str,
    *,
    when: str = "20250110083000",
    nhs: str = "9990000018",
    mrn: str = "RXX1234567",
    family: str = "TESTER",
    born: str = "19580214",
    code: str = "PSA",
    flag: str = "",
    status: str = "F",
    sep: str = "\r",
) -> str:
    """One ORU^R01 as WinPath sends it (the shared sample oru_r01_psa.hl7, with our values)."""
    return (
        sep.join(
            [
                f"MSH|^~\\&|WINPATH|RXX01|RMS|RXX|{when}||ORU^R01^ORU_R01|{control}|P|2.4|||AL|NE",
                f"PID|1||{nhs}^^^NHS^NH~{mrn}^^^RXX^MR||{family}^Alan^^^Mr||{born}|M",
                f"ORC|RE|ORD{fon}|{fon}",
                f"OBR|1|ORD{fon}|{fon}|{code}^{code}^WINPATH|||{when}|||||||{when}||||||||{when}"
                f"||CH|{status}",
                f"OBX|1|NM|{code}^{code}^WINPATH||{value}|ug/L|0.00-0.10|{flag}|||F|||{when}",
            ]
        )
        + sep
    )


def write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def run(path: Path, *args: str, verbosity: int = 0) -> str:
    """The command's output; when it refused reports, it exits non-zero saying how many."""
    out = io.StringIO()
    try:
        call_command("import_history", str(path), *args, stdout=out, verbosity=verbosity)
    except CommandError as exc:
        refused = counted(out.getvalue(), "Refused")
        assert refused and str(exc).startswith(f"{refused} report(s)"), str(exc)
    return out.getvalue()


def counted(text: str, label: str) -> int:
    [line] = [line for line in text.splitlines() if line.startswith(label + ":")]
    return int(line.rsplit(":", 1)[1])


def test_a_batch_file_with_fhs_bhs_and_plain_messages_files_every_result(
    tester: Patient, tmp_path: Path
) -> None:
    """HL7 v2 2.10.3: a batch is FHS, BHS, messages, BTS, FTS; an extract may also be plain
    messages one after another. Line ends CR, LF or CRLF, MLLP framing bytes around some."""
    batch = (
        "FHS|^~\\&|WINPATH|RXX01|RMS|RXX|20250301||history.hl7\n"
        "BHS|^~\\&|WINPATH|RXX01|RMS|RXX|20250301\n"
        + oru("H1", "L1", "0.01", when="20240110083000", sep="\n")
        + oru("H2", "L2", "0.02", when="20240410083000", sep="\r\n")
        + "BTS|2\nFTS|1\n"
        + "\x0b"
        + oru("H3", "L3", "0.03", when="20240710083000")
        + "\x1c\r"
        + oru("H4", "L4", "<0.01", when="20241010083000", sep="\n")
    )
    out = run(write(tmp_path, "history.hl7", batch))
    assert counted(out, "Filed") == 4
    assert counted(out, "Refused") == 0
    results = Result.objects.filter(patient=tester).order_by("observed_at")
    assert [r.filler_order_number for r in results] == ["L1", "L2", "L3", "L4"]
    assert all(r.source_system == "WINPATH" and r.sender == "WINPATH^RXX01" for r in results)
    values = list(
        Observation.objects.filter(result__patient=tester)
        .order_by("observed_at")
        .values_list("value_numeric", "comparator")
    )
    assert [(str(v), c) for v, c in values] == [
        ("0.010000", ""),
        ("0.020000", ""),
        ("0.030000", ""),
        ("0.010000", "<"),
    ]
    assert not (tmp_path / "history.hl7.report.csv").exists()
    # Each result's creation is in the patient's change history, as a live result's is.
    created = change_entries(patient=tester).filter(
        content_type=ContentType.objects.get_for_model(Result), action=LogEntry.Action.CREATE
    )
    assert sorted(created.values_list("object_id", flat=True)) == sorted(r.pk for r in results)
    entry = created.get(object_id=results[0].pk)
    assert entry.changes["filler_order_number"][1] == "L1"
    # The entry django-auditlog itself makes of a new result.
    expected = model_instance_diff(None, results[0])
    assert entry.changes == {name: list(pair) for name, pair in expected.items()}


def test_refusals_and_holds_are_the_live_feeds_and_listed_by_line(
    tester: Patient, tmp_path: Path
) -> None:
    """The live feed refuses an OBR-25 outside table 0123 (AR, code 103), holds a patient it
    cannot find, holds as a possible wrong patient an NHS number whose date of birth differs,
    and holds a filler order number filed for another patient (docs/security.md)."""
    other = PatientFactory(nhs_number="9990000026", family_name="Other", mrn="RXX7654321")
    Result.objects.create(
        patient=other,
        source_system="WINPATH",
        filler_order_number="TAKEN",
        category="lab",
        observed_at=dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
        sender="WINPATH^RXX01",
    )
    messages = [
        "this line is not HL7\r",
        oru("R1", "GOOD", "0.01"),
        oru("R2", "BADSTATUS", "0.01", status="Q"),
        oru("R3", "NOBODY", "0.01", nhs="9990000034", mrn="RXX0000000"),
        oru("R4", "WRONGDOB", "0.01", born="19600101", mrn=""),
        oru("R5", "TAKEN", "0.01"),
    ]
    # A stray line, then messages of 5 segments on 5 lines: message n starts at line 5n - 3.
    path = write(tmp_path, "extract.hl7", "".join(messages).replace("\r", "\n"))
    out = run(path)
    assert counted(out, "Filed") == 1
    assert counted(out, "Refused") == 2
    assert counted(out, "Held for review") == 3
    report = (tmp_path / "extract.hl7.report.csv").read_text().splitlines()
    assert report[0] == "line,reference,outcome,reason"
    rows = [row.split(",", 3) for row in report[1:]]
    assert [(r[0], r[1], r[2]) for r in rows] == [
        ("1", "", "refused"),
        ("7", "R2", "refused"),
        ("12", "R3", "held"),
        ("17", "R4", "held"),
        ("22", "R5", "held"),
    ]
    assert "outside any message" in rows[0][3]
    assert "OBR-25" in rows[1][3]
    assert "No patient" in rows[2][3]
    assert "date of birth" in rows[3][3]
    assert "different patient" in rows[4][3]
    # No patient data in the report: not the names, NHS numbers or dates of birth sent.
    text = "\n".join(report)
    for secret in ("TESTER", "9990000018", "9990000034", "19600101", "1958"):
        assert secret not in text
    # Held messages wait for an administrator as the live feed's do; nothing of them filed.
    held = InboundMessage.objects.order_by("control_id")
    assert [(m.control_id, m.status) for m in held] == [
        ("R3", InboundMessage.Status.UNMATCHED),
        ("R4", InboundMessage.Status.REVIEW),
        ("R5", InboundMessage.Status.REVIEW),
    ]
    assert not Result.objects.filter(filler_order_number__in=["NOBODY", "WRONGDOB"]).exists()
    assert Result.objects.get(filler_order_number="TAKEN").patient == other
    # Run again: the refusals again, and the command exits non-zero for them (a script sees
    # that something was not imported); the held messages are not stored twice.
    with pytest.raises(CommandError, match=r"^2 report"):
        call_command("import_history", str(path), stdout=io.StringIO(), verbosity=0)
    assert InboundMessage.objects.count() == 3


def test_a_message_is_filed_whole_or_held_whole(tester: Patient, tmp_path: Path) -> None:
    """docs/security.md, "Trust boundaries": a report under a filler order number another
    sending system filed for the patient is held, and every report of its message with it
    (the live feed checks all of a message's reports before it writes any)."""
    Result.objects.create(
        patient=tester,
        source_system="ICE",
        filler_order_number="SHARED",
        category="lab",
        observed_at=dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
        sender="ICE^RXX01",
    )
    two_reports = oru("W1", "FIRST", "0.1") + (
        "OBR|2|ORDSHARED|SHARED|CEA^CEA^WINPATH|||20250110083000|||||||||||||||20250110083000"
        "||CH|F\rOBX|1|NM|CEA^CEA^WINPATH||2.0|ug/L|0-5||||F|||20250110083000\r"
    )
    out = run(write(tmp_path, "w.hl7", two_reports + oru("W2", "OTHER", "0.1")))
    assert counted(out, "Filed") == 1
    assert counted(out, "Held for review") == 2
    assert not Result.objects.filter(filler_order_number="FIRST").exists()
    assert Result.objects.filter(filler_order_number="OTHER").exists()
    held = InboundMessage.objects.get(control_id="W1")
    assert held.sender_check == InboundMessage.SenderCheck.OTHER_SENDER
    assert "ICE^RXX01" in held.error


def test_the_live_feed_gives_the_same_refusal_for_the_same_message(
    tester: Patient, tmp_path: Path
) -> None:
    """Same extraction and validation as the live feed: the reason is the one it records."""
    bad = oru("LIVE1", "BADSTATUS", "0.01", status="Q")
    run(write(tmp_path, "one.hl7", bad))
    [row] = (tmp_path / "one.hl7.report.csv").read_text().splitlines()[1:]
    receive(raw=bad.encode(), channel=InboundMessage.Channel.MLLP, peer="127.0.0.1")
    live = InboundMessage.objects.get(control_id="LIVE1")
    assert live.status == InboundMessage.Status.ERROR
    assert live.error.split(":")[0] in row


def test_running_the_same_file_again_files_nothing_twice(tester: Patient, tmp_path: Path) -> None:
    """Results are recognised by sending system and filler order number (OBR-3) with the same
    content: a second run finds every one present."""
    path = write(tmp_path, "h.hl7", oru("A1", "F1", "0.1") + oru("A2", "F2", "0.2"))
    assert counted(run(path, verbosity=1), "Filed") == 2  # with the progress bar shown
    again = run(path)
    assert counted(again, "Filed") == 0
    assert counted(again, "Already present") == 2
    assert Result.objects.count() == 2
    assert Observation.objects.count() == 2


def test_results_taken_in_the_hour_the_clocks_change_are_recognised_on_a_rerun(
    tester: Patient, tmp_path: Path
) -> None:
    """HL7 times without an offset are local (UK): 01:30 on 29 March 2015 is in the spring
    gap, 01:30 on 25 October 2015 in the autumn overlap. Filed once, they are the same
    results the second time, not corrections."""
    path = write(
        tmp_path,
        "dst.hl7",
        oru("T1", "FT1", "0.1", when="20150329013000")
        + oru("T2", "FT2", "0.1", when="20151025013000"),
    )
    run(path)
    again = run(path)
    assert counted(again, "Already present") == 2
    assert counted(again, "Corrections applied") == 0
    assert set(Result.objects.values_list("version", flat=True)) == {1}


def test_a_changed_report_in_a_later_extract_is_applied_as_a_correction(
    tester: Patient, tmp_path: Path
) -> None:
    """OBR-25 C with other values under the same filler order number is a correction: the
    earlier value is kept, superseded (rms.services.results)."""
    run(write(tmp_path, "a.hl7", oru("C1", "F1", "0.1")))
    out = run(write(tmp_path, "b.hl7", oru("C2", "F1", "0.15", status="C")))
    assert counted(out, "Corrections applied") == 1
    result = Result.objects.get(filler_order_number="F1")
    assert result.version == 2
    current = result.observations.get(superseded_at__isnull=True)
    assert str(current.value_numeric) == "0.150000"


def test_an_original_and_its_correction_in_one_file_are_filed_in_order(
    tester: Patient, tmp_path: Path
) -> None:
    """HL7 v2 OBR-25 C after F under one filler order number: the correction replaces the
    values, the original's kept as superseded (rms.services.results), as if sent live."""
    out = run(
        write(
            tmp_path,
            "fc.hl7",
            oru("O1", "FC1", "0.1") + oru("O2", "FC1", "0.3", status="C"),
        )
    )
    assert counted(out, "Filed") == 1
    assert counted(out, "Corrections applied") == 1
    result = Result.objects.get(filler_order_number="FC1")
    assert (result.version, result.status) == (2, Result.Status.CORRECTED)
    values = result.observations.order_by("result_version").values_list(
        "value_text", "superseded_at"
    )
    assert [(v, s is not None) for v, s in values] == [("0.1", True), ("0.3", False)]


def test_resuming_after_a_killed_import_files_the_rest_once(
    tester: Patient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A kill between two batches leaves the first committed; the rerun files the rest."""
    monkeypatch.setattr(history, "BATCH", 2)
    text = "".join(oru(f"K{n}", f"FK{n}", f"0.0{n}", when=f"2024010{n}083000") for n in range(1, 7))
    path = write(tmp_path, "k.hl7", text)
    calls = []

    def killed(done: int, total: int, reports: int) -> None:
        calls.append(done)
        if len(calls) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        history.import_history(path=path, file_format="hl7", actor=system_user(), progress=killed)
    partial = Result.objects.count()
    assert 0 < partial < 6
    out = run(path)
    assert counted(out, "Already present") == partial
    assert counted(out, "Filed") == 6 - partial
    assert sorted(Result.objects.values_list("filler_order_number", flat=True)) == [
        f"FK{n}" for n in range(1, 7)
    ]


def test_a_dry_run_writes_nothing(tester: Patient, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "d.hl7",
        oru("D1", "FD1", "0.1") + oru("D2", "FD2", "0.1", nhs="9990000034", mrn="RXX0000000"),
    )
    out = run(path, "--dry-run")
    assert counted(out, "Filed") == 1
    assert counted(out, "Held for review") == 1
    assert "dry run" in out
    assert Result.objects.count() == 0
    assert InboundMessage.objects.count() == 0
    assert WorkItem.objects.count() == 0
    assert not (tmp_path / "d.hl7.report.csv").exists()


def test_monitoring_raises_only_the_breach_that_is_current(team, clinician, tmp_path: Path) -> None:
    """Phoenix definition of biochemical failure after radiotherapy (Roach et al., IJROBP
    2006): PSA at least 2 ug/L above the nadir. Patient A's history fails in 2022 (nadir 0.5,
    then 3.0), then after salvage treatment PSA falls to 0.1 and the lab reports it normal: a
    resolved breach, recorded closed, not today's work. Patient B's history ends on the
    failing value: today's work, raised open. Patient C failed in 2022 and PSA went on rising
    (no lab flag: under the population range): still current, raised. Each patient is
    evaluated once: one item each, however many results."""
    people = {
        name: PatientFactory(
            nhs_number=nhs,
            mrn=f"RXX{name}",
            family_name=name * 3,
            teams=[team],
            date_of_birth=dt.date(1958, 2, 14),
        )
        for name, nhs in (("A", "9990000018"), ("B", "9990000026"), ("C", "9990000034"))
    }
    for patient in people.values():
        plan_services.plan_start(
            patient=patient,
            pathway=Pathway.objects.get(code="prostate-post-radiotherapy"),
            anchor_date=dt.date(2020, 1, 15),
            actor=clinician,
        )

    def series(name: str, values: list[tuple[str, str, str]]) -> str:
        patient = people[name]
        return "".join(
            oru(
                f"{name}{n}",
                f"{name}-{n}",
                value,
                when=when,
                nhs=patient.nhs_number,
                family=patient.family_name,
                mrn=patient.mrn,
                flag=flag,
            )
            for n, (when, value, flag) in enumerate(values)
        )

    start = [("20200601090000", "1.0", ""), ("20210101090000", "0.5", "")]
    text = (
        series(
            "A",
            [
                *start,
                ("20220601090000", "3.0", ""),
                ("20230101090000", "0.1", "N"),
                ("20240101090000", "0.1", ""),
            ],
        )
        + series("B", [*start, ("20240601090000", "3.0", "")])
        + series(
            "C",
            [
                *start,
                ("20220601090000", "3.0", ""),
                ("20230101090000", "3.4", ""),
                ("20240101090000", "3.9", ""),
            ],
        )
    )
    out = run(write(tmp_path, "psa.hl7", text))
    assert counted(out, "Filed") == 13
    assert counted(out, "Patients evaluated by monitoring (on a plan)") == 3
    # C's rising PSA also breaks the doubling-time rule: two breaches, listed in one item.
    assert counted(out, "Breaches raised as current work") == 3
    assert counted(out, "Breaches found in the history and recorded as resolved") == 1
    breach = WorkItem.Kind.THRESHOLD_BREACH
    [old] = WorkItem.objects.filter(patient=people["A"], kind=breach)
    assert old.status == WorkItem.Status.DONE
    assert old.outcome == "Resolved in the imported history"
    for name in ("B", "C"):
        [now] = WorkItem.objects.filter(patient=people[name], kind=breach)
        assert now.status == WorkItem.Status.OPEN
        assert "Phoenix" in now.title
    # Running it again raises nothing more, and a later live result does not raise the old
    # breach either: it is remembered.
    again = run(tmp_path / "psa.hl7")
    assert counted(again, "Breaches raised as current work") == 0
    receive(
        raw=oru(
            "LIVE",
            "A-LIVE",
            "0.1",
            when="20250102090000",
            nhs="9990000018",
            family="AAA",
            mrn="RXXA",
            flag="N",
        ).encode(),
        channel=InboundMessage.Channel.MLLP,
        peer="127.0.0.1",
    )
    assert Result.objects.filter(filler_order_number="A-LIVE").exists()
    assert WorkItem.objects.filter(kind=breach, status__in=WorkItem.ACTIVE).count() == 2


def test_a_patient_already_shared_with_pkb_gets_the_history_packed(
    tester: Patient, clinician, tmp_path: Path
) -> None:
    """PKB takes one message at a time: a shared patient's imported lab results go as packed
    ORU^R01 (several reports a message), as an opt-in sends a record's history."""
    enrolment = pkb_services.enrolment_opt_in(
        attestation="Consented in clinic, paper form filed", patient=tester, actor=clinician
    )
    before = OutboundMessage.objects.filter(enrolment=enrolment).count()
    text = "".join(
        oru(f"P{n}", f"FP{n}", "0.01", when=f"2024{n:02d}01083000") for n in range(1, 11)
    )
    out = run(write(tmp_path, "p.hl7", text))
    assert counted(out, "Filed") == 10
    queued = OutboundMessage.objects.filter(enrolment=enrolment).count() - before
    assert 1 <= queued < 10
    assert counted(out, "PKB messages queued") == queued
    # Again: nothing more is sent.
    run(tmp_path / "p.hl7")
    assert OutboundMessage.objects.filter(enrolment=enrolment).count() - before == queued


def test_a_shared_patients_current_breach_evidence_is_held_from_pkb(
    tester: Patient, clinician, tmp_path: Path
) -> None:
    """docs/clinical-safety/hazard-log.md H15: the results that are the evidence of an open
    breach are held from PKB until a clinician has seen them. A shared patient's imported
    history ending in a Phoenix failure (nadir 0.5, then 3.0): the breach is raised, its
    evidence (the nadir and the failing value) is held, and the rest goes to PKB."""
    plan_services.plan_start(
        patient=tester,
        pathway=Pathway.objects.get(code="prostate-post-radiotherapy"),
        anchor_date=dt.date(2020, 1, 15),
        actor=clinician,
    )
    enrolment = pkb_services.enrolment_opt_in(
        attestation="Consented in clinic, paper form filed", patient=tester, actor=clinician
    )
    text = (
        oru("E1", "FE1", "1.0", when="20200601090000")
        + oru("E2", "FE2", "0.5", when="20210101090000")
        + oru("E3", "FE3", "3.0", when="20240601090000")
    )
    out = run(write(tmp_path, "e.hl7", text))
    assert counted(out, "Breaches raised as current work") >= 1
    states = dict(
        Publication.objects.filter(enrolment=enrolment).values_list(
            "result__filler_order_number", "state"
        )
    )
    assert states == {
        "FE1": Publication.State.RELEASED,
        "FE2": Publication.State.HELD,
        "FE3": Publication.State.HELD,
    }


CSV_HEADER = ",".join(history.CSV_COLUMNS) + "\n"


def test_csv_rows_are_filed_and_a_bad_row_is_reported_with_its_line(
    tester: Patient, tmp_path: Path
) -> None:
    """The documented columns; rows of one filler order number are one report (a panel);
    a row with a date of birth that is not YYYY-MM-DD is refused with its line, and the other
    rows of its report with it (a report is filed whole, as an OBR group is)."""
    rows = [
        "9990000018,RXX1234567,Tester,1958-02-14,WINPATH,U1,NA,Sodium,139,mmol/L,133-146,N,"
        "2024-03-01T08:30,F",
        "9990000018,RXX1234567,Tester,1958-02-14,WINPATH,U1,K,Potassium,5.6 H,mmol/L,3.5-5.3,,"
        "2024-03-01T08:30,F",
        "9990000018,RXX1234567,Tester,1958-02-14,WINPATH,P1,PSA,PSA,<0.01,ug/L,0-4,,2024-04-01,F",
        "9990000018,RXX1234567,Tester,14/02/1958,WINPATH,P2,PSA,PSA,0.02,ug/L,0-4,,2024-05-01,F",
        "9990000018,RXX1234567,Tester,1958-02-14,WINPATH,P2,CEA,CEA,2,ug/L,0-5,,2024-05-01,F",
    ]
    path = write(tmp_path, "results.csv", CSV_HEADER + "\n".join(rows) + "\n")
    out = run(path, "--sending-facility", "RXX01")
    assert counted(out, "Filed") == 2
    assert counted(out, "Refused") == 2
    panel = Result.objects.get(filler_order_number="U1")
    assert panel.sender == "WINPATH^RXX01"
    k = panel.observations.get(code="K")
    assert (str(k.value_numeric), k.abnormal_flag, k.value_text) == ("5.600000", "H", "5.6 H")
    psa = Observation.objects.get(result__filler_order_number="P1")
    assert (psa.comparator, psa.value_type) == ("<", "NM")
    report = (tmp_path / "results.csv.report.csv").read_text().splitlines()[1:]
    assert [row.split(",")[0:3] for row in report] == [
        ["5", "P2", "refused"],
        ["6", "P2", "refused"],
    ]
    assert "date_of_birth" in report[0]
    assert "1958" not in "".join(report)
    assert counted(run(path, "--sending-facility", "RXX01"), "Already present") == 2


def test_a_csv_without_the_documented_header_is_refused_whole(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.csv", "nhs_number,value\n9990000018,1\n")
    with pytest.raises(CommandError, match="collected_at"):
        call_command("import_history", str(path), stdout=io.StringIO(), verbosity=0)


@needs_postgresql
def test_on_postgresql_the_rows_are_copied_whole_and_live_filing_continues(
    tester: Patient, tmp_path: Path
) -> None:
    """On PostgreSQL new results and observations are written with COPY: every column as the
    ORM writes it (times, ids, numbers rounded to the column's 6 places), and the live feed
    files after it without an id taken twice."""
    panel = (
        "MSH|^~\\&|WINPATH|RXX01|RMS|RXX|20250110083000||ORU^R01^ORU_R01|PG1|P|2.4\r"
        "PID|1||9990000018^^^NHS^NH~RXX1234567^^^RXX^MR||TESTER^Alan||19580214|M\r"
        "OBR|1|ORDU1|U1|UE^Urea and electrolytes^WINPATH|||20250110083000|||||||||||||||"
        "20250110090000||CH|F\r"
        "OBX|1|NM|NA^Sodium^WINPATH||139|mmol/L|133-146|N|||F|||20250110083000\r"
        "OBX|2|NM|K^Potassium^WINPATH||5.6|mmol/L|3.5-5.3|H|||F|||20250110083000\r"
        "NTE|1||Slightly haemolysed sample.\r"
        "OBX|3|NM|CREA^Creatinine^WINPATH||88.1234567|umol/L|59-104|N|||F|||20250110083000\r"
    )
    out = run(write(tmp_path, "pg.hl7", panel + oru("PG2", "P1", "<0.01")))
    assert counted(out, "Filed") == 2
    result = Result.objects.get(filler_order_number="U1")
    assert (result.service_code, result.service_name, result.status) == (
        "UE",
        "Urea and electrolytes",
        Result.Status.FINAL,
    )
    assert result.created_at is not None and result.public_id is not None
    assert result.reported_at == dt.datetime(2025, 1, 10, 9, tzinfo=dt.UTC)
    rows = list(
        result.observations.order_by("sequence").values_list(
            "code", "value_numeric", "abnormal_flag", "notes", "result_version"
        )
    )
    assert [(c, str(v), f, n, rv) for c, v, f, n, rv in rows] == [
        ("NA", "139.000000", "N", "", 1),
        ("K", "5.600000", "H", "Slightly haemolysed sample.", 1),
        ("CREA", "88.123457", "N", "", 1),
    ]
    entry = LogEntry.objects.get(
        content_type=ContentType.objects.get_for_model(Result), object_id=result.pk
    )
    assert entry.changes["filler_order_number"][1] == "U1"
    assert entry.serialized_data is None
    assert counted(run(tmp_path / "pg.hl7"), "Already present") == 2
    receive(
        raw=oru("PG3", "LIVE1", "0.02").encode(),
        channel=InboundMessage.Channel.MLLP,
        peer="127.0.0.1",
    )
    assert Result.objects.filter(patient=tester).count() == 3


@needs_postgresql
def test_on_postgresql_the_planner_is_told_of_the_rows_filed(
    tester: Patient, tmp_path: Path
) -> None:
    """PostgreSQL's advice after a bulk load ("Populating a Database", 14.4: run ANALYZE
    afterwards): the statistics count the rows the import filed, so what runs next (the end
    steps, PKB's packing of the history) is planned for the tables as they are. ANALYZE of a
    small table reads every row, so its row count is exact. A dry run, rolled back, leaves
    them as they were."""
    from django.db import connection

    def planned_rows() -> dict[str, float]:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT relname, reltuples FROM pg_class "
                "WHERE relname IN ('rms_result', 'rms_observation')"
            )
            return dict(cursor.fetchall())

    text = "".join(oru(f"AN{n}", f"AN{n}", f"0.{n:02d}") for n in range(1, 14))
    run(write(tmp_path, "dry.hl7", text), "--dry-run")
    before = planned_rows()
    assert Result.objects.count() == 0
    run(write(tmp_path, "an.hl7", text))
    assert Result.objects.count() == 13 and Observation.objects.count() == 13
    assert before != {"rms_result": 13.0, "rms_observation": 13.0}
    assert planned_rows() == {"rms_result": 13.0, "rms_observation": 13.0}
