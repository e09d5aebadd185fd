"""Importing a team's existing caseload from a CSV file (``manage.py import_patients``).

The file has a header row naming exactly ``COLUMNS`` (in any order). Each data row is parsed
and checked here, then written through ``rms.services`` (``patient_create``,
``patient_update``, ``caseload_add``) in its own transaction, so a refused row leaves nothing
behind and the other rows still import. Rows are matched to existing patients by NHS number
(by MRN when a row has none), which makes importing the same file twice harmless.

Nothing here logs or returns names, dates of birth or NHS numbers: a report names only line
numbers and field names, because it is printed on an operator's terminal and often pasted
into tickets.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction

from rms import nhs_number, services
from rms.models import CaseloadEntry, NhsNumberStatus, Patient, Sex, Team

COLUMNS = (
    "nhs_number",
    "nhs_number_status",
    "mrn",
    "title",
    "given_name",
    "family_name",
    "date_of_birth",
    "sex",
    "address",
    "phone",
    "email",
)

# Outward code, optional space, inward code; GIR 0AA is the one historic exception.
_POSTCODE = re.compile(r"^(?:([A-Z]{1,2}[0-9][A-Z0-9]?) ?([0-9][A-Z]{2})|(GIR) ?(0AA))$")
# A UK mobile: 07 and nine more digits, or the same in international form.
_UK_MOBILE = re.compile(r"^(?:07\d{9}|\+447\d{9})$")
_PHONE_PUNCTUATION = re.compile(r"[\s().-]")
# ``date.fromisoformat`` also takes 19560314 and week dates; the file format is YYYY-MM-DD only.
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_ADDRESS_FIELDS = ("address_line_1", "address_line_2", "address_city", "address_county")


class ImportFileError(Exception):
    """The file as a whole cannot be imported (not UTF-8, wrong header); nothing was read."""


@dataclass
class Refusal:
    line: int
    # (field name, message) pairs; never the refused value itself.
    reasons: list[tuple[str, str]]


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    refused: list[Refusal] = field(default_factory=list)
    dry_run: bool = False

    @property
    def rows(self) -> int:
        return self.created + self.updated + self.unchanged + len(self.refused)

    def lines(self) -> list[str]:
        """The report as printable lines: counts, then one line per reason a row was refused."""
        heading = "Dry run: nothing was written." if self.dry_run else "Import finished."
        out = [
            heading,
            f"Rows read: {self.rows}",
            f"Created: {self.created}",
            f"Updated: {self.updated}",
            f"Unchanged: {self.unchanged}",
            f"Refused: {len(self.refused)}",
        ]
        for refusal in self.refused:
            out.extend(f"line {refusal.line}: {name}: {text}" for name, text in refusal.reasons)
        return out


# ---------------------------------------------------------------------------
# Reading the file
# ---------------------------------------------------------------------------


def decode(data: bytes) -> str:
    """The file's text. UTF-8 with or without a byte order mark (Excel writes one)."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportFileError(
            f"The file is not UTF-8 (undecodable byte at position {exc.start}). "
            "Save it as 'CSV UTF-8' and try again."
        ) from None


def check_header(header: list[str]) -> None:
    """Refuse a header that is not exactly ``COLUMNS``, naming what is missing or extra."""
    names = [name.strip() for name in header]
    problems = []
    missing = [name for name in COLUMNS if name not in names]
    extra = sorted({name for name in names if name not in COLUMNS})
    repeated = sorted({name for name in names if name in COLUMNS and names.count(name) > 1})
    if missing:
        problems.append("missing column(s): " + ", ".join(missing))
    if extra:
        problems.append("unexpected column(s): " + ", ".join(n or "(blank)" for n in extra))
    if repeated:
        problems.append("repeated column(s): " + ", ".join(repeated))
    if problems:
        raise ImportFileError(
            "The header row is wrong: "
            + "; ".join(problems)
            + ". Expected exactly: "
            + ",".join(COLUMNS)
            + "."
        )


def read_rows(text: str) -> Iterator[tuple[int, dict[str, str] | str]]:
    """Yield ``(line number, row)`` for each data row, counting the header as line 1.

    A row is a dict of column → stripped value, or a message when the row has the wrong
    number of values. Blank lines are skipped.
    """
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise ImportFileError("The file is empty: it needs a header row.") from None
    except csv.Error as exc:
        raise ImportFileError(f"The header row is not valid CSV: {exc}.") from None
    check_header(header)
    names = [name.strip() for name in header]
    while True:
        # A quoted value may span lines, so a row starts on the line after the previous one
        # ended, which is not always reader.line_num.
        start = reader.line_num + 1
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield start, f"the row is not valid CSV ({exc})"
            continue
        if not any(value.strip() for value in values):
            continue
        if len(values) != len(names):
            yield start, f"the row has {len(values)} values; the header has {len(names)}"
            continue
        yield start, {name: value.strip() for name, value in zip(names, values, strict=True)}


# ---------------------------------------------------------------------------
# Parsing one row
# ---------------------------------------------------------------------------


def split_address(address: str) -> dict[str, str]:
    """``"1 Station Road, Bishops Lydeard, Taunton, Somerset, TA4 3AB"`` → address fields.

    A trailing UK postcode becomes ``postcode``; the parts before it fill line 1, line 2,
    town and county in order. An empty part keeps its place, so ``"1 Station Road,,
    Taunton"`` puts Taunton in the town. With more than four parts the extra middle ones
    are joined into line 2.
    """
    parts = [part.strip() for part in address.split(",")]
    while parts and not parts[-1]:
        parts.pop()
    values = dict.fromkeys((*_ADDRESS_FIELDS, "postcode"), "")
    if parts:
        postcode = normalise_postcode(parts[-1])
        if postcode:
            values["postcode"] = postcode
            parts.pop()
    if len(parts) > len(_ADDRESS_FIELDS):
        middle = ", ".join(part for part in parts[1:-2] if part)
        parts = [parts[0], middle, parts[-2], parts[-1]]
    for name, part in zip(_ADDRESS_FIELDS, parts, strict=False):
        values[name] = part
    return values


def normalise_postcode(value: str) -> str:
    """``"ta1 1aa"`` → ``"TA1 1AA"``; ``""`` when ``value`` is not a UK postcode."""
    match = _POSTCODE.match(" ".join(value.upper().split()))
    if not match:
        return ""
    outward, inward = (match.group(1), match.group(2)) if match.group(1) else ("GIR", "0AA")
    return f"{outward} {inward}"


def phone_field(phone: str) -> str:
    """The patient field a phone number belongs in: UK mobiles are ``phone_mobile``."""
    digits = _PHONE_PUNCTUATION.sub("", phone)
    return "phone_mobile" if _UK_MOBILE.match(digits) else "phone_home"


def parse_row(row: dict[str, str]) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """The patient field values a row gives (blank columns left out) and its format errors.

    Only values present in the row are returned, so an update overwrites only what the file
    says. The address is one unit: a non-blank address replaces all five address fields.
    """
    values: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}

    number = nhs_number.normalise(row["nhs_number"])
    if number:
        reason = nhs_number.invalid_reason(number)
        if reason:
            errors["nhs_number"] = [reason]
        else:
            values["nhs_number"] = number

    status = row["nhs_number_status"]
    if status:
        if status not in NhsNumberStatus.values:
            errors["nhs_number_status"] = ["Use a two-digit status code from 01 to 08."]
        else:
            values["nhs_number_status"] = status

    for name in ("mrn", "title", "given_name", "family_name", "email"):
        if row[name]:
            values[name] = row[name]

    born = row["date_of_birth"]
    if born:
        try:
            if not _ISO_DATE.match(born):
                raise ValueError
            values["date_of_birth"] = dt.date.fromisoformat(born)
        except ValueError:
            errors["date_of_birth"] = ["Enter a real date as YYYY-MM-DD, e.g. 1956-03-14."]

    sex = row["sex"].upper()
    if sex:
        if sex not in Sex.values:
            errors["sex"] = ["Use M, F or U."]
        else:
            values["sex"] = sex

    if row["address"]:
        values.update(split_address(row["address"]))

    if row["phone"]:
        values[phone_field(row["phone"])] = row["phone"]

    return values, errors


# ---------------------------------------------------------------------------
# Writing one row
# ---------------------------------------------------------------------------


def find_patient(values: dict[str, Any]) -> Patient | None:
    """The patient a row is about: by NHS number, or by MRN when the row has no NHS number.

    Not scoped to the importing team: onboarding a patient another team already follows adds
    them to this team's caseload rather than registering them twice.
    """
    if values.get("nhs_number"):
        return Patient.objects.filter(nhs_number=values["nhs_number"]).first()
    if values.get("mrn"):
        return Patient.objects.filter(mrn=values["mrn"], nhs_number__isnull=True).first()
    return None


def _missing_for_new(values: dict[str, Any]) -> dict[str, list[str]]:
    return {
        name: ["This field is required for a new patient."]
        for name in ("given_name", "family_name", "date_of_birth")
        if not values.get(name)
    }


def _check_same_person(patient: Patient, values: dict[str, Any]) -> None:
    # Taking on a patient the team does not follow yet, by an identifier alone, would let a
    # mistyped NHS number attach (and overwrite) somebody else: the date of birth and the
    # family name must agree with the record first.
    from rms.inbound.matching import same_name

    born = values.get("date_of_birth")
    family = values.get("family_name")
    if (born and born != patient.date_of_birth) or (
        family and not same_name(family, patient.family_name)
    ):
        raise ValidationError(
            {
                "nhs_number": (
                    "This identifier belongs to a patient with a different date of birth or "
                    "family name; check the row."
                )
            }
        )


def import_row(*, values: dict[str, Any], team: Team, actor: User) -> str:
    """Create or update one patient and put them on ``team``'s caseload.

    Returns ``"created"``, ``"updated"`` or ``"unchanged"``; raises ValidationError keyed by
    field. Runs in a savepoint: a refusal leaves nothing written. Safe to repeat.
    """
    with transaction.atomic():
        patient = find_patient(values)
        if patient is None:
            missing = _missing_for_new(values)
            if missing:
                raise ValidationError(missing)
            new = {"nhs_number_status": NhsNumberStatus.NOT_TRACED, **values}
            services.patient_create(actor=actor, teams=[team], status_source="import", **new)
            return "created"
        on_caseload = CaseloadEntry.objects.filter(
            patient=patient, team=team, ended_on__isnull=True
        ).exists()
        if not on_caseload:
            _check_same_person(patient, values)
        before = {name: getattr(patient, name) for name in services.PATIENT_FIELDS}
        services.patient_update(patient=patient, actor=actor, status_source="import", **values)
        changed = any(getattr(patient, name) != before[name] for name in before)
        if not on_caseload:
            services.caseload_add(patient=patient, team=team, actor=actor)
        return "updated" if changed or not on_caseload else "unchanged"


def _reasons(error: ValidationError) -> list[tuple[str, str]]:
    if hasattr(error, "error_dict"):
        return [
            (name, message) for name, messages in error.message_dict.items() for message in messages
        ]
    return [("row", message) for message in error.messages]


def import_caseload(
    *, text: str, team: Team, actor: User | None = None, dry_run: bool = False
) -> ImportReport:
    """Import every row of a caseload file onto ``team``'s caseload and report the outcome.

    Changes are made as ``actor`` (default: the system actor). Each row commits or fails
    alone. With ``dry_run`` everything runs the same way inside a transaction that is rolled
    back at the end, so the report is what a real run would say.
    Raises ImportFileError before writing anything when the file as a whole is unusable.
    """
    report = ImportReport(dry_run=dry_run)
    # Read (and check the header) before the first write.
    rows = list(read_rows(text))
    # A real run has no outer transaction: each row commits on its own, so a long import
    # does not hold the database's write lock throughout, and an interrupted one can simply
    # be run again.
    with transaction.atomic() if dry_run else contextlib.nullcontext():
        actor = actor or services.system_user()
        for line, row in rows:
            if isinstance(row, str):
                report.refused.append(Refusal(line, [("row", row)]))
                continue
            values, errors = parse_row(row)
            if errors:
                # Say everything wrong with the row at once, not one thing per attempt. No
                # registered patient has an invalid NHS number, so such a row would be new.
                if "nhs_number" in errors or find_patient(values) is None:
                    for name, messages in _missing_for_new(values).items():
                        errors.setdefault(name, messages)
                reasons = [(name, msg) for name, messages in errors.items() for msg in messages]
                report.refused.append(Refusal(line, reasons))
                continue
            try:
                outcome = import_row(values=values, team=team, actor=actor)
            except ValidationError as exc:
                report.refused.append(Refusal(line, _reasons(exc)))
                continue
            setattr(report, outcome, getattr(report, outcome) + 1)
        if dry_run:
            transaction.set_rollback(True)
    return report


def import_caseload_file(
    *, path: Path, team: Team, actor: User | None = None, dry_run: bool = False
) -> ImportReport:
    """``import_caseload`` for a file on disk. Raises ImportFileError when it cannot be read."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ImportFileError(f"Cannot read {path}: {exc.strerror}.") from None
    return import_caseload(text=decode(data), team=team, actor=actor, dry_run=dry_run)
