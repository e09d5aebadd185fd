"""From the record to PKB's HL7: maps rows onto the pure builders' dataclasses.

Reads the models; writes nothing. The builders in ``pkb_bridge.hl7`` turn the dataclasses into
ER7 text (a few microseconds a message; hl7apy is kept off this path).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import html
import itertools
import math
import operator
import re
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, cast

import psycopg
from django.conf import settings
from django.db import connection
from django.utils import timezone

from pkb_bridge import hl7
from rms import selectors
from rms.models import Appointment, Diagnosis, Document, Observation, Patient, Result, Team

# OBR-25 (table 0123) for each result status: R is how PKB deletes a report.
RESULT_STATUS_CODES: dict[str, str] = {
    Result.Status.PRELIMINARY: "P",
    Result.Status.FINAL: "F",
    Result.Status.CORRECTED: "C",
    Result.Status.CANCELLED: "R",
    Result.Status.DELETED: "R",
}
OBSERVATION_STATUS_CODES: dict[str, str] = {
    Observation.Status.PRELIMINARY: "P",
    Observation.Status.FINAL: "F",
    Observation.Status.CORRECTED: "C",
    Observation.Status.CANCELLED: "X",
    Observation.Status.DELETED: "D",
}
# Observations the lab withdrew (OBX-11 W, D or X as filed): never published to the patient.
WITHDRAWN_OBSERVATION_STATUSES = frozenset(
    {Observation.Status.CANCELLED, Observation.Status.DELETED}
)


def delay_field() -> hl7.build.DelayField:
    """Where the lab delay goes: a setting, because PKB's pages disagree (OBX-13 or OBR-13)."""
    return cast("hl7.build.DelayField", settings.PKB_DELAY_FIELD)


def new_control_id() -> str:
    """MSH-10: a fresh UUID per message, fixed for every retry of it."""
    return str(uuid.uuid4())


def context_for(team: Team, control_id: str) -> hl7.MessageContext:
    return context_with(
        sending_facility=team.pkb_team_alias,
        service_code=team.pv1_service_code,
        control_id=control_id,
        sent_at=timezone.now(),
    )


def context_with(
    *, sending_facility: str, service_code: str, control_id: str, sent_at: dt.datetime
) -> hl7.MessageContext:
    """The header values of a message from a team's PKB alias and service code (plain values)
    and the PKB settings."""
    return hl7.MessageContext(
        sending_application=settings.PKB_SENDING_APPLICATION,
        sending_facility=sending_facility,
        control_id=control_id,
        sent_at=sent_at,
        processing_id=settings.PKB_PROCESSING_ID,
        service_code=service_code,
        radiology_application=settings.PKB_RADIOLOGY_APPLICATION,
        email_component=settings.PKB_EMAIL_COMPONENT,
    )


def patient_data(patient: Patient, *, without_email: bool = False) -> hl7.Patient:
    """The patient as the builders take them. ``without_email``: PKB refused the email (it
    belongs to another PKB record), so it is left out."""
    return hl7.Patient(
        nhs_number=patient.nhs_number or "",
        nhs_number_status=patient.nhs_number_status,
        given_name=patient.given_name,
        family_name=patient.family_name,
        title=patient.title,
        date_of_birth=patient.date_of_birth,
        sex=patient.sex,
        # PKB ignores a local identifier whose assigning authority it has not been told
        # about; without one configured, the MRN is not sent.
        mrn=patient.mrn if settings.PKB_MRN_ASSIGNING_AUTHORITY else "",
        mrn_assigning_authority=settings.PKB_MRN_ASSIGNING_AUTHORITY,
        address_line1=patient.address_line_1,
        address_line2=patient.address_line_2,
        city=patient.address_city,
        county=patient.address_county,
        postcode=patient.postcode,
        phone_home=patient.phone_home,
        phone_mobile=patient.phone_mobile,
        phone_work=patient.phone_work,
        email="" if without_email else patient.email,
    )


def diagnoses_data(diagnoses: Sequence[Diagnosis]) -> list[hl7.Diagnosis]:
    # Entered-in-error diagnoses are left out: the set PKB holds is replaced by what we send.
    return [
        hl7.Diagnosis(
            code=d.code,
            code_system_text=d.code_system,
            text=d.text,
            diagnosed_at=d.diagnosed_on,
        )
        for d in diagnoses
        if d.status != Diagnosis.Status.ENTERED_IN_ERROR
    ]


def delay_days_until(release_at: dt.datetime | None, clinical_time: dt.datetime) -> int | None:
    """PKB counts a delay in days from the clinical time, not from sending: the whole days
    from ``clinical_time`` to ``release_at``, at least 0 (already passed: no delay)."""
    if release_at is None:
        return None
    days = math.ceil((release_at - clinical_time).total_seconds() / 86400)
    return max(0, days)


_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)", re.ASCII)


def _lab_observation(
    code: str,
    name: str,
    code_system: str,
    value_text: str,
    comparator: str,
    value_type: str,
    units: str,
    reference_range: str,
    abnormal_flag: str,
    status: str,
    observed_at: dt.datetime,
    notes: str,
) -> hl7.LabObservation:
    return hl7.LabObservation(
        code=code,
        name=name,
        code_system=code_system,
        value=value_text,
        # "<0.01" or "0.2 (H)" is not an NM value: it goes as a string, as the lab printed it.
        value_type=(
            ("NM" if not comparator and _PLAIN_NUMBER.fullmatch(value_text) else "ST")
            if value_type == "NM"
            else "TX"
        ),
        units=units,
        reference_range=reference_range,
        abnormal_flag=abnormal_flag,
        status=OBSERVATION_STATUS_CODES.get(status, "F"),
        observed_at=observed_at,
        notes=tuple(line for line in notes.splitlines() if line.strip()),
    )


def _lab_report(
    filler_order_number: str,
    placer_order_number: str,
    service_code: str,
    service_name: str,
    observed_at: dt.datetime,
    reported_at: dt.datetime | None,
    status: str,
    ordering_clinician: str,
    *,
    observations: tuple[hl7.LabObservation, ...],
    delay_days: int | None,
) -> hl7.LabReport:
    return hl7.LabReport(
        filler_order_number=filler_order_number,
        placer_order_number=placer_order_number,
        service_code=service_code or "LAB",
        service_name=service_name or service_code or "Laboratory result",
        observed_at=observed_at,
        reported_at=reported_at,
        result_status=RESULT_STATUS_CODES.get(status, "F"),
        ordering_clinician=ordering_clinician or None,
        observations=observations,
        delay_days=delay_days,
    )


def lab_report(result: Result, *, delay_days: int | None) -> hl7.LabReport:
    observations = tuple(
        _lab_observation(
            o.code,
            o.name,
            o.code_system,
            o.value_text,
            o.comparator,
            o.value_type,
            o.units,
            o.reference_range,
            o.abnormal_flag,
            o.status,
            o.observed_at,
            o.notes,
        )
        for o in result.observations.all()
        if o.superseded_at is None and o.status not in WITHDRAWN_OBSERVATION_STATUSES
    )
    return _lab_report(
        result.filler_order_number,
        result.placer_order_number,
        result.service_code,
        result.service_name,
        result.observed_at,
        result.reported_at,
        result.status,
        result.ordering_clinician,
        observations=observations,
        delay_days=delay_days,
    )


# The columns ``_lab_report`` and ``_lab_observation`` take, in their order.
_RESULT_FIELDS = (
    "filler_order_number",
    "placer_order_number",
    "service_code",
    "service_name",
    "observed_at",
    "reported_at",
    "status",
    "ordering_clinician",
)
_OBSERVATION_FIELDS = (
    "code",
    "name",
    "code_system",
    "value_text",
    "comparator",
    "value_type",
    "units",
    "reference_range",
    "abnormal_flag",
    "status",
    "observed_at",
    "notes",
)


@dataclass(frozen=True, slots=True)
class LabItem:
    """A lab result as the historic upload reads it: its id, its clinical time and its report
    (without a delay), read as plain values rather than model instances (a record can hold
    thousands of results, and the upload needs nothing else of them)."""

    pk: int
    observed_at: dt.datetime
    report: hl7.LabReport


def lab_items(patient: Patient) -> list[LabItem]:
    """Every lab result of ``patient`` that still counts (not cancelled or deleted), oldest
    first, each with its current observations, read as plain values, not model instances:
    one fixed query on PostgreSQL, two through the ORM elsewhere. The reports are those
    ``lab_report`` makes of the same rows."""
    if connection.vendor == "postgresql":
        return _lab_items_from_rows(_lab_rows_sql(patient.pk))
    return _lab_items_from_rows(_lab_rows_orm(patient))


def _lab_rows_orm(patient: Patient) -> Iterator[tuple[Any, ...]]:
    """``_lab_rows_sql``'s rows, from two queries of the ORM."""
    observations: dict[int, list[tuple[Any, ...]]] = {}
    for result_id, *values in selectors.current_observation_values(
        patient=patient, category=Result.Category.LAB, fields=_OBSERVATION_FIELDS
    ):
        observations.setdefault(result_id, []).append(tuple(values))
    rows = selectors.result_values(
        patient=patient, category=Result.Category.LAB, fields=("pk", *_RESULT_FIELDS)
    ).exclude(status__in=Result.WITHDRAWN)
    blank = (None,) * len(_OBSERVATION_FIELDS)
    for row in rows:
        for observation in observations.get(row[0], [blank]):
            yield (*row, *observation)


@functools.cache
def _lab_rows_statement() -> str:
    quote = connection.ops.quote_name
    column = {
        model: {field.name: str(field.column) for field in model._meta.concrete_fields}
        for model in (Result, Observation)
    }
    result_columns = ", ".join(
        f"r.{quote(column[Result][name])}" for name in ("id", *_RESULT_FIELDS)
    )
    observation_columns = ", ".join(
        f"o.{quote(column[Observation][name])}" for name in _OBSERVATION_FIELDS
    )
    o = column[Observation]
    r = column[Result]
    return f"""
        SELECT {result_columns}, {observation_columns}
          FROM {quote(Result._meta.db_table)} AS r
          LEFT JOIN {quote(Observation._meta.db_table)} AS o
            ON o.{quote(o["result"])} = r.id AND o.{quote(o["superseded_at"])} IS NULL
         WHERE r.{quote(r["patient"])} = %s AND r.{quote(r["category"])} = %s
           AND r.{quote(r["status"])} <> ALL(%s)
         ORDER BY r.{quote(r["observed_at"])}, r.id, o.{quote(o["sequence"])}, o.id
    """  # noqa: S608 - names from the models' meta; values are parameters


def _lab_rows_sql(patient_id: int) -> list[tuple[Any, ...]]:
    """One row per current observation of each lab result that counts (one with blank
    observation values for a result without any), oldest result first, the observations in
    their order: one fixed query, as the upload of a whole record reads thousands of them
    (bench/pkb_historic.py). Its values are bound on the server and its rows come back in
    binary (no text of timestamps to parse), the statement prepared once a connection
    (``DATABASE_PREPARED_STATEMENTS``): half the CPU of Django's cursor for 200 rows."""
    connection.ensure_connection()
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(
            _lab_rows_statement(),
            [patient_id, Result.Category.LAB.value, [str(status) for status in Result.WITHDRAWN]],
            prepare=True,
            binary=True,
        )
        return cursor.fetchall()


def _lab_items_from_rows(rows: Iterable[tuple[Any, ...]]) -> list[LabItem]:
    """The lab items of rows of ``(id, *_RESULT_FIELDS, *_OBSERVATION_FIELDS)``, one a current
    observation (blank for a result without any), grouped by result in order."""
    width = 1 + len(_RESULT_FIELDS)
    code_at = width + _OBSERVATION_FIELDS.index("code")
    status_at = width + _OBSERVATION_FIELDS.index("status")
    items: list[LabItem] = []
    for pk, group in itertools.groupby(rows, key=operator.itemgetter(0)):
        observations: list[hl7.LabObservation] = []
        withdrawn = False
        for row in group:
            if row[code_at] is None:  # no observation at all
                continue
            if row[status_at] in WITHDRAWN_OBSERVATION_STATUSES:
                withdrawn = True  # withdrawn by the lab: never published
                continue
            observations.append(_lab_observation(*row[width:]))
        # A report whose every observation the lab withdrew has nothing to show.
        if withdrawn and not observations:
            continue
        values = row[1:width]
        items.append(
            LabItem(
                pk=pk,
                observed_at=values[4],
                report=_lab_report(*values, observations=tuple(observations), delay_days=None),
            )
        )
    return items


def radiology_report(result: Result, *, delay_days: int | None) -> hl7.RadiologyReport:
    status = RESULT_STATUS_CODES.get(result.status, "F")
    return hl7.RadiologyReport(
        filler_order_number=result.filler_order_number,
        service_code=result.service_code or "RAD",
        service_name=result.service_name or "Imaging report",
        observed_at=result.observed_at,
        reported_at=result.reported_at,
        report_text=result.report_text if status != "R" else "",
        result_status=status,
        ordering_clinician=result.ordering_clinician or None,
        delay_days=delay_days,
    )


def document_data(document: Document, *, delay_days: int | None) -> hl7.Document:
    pdf = bytes(document.content_pdf) if document.content_pdf is not None else None
    return hl7.Document(
        document_number=document.document_number,
        document_type=document.document_type,
        title=document.title,
        authored_at=document.authored_at,
        content_html=document.content_html if pdf is None else None,
        content_pdf=pdf,
        author=document.author or None,
        filename=f"{document.document_number}.{'pdf' if pdf is not None else 'html'}",
        delay_days=delay_days,
    )


def care_plan_data(document: Document, *, delay_days: int | None) -> hl7.CarePlan:
    """A care plan document (type CP): sent with ``hl7.build_care_plan``, so re-sending its
    number replaces the plan in PKB and keeps the earlier versions."""
    pdf = bytes(document.content_pdf) if document.content_pdf is not None else None
    return hl7.CarePlan(
        document_number=document.document_number,
        title=document.title,
        authored_at=document.authored_at,
        content_html=document.content_html if pdf is None else None,
        content_pdf=pdf,
        author=document.author or None,
        filename=f"{document.document_number}.{'pdf' if pdf is not None else 'html'}",
        delay_days=delay_days,
    )


def lab_report_has_withdrawn(result: Result) -> bool:
    """Whether any current observation of ``result`` is one the lab has withdrawn (and so is
    left out of what is sent)."""
    return any(
        o.superseded_at is None and o.status in WITHDRAWN_OBSERVATION_STATUSES
        for o in result.observations.all()
    )


def lab_report_deletion(result: Result) -> hl7.LabReport:
    """The report of ``result`` with result status R and no observation: PKB marks every
    result it holds for the filler order number deleted (pkb-hl7-interface.md 9.2)."""
    return dataclasses.replace(
        lab_report(result, delay_days=None), result_status="R", observations=()
    )


def care_plan_withdrawal_data(document: Document) -> hl7.CarePlan:
    """The version of a deleted care plan that replaces it in PKB (same TXA-12): PKB cannot
    delete a care plan, and ignores MDM^T11 for one (pkb-hl7-interface.md 2, 9.5)."""
    return care_plan_withdrawal(
        document_number=document.document_number,
        title=document.title,
        author=document.author,
        withdrawn_at=timezone.now(),
    )


def care_plan_withdrawal(
    *, document_number: str, title: str, author: str, withdrawn_at: dt.datetime
) -> hl7.CarePlan:
    """A withdrawn care plan's last version, from plain values: it says only that the plan was
    withdrawn (``PKB_CARE_PLAN_WITHDRAWN_TEXT``), is dated when it was withdrawn and has no
    delay."""
    notice = html.escape(settings.PKB_CARE_PLAN_WITHDRAWN_TEXT)
    return hl7.CarePlan(
        document_number=document_number,
        title=f"Withdrawn: {title}",
        authored_at=withdrawn_at,
        content_html=f"<p>{notice}</p>",
        author=author or None,
        filename=f"{document_number}.html",
    )


def appointment_data(appointment: Appointment) -> hl7.Appointment:
    return hl7.Appointment(
        placer_id=appointment.placer_id,
        starts_at=appointment.starts_at,
        ends_at=appointment.ends_at,
        reason=appointment.reason,
        appointment_type=appointment.appointment_type,
        location=appointment.location,
        clinician=appointment.clinician or None,
        clinician_role=appointment.clinician_role,
    )
