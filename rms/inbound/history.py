"""Importing a cohort's history of results (``manage.py import_history``).

A Trust going live has years of results for its cancer cohort. They come as a lab or radiology
extract: an HL7 v2 batch file (FHS/BHS wrapped, or ORU^R01 messages one after another; CR, LF
or CRLF line ends; MLLP framing bytes tolerated) or a CSV file (``CSV_COLUMNS``).

Each report goes through what the live feed applies (``rms.hl7`` decoding, parsing and
extraction; ``rms.inbound.filing``'s content checks; ``rms.services.results``' validation and
sender and wrong-patient checks; ``rms.inbound.matching`` for the patient) but is written in
bulk: the new results of a batch with COPY on PostgreSQL (multi-row inserts elsewhere), with
the change log's entry of each, one transaction a batch, without the per-result signals. A
message is filed whole or held (or refused) whole, as on the live feed. What the signals would
have done is done once at the end:

- monitoring evaluates each patient of the file once (``careplans.followup.services.monitoring.
  evaluate_history``), raising only the breaches that are current;
- the results of patients already shared with PKB are packed and queued under the team's
  publication policy, as an opt-in sends a record's history
  (``pkb_bridge.services.enrolment.history_imported``).

A report already filed, recognised by its sending system and filler order number (OBR-3) and
the same content, is counted as already present: the import is safe to run again, and to
resume after it was killed (each batch is committed whole or not at all, and the end steps run
for every patient of the file, so a rerun completes what a killed run did not). A report that
differs from the one filed is applied as the live feed applies a correction, through
``result_record`` (its signals run as for a live result).

Refused reports (the live feed's refusals) and held ones (the live feed's holds: patient not
found, possible wrong patient, another sender's result) are listed with their line in the file
in a report file next to the input. Held HL7 messages are also stored as held inbound messages,
so an administrator matches them by hand and reprocesses them as live ones. Nothing in the
report names a patient: line numbers, control ids and the checks' reasons only.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, cast
from zoneinfo import ZoneInfo

from auditlog.models import LogEntry
from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import DecimalField, JSONField, Model

from rms import audit, services, signals
from rms.hl7 import Hl7Error, extract_patient, extract_results
from rms.hl7.extract import read_value
from rms.inbound import filing
from rms.inbound.matching import (
    Identity,
    Match,
    MatchStatus,
    candidates_filter,
    match_patient,
)
from rms.inbound.receive import parse_and_check, read_header, refusal_reason
from rms.models import InboundMessage, Observation, Patient, Result
from rms.services import results as result_services

# The CSV's header, in this order or any other; one row per value (a panel is several rows
# under one filler order number, which become one report, as the OBXs of one OBR).
CSV_COLUMNS = (
    "nhs_number",
    "mrn",
    "family_name",
    "date_of_birth",
    "source_system",
    "filler_order_number",
    "test_code",
    "test_name",
    "value",
    "units",
    "reference_range",
    "flag",
    "collected_at",
    "status",
)

BATCH = 1000  # reports a transaction
_BATCH_SEGMENTS = (b"FHS", b"BHS", b"BTS", b"FTS")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class HistoryFileError(Exception):
    """The file as a whole cannot be read (not found, wrong header); nothing was filed."""


@dataclass(frozen=True)
class Report:
    """One report (an OBR group, or the CSV rows of one filler order number) to file."""

    line: int
    identity: Identity
    data: services.ResultInput
    ref: str = ""  # the message's control id, for the report file
    raw: bytes = b""  # the HL7 message, stored when held


@dataclass(frozen=True)
class Problem:
    line: int
    ref: str
    reason: str


@dataclass
class Summary:
    filed: int = 0
    present: int = 0
    corrected: int = 0
    nothing: int = 0
    refused: list[Problem] = field(default_factory=list)
    held: list[Problem] = field(default_factory=list)
    patients: int = 0
    breaches_raised: int = 0
    breaches_historic: int = 0
    pkb_messages: int = 0
    dry_run: bool = False

    @property
    def reports(self) -> int:
        return (
            self.filed
            + self.present
            + self.corrected
            + self.nothing
            + len(self.refused)
            + len(self.held)
        )

    def lines(self) -> list[str]:
        verb = "would be" if self.dry_run else "were"
        return [
            f"Reports read: {self.reports}",
            f"Filed: {self.filed}",
            f"Already present: {self.present}",
            f"Corrections applied: {self.corrected}",
            f"Nothing to file (not yet resulted, or a deletion of a result never filed): "
            f"{self.nothing}",
            f"Refused: {len(self.refused)}",
            f"Held for review: {len(self.held)}",
            f"Patients evaluated by monitoring (on a plan): {self.patients}",
            f"Breaches raised as current work: {self.breaches_raised}",
            f"Breaches found in the history and recorded as resolved: {self.breaches_historic}",
            f"PKB messages queued: {self.pkb_messages}",
            *([f"(dry run: nothing {verb} written)"] if self.dry_run else []),
        ]


# --- reading an HL7 batch file ------------------------------------------------------------------


def hl7_messages(data: bytes) -> Iterator[tuple[int, bytes | None, str]]:
    """The messages of an HL7 v2 file: ``(line, message bytes, "")`` for each, or
    ``(line, None, reason)`` for text that is not in any message. Batch segments (FHS, BHS,
    BTS, FTS) are dropped, MLLP framing bytes (0x0B, 0x1C) ignored, and CR, LF and CRLF all end
    a segment; a message is its segments joined with CR, as the live feed receives it."""
    data = data.removeprefix(b"\xef\xbb\xbf").replace(b"\x0b", b"").replace(b"\x1c", b"")
    current: list[bytes] = []
    start = 0
    stray: int | None = None
    for number, line in enumerate(re.split(rb"\r\n|\r|\n", data), start=1):
        if not line.strip():
            continue
        tag = line[:3]
        if tag in _BATCH_SEGMENTS or tag == b"MSH":
            if current:
                yield start, b"\r".join(current) + b"\r", ""
                current = []
            if tag == b"MSH":
                start = number
                current.append(line)
            continue
        if current:
            current.append(line)
        elif stray is None:
            stray = number
            yield number, None, "Text outside any message (no MSH segment before it)."
    if current:
        yield start, b"\r".join(current) + b"\r", ""


def _hl7_reports(data: bytes) -> Iterator[Report | Problem]:
    for line, raw, problem in hl7_messages(data):
        if raw is None:
            yield Problem(line, "", problem)
            continue
        ref = ""
        try:
            msg, ignored = parse_and_check(raw)
            ref = msg.control_id[:200]
            if msg.message_type != "ORU" or ignored:
                yield Problem(line, ref, "Only results (ORU^R01) are imported from a history.")
                continue
            # What filing.check_content checks of an ORU, the live feed's checks of the
            # content before it files anything, made once here as the inputs are built.
            identity = filing.matching_identity(extract_patient(msg))
            inputs = [
                found
                for group in extract_results(msg)
                if (found := filing.result_input(msg, group)) is not None
            ]
        except Hl7Error as exc:
            # A message that did not parse is named by its MSH-10 as read from the raw bytes.
            ref = ref or read_header(raw).control_id
            yield Problem(line, ref, f"{exc.field + ': ' if exc.field else ''}{exc.reason}")
            continue
        if not inputs:
            yield Problem(line, ref, "")  # nothing to file: no result yet
            continue
        for found in inputs:
            yield Report(line=line, identity=identity, data=found, ref=ref, raw=raw)


# --- reading a CSV file -------------------------------------------------------------------------


def _csv_time(text: str) -> dt.datetime:
    """ISO 8601 (``2024-03-01T08:30``, ``2024-03-01 08:30:00``, ``...Z`` or with an offset),
    or a date alone (midnight). Without an offset the time is local (``TIME_ZONE``)."""
    value = text.strip()
    if not value:
        raise ValueError("collected_at is required")
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        raise ValueError("collected_at is not an ISO 8601 date and time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(settings.TIME_ZONE))
    return moment


def _csv_row(row: dict[str, str], sending_facility: str) -> tuple[Identity, dict[str, object]]:
    """One row as the patient's identity and the values of its report and observation;
    raises ValueError naming the column."""
    born = row["date_of_birth"].strip()
    if born and not _ISO_DATE.match(born):
        raise ValueError("date_of_birth must be YYYY-MM-DD")
    try:
        date_of_birth = dt.date.fromisoformat(born) if born else None
    except ValueError:
        raise ValueError("date_of_birth is not a date") from None
    identity = Identity(
        nhs_number=row["nhs_number"].strip(),
        mrn=row["mrn"].strip(),
        family_name=row["family_name"].strip(),
        date_of_birth=date_of_birth,
    )
    if not identity.nhs_number and not identity.mrn:
        raise ValueError("nhs_number or mrn is required")
    for column in ("source_system", "filler_order_number", "test_code"):
        if not row[column].strip():
            raise ValueError(f"{column} is required")
    status = row["status"].strip().upper()
    if status not in filing.RESULT_STATUSES and status not in filing.NO_RESULT_YET:
        raise ValueError("status is not an HL7 result status (F, C, P, X, D, R, ...)")
    collected = _csv_time(row["collected_at"])
    value = row["value"].strip()
    read = read_value(value) if "\n" not in value else None
    numeric = read is not None and filing.storable_number(read.number)
    flag = row["flag"].strip() or (read.flag if read is not None else "")
    source = row["source_system"].strip()
    return identity, {
        "source": source,
        "filler": row["filler_order_number"].strip(),
        "status": status,
        "sender": f"{source}^{sending_facility}",
        "observation": services.ObservationInput(
            code=row["test_code"].strip(),
            name=row["test_name"].strip() or row["test_code"].strip(),
            value_type="NM" if numeric else "TX",
            value_text=value,
            value_numeric=read.number if read is not None and numeric else None,
            comparator=read.comparator if read is not None and numeric else "",
            units=row["units"].strip(),
            reference_range=row["reference_range"].strip(),
            abnormal_flag=flag,
            observed_at=collected,
            status=filing.OBSERVATION_STATUSES.get(status, Observation.Status.FINAL),
        ),
    }


def _csv_reports(data: bytes, sending_facility: str) -> Iterator[Report | Problem]:
    """The CSV's rows grouped by (source system, filler order number), in order of first row:
    each group one report, filed or refused whole, as an OBR group is."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise HistoryFileError("The file is not UTF-8 text.") from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [name.strip() for name in reader.fieldnames or []]
    missing = [name for name in CSV_COLUMNS if name not in header]
    if missing:
        raise HistoryFileError("The header lacks the column(s): " + ", ".join(missing))
    reader.fieldnames = header
    groups: dict[tuple[str, str], list[tuple[int, Identity, dict[str, object]]]] = {}
    refused_groups: dict[tuple[str, str], Problem] = {}
    for row in reader:
        line = reader.line_num
        if None in row or any(value is None for value in row.values()):
            yield Problem(line, "", "The row has a different number of fields from the header.")
            continue
        key = (row["source_system"].strip(), row["filler_order_number"].strip())
        try:
            identity, values = _csv_row(row, sending_facility)
        except ValueError as exc:
            yield Problem(line, key[1], str(exc))
            if all(key):
                # The report is refused whole: its other rows must not file a part of it.
                refused_groups[key] = Problem(
                    line, key[1], f"Another row of the report (line {line}) was refused: {exc}"
                )
            continue
        groups.setdefault(key, []).append((line, identity, values))
    for key, rows in groups.items():
        first_line, identity, first = rows[0]
        if key in refused_groups:
            for line, _, _ in rows:
                yield dataclasses.replace(refused_groups[key], line=line)
            continue
        if any(other != identity for _, other, _ in rows):
            yield Problem(first_line, key[1], "The rows of one report name different patients.")
            continue
        status = str(first["status"])
        if status in filing.NO_RESULT_YET:
            yield Problem(first_line, key[1], "")
            continue
        observations = [values["observation"] for _, _, values in rows]
        observed = min(o.observed_at for o in observations)  # type: ignore[attr-defined]
        radiology = key[0].upper() in {
            name.upper() for name in settings.INBOUND_RADIOLOGY_APPLICATIONS
        }
        result = services.ResultInput(
            category=Result.Category.RADIOLOGY if radiology else Result.Category.LAB,
            source_system=key[0],
            filler_order_number=key[1],
            service_code=observations[0].code if len(observations) == 1 else "",  # type: ignore[attr-defined]
            service_name=(
                observations[0].name if len(observations) == 1 else ""  # type: ignore[attr-defined]
            ),
            observed_at=observed,
            status=filing.RESULT_STATUSES[status],
            report_text=(
                "\n".join(o.value_text for o in observations)  # type: ignore[attr-defined]
                if radiology
                else ""
            ),
            observations=() if radiology else observations,  # type: ignore[arg-type]
            sender=str(first["sender"]),
        )
        yield Report(line=first_line, identity=identity, data=result, ref=key[1])


# --- filing -------------------------------------------------------------------------------------


@dataclass
class _Run:
    actor: User
    summary: Summary
    source: str
    matches: dict[Identity, Match] = field(default_factory=dict)
    # Patients of the file and the results of theirs it names (filed now or before).
    touched: dict[int, set[int]] = field(default_factory=dict)
    codes: dict[int, set[str]] = field(default_factory=dict)
    stored_held: set[tuple[str, str, str]] = field(default_factory=set)

    def match(self, identity: Identity) -> Match:
        if identity not in self.matches:
            self.matches[identity] = match_patient(identity)
        return self.matches[identity]

    def touch(self, patient_id: int, result_id: int, data: services.ResultInput) -> None:
        self.touched.setdefault(patient_id, set()).add(result_id)
        codes = self.codes.setdefault(patient_id, set())
        codes.update(o.code.upper() for o in data.observations)
        if data.service_code:
            codes.add(data.service_code.upper())


def _hold(run: _Run, report: Report, status: str, reason: str, sender_check: str = "") -> None:
    """Held as the live feed holds: listed, and an HL7 message stored as a held inbound message
    (once, however often the file is imported) for an administrator to match and reprocess."""
    run.summary.held.append(Problem(report.line, report.ref, reason))
    if not report.raw:
        return
    header = read_header(report.raw)
    key = (header.sending_application, header.sending_facility, header.control_id)
    if key in run.stored_held:
        return
    run.stored_held.add(key)
    if (
        header.control_id
        and InboundMessage.objects.filter(
            sending_application=key[0], sending_facility=key[1], control_id=key[2]
        ).exists()
    ):
        return
    message = InboundMessage.objects.create(
        channel=InboundMessage.Channel.ADMIN,
        peer=f"file:{run.source}"[:100],
        raw=report.raw,
        sending_application=header.sending_application,
        sending_facility=header.sending_facility,
        control_id=header.control_id,
        message_type=header.message_type,
        status=status,
        error=reason,
        sender_check=sender_check,
        attempts=1,
    )
    signals.inbound_held.send(sender=InboundMessage, message=message, actor=run.actor)


def _current_keys(results: Iterable[Result]) -> dict[int, list[tuple[object, ...]]]:
    keys: dict[int, list[tuple[object, ...]]] = {r.pk: [] for r in results}
    for observation in Observation.objects.filter(
        result_id__in=list(keys), superseded_at__isnull=True
    ).order_by("result_id", "sequence"):
        keys[observation.result_id].append(result_services.observation_key(observation))
    return keys


def _utc(values: tuple[object, ...]) -> tuple[object, ...]:
    """Times as UTC: Python never finds two times of different zones equal when one is in a
    clock change's gap or overlap (PEP 495), as 01:30 on the last Sunday of March is in
    London, though they are the same instant once stored."""
    return tuple(v.astimezone(dt.UTC) if isinstance(v, dt.datetime) else v for v in values)


def _as_stored(observation: services.ObservationInput) -> tuple[object, ...]:
    """``content_key`` of the value as the column keeps it: a number with more places than
    ``value_numeric`` has is rounded as it is written, and must compare equal to itself read
    back, or a rerun would file it again as a correction."""
    number = observation.value_numeric
    if number is not None:
        places = Observation._meta.get_field("value_numeric").decimal_places or 0
        stored = number.quantize(Decimal(1).scaleb(-places))
        observation = dataclasses.replace(observation, value_numeric=stored)
    return _utc(observation.content_key())


def _same(existing: Result, keys: list[tuple[object, ...]], data: services.ResultInput) -> bool:
    """The test ``result_record`` makes of a resend that changes nothing."""
    return (
        [_utc(key) for key in keys] == [_as_stored(o) for o in data.observations]
        and existing.status == data.status
        and _utc((existing.observed_at,)) == _utc((data.observed_at,))
        and existing.report_text == data.report_text
        and existing.service_code == data.service_code
        and existing.service_name == data.service_name
    )


@dataclass(frozen=True)
class _Decision:
    kind: str  # refuse, hold, nothing, present, new, apply
    reason: str = ""
    status: str = ""  # of a held message
    sender_check: str = ""
    patient: Patient | None = None
    existing: Result | None = None


def _decide(
    run: _Run,
    report: Report,
    by_key: dict[tuple[str, str], Result],
    senders: dict[tuple[int, str], set[str]],
    content: dict[int, list[tuple[object, ...]]],
) -> _Decision:
    """What the live feed does with ``report``: the patient matched (or held), the report
    validated (or refused), its sender and patient checked against what is on file (or held),
    then new, already present, or to apply to the result on file."""
    data = report.data
    match = run.match(report.identity)
    if match.status is not MatchStatus.MATCHED or match.patient is None:
        status = (
            InboundMessage.Status.REVIEW
            if match.status is MatchStatus.REVIEW
            else InboundMessage.Status.UNMATCHED
        )
        return _Decision("hold", match.reason, status)
    patient = match.patient
    try:
        result_services.validate_result(data)
    except ValidationError as exc:
        return _Decision("refuse", refusal_reason(exc))
    others = senders.get((patient.pk, data.filler_order_number), set()) - {data.sender}
    if data.sender and others:
        return _Decision(
            "hold",
            result_services.result_sender_conflict(data, patient),
            InboundMessage.Status.REVIEW,
            InboundMessage.SenderCheck.OTHER_SENDER,
        )
    existing = by_key.get((data.source_system, data.filler_order_number))
    if existing is not None and existing.patient_id != patient.pk:
        return _Decision(
            "hold",
            "Possible wrong patient: this filler order number is already filed for a "
            "different patient.",
            InboundMessage.Status.REVIEW,
        )
    if existing is None:
        if data.status in Result.WITHDRAWN:
            return _Decision("nothing")
        return _Decision("new", patient=patient)
    if _same(existing, content.get(existing.pk, []), data):
        return _Decision("present", patient=patient, existing=existing)
    return _Decision("apply", patient=patient, existing=existing)


@transaction.atomic
def _file_batch(run: _Run, batch: list[Report]) -> None:
    """File ``batch`` in one transaction: new results in two multi-row inserts, the rest
    recognised as present, applied as corrections, refused or held."""
    summary = run.summary
    fillers = {report.data.filler_order_number for report in batch}
    on_file = list(Result.objects.filter(filler_order_number__in=fillers))
    by_key = {(r.source_system, r.filler_order_number): r for r in on_file}
    senders: dict[tuple[int, str], set[str]] = {}
    for result in on_file:
        senders.setdefault((result.patient_id, result.filler_order_number), set()).add(
            result.sender
        )
    content = _current_keys(on_file)
    # The patients of the batch's new identities in one query, matched each as the live feed
    # matches a message's.
    unknown = {report.identity for report in batch} - set(run.matches)
    if unknown:
        candidates = list(Patient.objects.filter(candidates_filter(unknown)))
        for identity in unknown:
            run.matches[identity] = match_patient(identity, candidates=candidates)
    # First what the live feed would do with each report, then (a message being filed whole
    # or not at all) the first refusal or hold of a message's reports applies to all of them.
    decided = [_decide(run, report, by_key, senders, content) for report in batch]
    stopped: dict[int, _Decision] = {}
    for report, decision in zip(batch, decided, strict=True):
        if decision.kind in ("refuse", "hold"):
            stopped.setdefault(report.line, decision)
    new: list[tuple[Report, Patient, Result]] = []
    for report, decision in zip(batch, decided, strict=True):
        decision = stopped.get(report.line, decision)
        data = report.data
        if decision.kind == "refuse":
            summary.refused.append(Problem(report.line, report.ref, decision.reason))
        elif decision.kind == "hold":
            _hold(run, report, decision.status, decision.reason, decision.sender_check)
        elif decision.kind == "nothing":
            summary.nothing += 1
        elif decision.kind == "present" and decision.existing is not None:
            summary.present += 1
            run.touch(decision.existing.patient_id, decision.existing.pk, data)
        elif decision.kind == "new" and decision.patient is not None:
            result = Result(
                patient=decision.patient,
                source_system=data.source_system,
                filler_order_number=data.filler_order_number,
                sender=data.sender,
            )
            result_services.apply_result_header(result, data)
            new.append((report, decision.patient, result))
        elif decision.kind == "apply" and decision.patient is not None:
            # A correction, deletion or late report of one already filed: the live feed's
            # rules, through its service.
            outcome = result_services.result_record_in_transaction(
                patient=decision.patient, data=data, actor=run.actor, allow_other_sender=True
            )
            if outcome.outcome is result_services.Outcome.UNCHANGED:
                summary.present += 1
            elif outcome.outcome is result_services.Outcome.IGNORED:
                summary.nothing += 1
            else:
                summary.corrected += 1
            if outcome.result is not None:
                run.touch(decision.patient.pk, outcome.result.pk, data)
    if not new:
        return
    _insert(Result, [result for _, _, result in new])
    _insert(
        Observation,
        [
            row
            for report, _, result in new
            for row in result_services.observation_rows(result, report.data, 1)
        ],
    )
    _audit_created([result for _, _, result in new], run.actor, run.source)
    for report, patient, result in new:
        summary.filed += 1
        run.touch(patient.pk, result.pk, report.data)


def _audit_created(results: list[Result], actor: User, source: str) -> None:
    """The change log's "created" entry of each new result, as django-auditlog writes it when
    the live feed saves one (the bulk insert sends no signal)."""
    _insert(
        LogEntry,
        audit.created_entries(
            results, actor=actor, additional_data={"imported_from": source[:200]}
        ),
    )


def _insert(model: type[Model], rows: list[Any]) -> None:
    """Insert ``rows`` (new instances of ``model``, their primary keys set here): COPY on
    PostgreSQL, a few multi-row inserts elsewhere. COPY takes each value as Django would save
    it (``pre_save``: the times ``auto_now`` sets, the defaults already on the instance)."""
    from django.utils import timezone as dj_timezone

    if not rows:
        return
    if connection.vendor != "postgresql":
        model._default_manager.bulk_create(rows, batch_size=BATCH)
        return
    from psycopg.types.json import Jsonb

    table = model._meta.db_table
    pk = model._meta.pk
    if pk is None:  # every model has one; narrows the type
        raise RuntimeError(f"{table} has no primary key")
    fields = [f for f in model._meta.concrete_fields if f is not pk]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
            [table, pk.column, len(rows)],
        )
        for row, (key,) in zip(rows, cursor.fetchall(), strict=True):
            row.pk = key
        quote = connection.ops.quote_name
        names = ", ".join(quote(str(f.column)) for f in [pk, *fields])
        # Each field's value as pre_save gives it, worked out once for all the rows: the time
        # auto_now and auto_now_add set (one moment for the batch, as one statement would),
        # JSON adapted, numbers rounded to the column as Django rounds them (half even), and
        # the attribute as it is for the rest.
        now = dj_timezone.now()
        stamped = [
            f for f in fields if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False)
        ]
        for row in rows:
            for f in stamped:
                setattr(row, f.attname, now)
        places = {
            f.attname: Decimal(1).scaleb(-(f.decimal_places or 0))
            for f in fields
            if isinstance(f, DecimalField)
        }
        jsons = {f.attname for f in fields if isinstance(f, JSONField)}
        attnames = [f.attname for f in fields]
        with cursor.cursor.copy(f"COPY {quote(table)} ({names}) FROM STDIN") as copy:
            for row in rows:
                values: list[Any] = [row.pk]
                for name in attnames:
                    value = getattr(row, name)
                    if value is not None:
                        if name in places:
                            value = value.quantize(places[name])
                        elif name in jsons:
                            value = Jsonb(value)
                    values.append(value)
                copy.write_row(values)
    for row in rows:
        row._state.adding = False


def _after_filing(run: _Run) -> None:
    """What the live feed's signals do for each result, once a patient: the apps that act on
    results (monitoring, then PKB) receive ``history_imported`` (docs/adr/0002)."""
    ids = list(run.touched)
    # Most patients of a lab's extract are on no plan and not shared with PKB: each receiver
    # says at once, for all of them, which it acts on, before anything is done for one.
    wanted: set[int] = set()
    planned = 0
    for receiver, answer in signals.history_patients.send(sender=Patient, patient_ids=ids):
        found: set[int] = set(cast(Iterable[int], answer or ()))
        wanted |= found
        if getattr(receiver, "counts_patients", False):
            planned = len(found)
    patients = Patient.objects.in_bulk([i for i in ids if i in wanted])
    for patient_id, result_ids in run.touched.items():
        if patient_id not in patients:
            continue
        arguments = {
            "patient": patients[patient_id],
            "test_codes": run.codes.get(patient_id, set()),
            "result_ids": result_ids,
            "actor": run.actor,
        }
        with transaction.atomic():
            answers = signals.history_imported.send(sender=Patient, **arguments)
            answers += signals.history_publish.send(sender=Patient, **arguments)
        for _, counts in answers:
            tally = cast(dict[str, int], counts or {})
            for name, count in tally.items():
                setattr(run.summary, name, getattr(run.summary, name) + count)
    run.summary.patients = planned


def _analyse_filed() -> None:
    """Gather the planner's statistics on the tables just filled, as PostgreSQL advises after
    a bulk load ("Populating a Database": run ANALYZE afterwards). Autovacuum would, but only
    once it next looks; until then the planner plans the end steps and everything after
    (monitoring's reads, PKB's packing of the history) for the tables as they were before the
    import: on a database that was empty, tables of a row or two, read by plans that then
    loop over every row for every row. ANALYZE reads a sample of at most 30,000 rows
    a table (the default statistics target), so this takes about a second whatever the size."""
    if connection.vendor != "postgresql":
        return
    tables = ", ".join(
        connection.ops.quote_name(model._meta.db_table) for model in (Result, Observation, LogEntry)
    )
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {tables}")


class _Rollback(Exception):
    pass


def import_history(
    *,
    path: Path,
    file_format: str,
    actor: User,
    dry_run: bool = False,
    sending_facility: str = "",
    progress: Callable[[int, int, int], None] | None = None,
) -> Summary:
    """Import ``path`` (``file_format`` "hl7" or "csv") by the rules in the module docstring.
    ``progress(lines_done, lines_in_file, reports_done)`` is called as batches are filed. A
    dry run checks and files everything, then rolls all of it back."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise HistoryFileError(f"The file cannot be read ({exc.strerror}).") from None
    summary = Summary(dry_run=dry_run)
    run = _Run(actor=actor, summary=summary, source=path.name)
    if file_format == "hl7":
        reports: Iterator[Report | Problem] = _hl7_reports(data)
    elif file_format == "csv":
        reports = _csv_reports(data, sending_facility)
    else:
        raise HistoryFileError(f"Unknown format {file_format!r}: use hl7 or csv.")

    def work() -> None:
        batch: list[Report] = []
        keys: set[str] = set()
        filed_lines = 0

        def flush() -> None:
            if batch:
                _file_batch(run, batch)
            batch.clear()
            keys.clear()
            if progress is not None:
                progress(filed_lines, total_lines, summary.reports)

        for item in reports:
            if isinstance(item, Problem):
                if item.reason:
                    summary.refused.append(item)
                else:
                    summary.nothing += 1
                continue
            key = item.data.filler_order_number
            # A message's reports are filed in one batch (whole or not at all).
            full = len(batch) >= BATCH and item.line != batch[-1].line
            if key in keys or full:
                # A second report of one filler order number (from any system) is filed
                # after the first, and checked against it as the live feed would.
                flush()
            batch.append(item)
            keys.add(key)
            filed_lines = item.line
        filed_lines = total_lines
        flush()
        if not dry_run:
            _analyse_filed()
        _after_filing(run)

    total_lines = data.count(b"\n") or data.count(b"\r") or 1
    if not dry_run:
        work()
        return summary
    try:
        with transaction.atomic():
            work()
            raise _Rollback
    except _Rollback:
        pass
    return summary


def report_path(path: Path) -> Path:
    """Where the refusals and holds of importing ``path`` are written: next to it."""
    return path.with_name(path.name + ".report.csv")


def write_report(path: Path, summary: Summary) -> Path:
    """The refused and held reports of ``summary`` as CSV next to ``path``: line in the file,
    control id or filler order number, what happened, why."""
    target = report_path(path)
    with target.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["line", "reference", "outcome", "reason"])
        for problem, outcome in problem_rows(summary):
            writer.writerow([problem.line, problem.ref, outcome, problem.reason])
    return target


def problem_rows(summary: Summary) -> list[tuple[Problem, str]]:
    """The refused and held reports in the order of the file, each with what happened."""
    rows = [(p, "refused") for p in summary.refused] + [(p, "held") for p in summary.held]
    return sorted(rows, key=lambda row: row[0].line)


__all__ = [
    "CSV_COLUMNS",
    "HistoryFileError",
    "Summary",
    "hl7_messages",
    "import_history",
    "problem_rows",
    "report_path",
    "write_report",
]
