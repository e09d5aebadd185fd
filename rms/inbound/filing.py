"""Filing a parsed HL7 message into the record, through the services.

One function per message family. Each matches the patient (``rms.inbound.matching``), turns the
parsed segments into service inputs, and calls the services that write and send the ``rms``
signals. What it returns says how the message ended: filed, nothing to file, or held.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.utils.html import linebreaks

from rms import nhs_number, services
from rms.hl7 import (
    AppointmentAction,
    ParsedMessage,
    ResultGroup,
    extract_appointment,
    extract_document,
    extract_patient,
    extract_results,
    is_textual_report,
    report_text,
)
from rms.hl7.errors import ErrorCode, Hl7ParseError
from rms.hl7.extract import DocumentData, PatientIdentity
from rms.inbound import senders
from rms.inbound.matching import Identity, Match, MatchStatus, match_patient
from rms.models import Appointment, Document, InboundMessage, Observation, Patient, Result
from rms.services.results import result_record_in_transaction, results_lock_for_filing

Status = InboundMessage.Status


class Filed(enum.StrEnum):
    """How a message ended, beyond the message status."""

    FILED = "filed"
    NOTHING = "nothing to file"


@dataclass(frozen=True)
class FilingOutcome:
    status: str  # an InboundMessage.Status
    patient: Patient | None = None
    note: str = ""
    sender_check: str = ""  # an InboundMessage.SenderCheck when held for who sent it


# OBR-25 (HL7 table 0123) → Result.Status. R is "results stored, not verified" in the standard,
# but PKB and the lab systems it works with use it to delete a report, and so do we.
RESULT_STATUSES = {
    "": Result.Status.FINAL,
    "F": Result.Status.FINAL,
    "C": Result.Status.CORRECTED,
    "P": Result.Status.PRELIMINARY,
    "A": Result.Status.PRELIMINARY,
    "X": Result.Status.CANCELLED,
    "R": Result.Status.DELETED,
    "D": Result.Status.DELETED,
}
# OBR-25 codes that say no result exists yet: nothing to file.
NO_RESULT_YET = frozenset({"I", "O", "S"})
# OBX-11 (HL7 table 0085) → Observation.Status; W (wrong, withdrawn) is a deletion.
OBSERVATION_STATUSES = {
    "": Observation.Status.FINAL,
    "F": Observation.Status.FINAL,
    "C": Observation.Status.CORRECTED,
    "P": Observation.Status.PRELIMINARY,
    "R": Observation.Status.PRELIMINARY,
    "S": Observation.Status.PRELIMINARY,
    "I": Observation.Status.PRELIMINARY,
    "X": Observation.Status.CANCELLED,
    "D": Observation.Status.DELETED,
    "W": Observation.Status.DELETED,
}


def storable_number(number: Decimal) -> bool:
    """True when ``number`` fits ``Observation.value_numeric`` (18 digits, 6 after the point).
    A bigger one would fail as the row is written, with a server error rather than a reason."""
    field = Observation._meta.get_field("value_numeric")
    limit = Decimal(10) ** (field.max_digits - field.decimal_places)
    if not number.is_finite() or abs(number) >= limit:
        return False
    # The column rounds to its places, which can carry 999999999999.9999999 over the limit.
    return abs(number.quantize(Decimal(1).scaleb(-field.decimal_places))) < limit


def _aware(value: dt.datetime | dt.date | None, field: str) -> dt.datetime:
    """A clinical time as an aware datetime. A date alone is midnight, local time."""
    if value is None:
        raise Hl7ParseError(
            f"{field} is required", field=field, hl7_code=ErrorCode.REQUIRED_FIELD_MISSING
        )
    if isinstance(value, dt.datetime):
        return value
    return dt.datetime.combine(value, dt.time(), tzinfo=ZoneInfo(settings.TIME_ZONE))


def matching_identity(patient: PatientIdentity) -> Identity:
    """The identifiers a message gives for its patient, as patient matching takes them."""
    return Identity(
        nhs_number=patient.nhs_number,
        mrn=patient.mrn,
        family_name=patient.family_name,
        date_of_birth=patient.date_of_birth,
    )


def _match(msg: ParsedMessage, forced: Patient | None) -> tuple[PatientIdentity, Match]:
    identity = extract_patient(msg)
    if forced is not None:
        # An administrator matched this message by hand: their decision, recorded in the
        # message's history, stands in for the automatic checks.
        return identity, Match(MatchStatus.MATCHED, patient=forced)
    return identity, match_patient(matching_identity(identity))


def _matched(match: Match) -> Patient:
    if match.patient is None:  # MATCHED always carries its patient
        raise RuntimeError("a matched message without a patient")
    return match.patient


def _held(match: Match) -> FilingOutcome:
    status = Status.REVIEW if match.status is MatchStatus.REVIEW else Status.UNMATCHED
    # A held message is not linked to the patient it might be about: nothing is filed and
    # nobody of that patient's teams should see it as theirs until a person decides.
    return FilingOutcome(status=status, note=match.reason)


# --- ADT: demographics -----------------------------------------------------------------------


def demographics(identity: PatientIdentity) -> dict[str, Any]:
    """Fields for the patient services. Blank values are left out: as in PKB, a blank field
    in an update does not clear what the record holds."""
    values: dict[str, Any] = {
        "given_name": identity.given_name,
        "family_name": identity.family_name,
        "title": identity.title,
        "date_of_birth": identity.date_of_birth,
        "sex": identity.sex if identity.sex in ("M", "F", "U") else "",
        "email": identity.email,
        "mrn": identity.mrn,
    }
    number = nhs_number.normalise(identity.nhs_number)
    if number:
        values["nhs_number"] = number
    if identity.nhs_number_status:
        values["nhs_number_status"] = identity.nhs_number_status
    if identity.address is not None:
        address = identity.address
        values.update(
            address_line_1=address.line1,
            address_line_2=address.line2,
            address_city=address.city,
            address_county=address.county,
            postcode=address.postcode,
        )
    for phone in identity.phones:
        field = {"home": "phone_home", "mobile": "phone_mobile", "work": "phone_work"}.get(
            phone.kind
        )
        if field and phone.number and field not in values:
            values[field] = phone.number
    return {name: value for name, value in values.items() if value not in ("", None)}


def file_adt(msg: ParsedMessage, *, actor: User, forced: Patient | None = None) -> FilingOutcome:
    """ADT^A28/A31/A04/A08: create or update the patient's identifiers and demographics.

    A patient the feed creates is on no team's caseload: nobody sees them until a team takes
    them on (import_patients or registering them by NHS number adopts the record). Only the
    PAS may send them (``senders.check_demographics_sender``)."""
    senders.check_demographics_sender(msg.sending_application, msg.sending_facility)
    identity, match = _match(msg, forced)
    if match.status is MatchStatus.REVIEW:
        return _held(match)
    values = demographics(identity)
    if match.status is MatchStatus.UNMATCHED:
        number = nhs_number.normalise(identity.nhs_number)
        if number and not nhs_number.is_valid(number):
            return _held(match)
        patient = services.patient_register_from_feed(actor=actor, **values)
        return FilingOutcome(Status.PROCESSED, patient, "Patient registered from the PAS feed.")
    patient = services.patient_update(
        patient=_matched(match), actor=actor, status_source="pas", **values
    )
    return FilingOutcome(Status.PROCESSED, patient)


# --- ORU^R01: results ------------------------------------------------------------------------


def result_input(msg: ParsedMessage, group: ResultGroup) -> services.ResultInput | None:
    code = group.status.upper()
    if code in NO_RESULT_YET:
        return None
    if code not in RESULT_STATUSES:
        raise Hl7ParseError(
            "OBR-25 result status is not one we know",
            field="OBR-25",
            hl7_code=ErrorCode.TABLE_VALUE_NOT_FOUND,
        )
    radiology = msg.sending_application.upper() in {
        name.upper() for name in settings.INBOUND_RADIOLOGY_APPLICATIONS
    }
    observed_at = _aware(group.observed_at, "OBR-7")
    observations: list[services.ObservationInput] = []
    text = ""
    if radiology or (is_textual_report(group) and len(group.observations) > 1):
        # A textual report (a radiology report, or a lab's multi-line comment report) is one
        # document: its lines joined in order, not a list of one-line values.
        text = report_text(group)
    # The lines of a textual report are a document, not values; a one-line text value that is
    # a printed number ("<0.01", "0.2 (H)") is a result like an NM one.
    textual = bool(text)
    if not radiology:
        for obx in group.observations:
            if obx.attachment is not None:
                continue
            # A number we cannot store is kept as the text the lab sent, like any other NM
            # value that is not one number.
            numeric = (
                (obx.value_type in ("NM", "SN") or not textual)
                and obx.numeric is not None
                and storable_number(obx.numeric)
            )
            observations.append(
                services.ObservationInput(
                    code=obx.code,
                    code_system=obx.code_system,
                    name=obx.name or obx.code,
                    value_type="NM" if numeric else "TX",
                    value_text=obx.value_text,
                    value_numeric=obx.numeric if numeric else None,
                    comparator=obx.comparator if numeric else "",
                    units=obx.units,
                    reference_range=obx.reference_range,
                    abnormal_flag=obx.abnormal_flags,
                    observed_at=_aware(obx.observed_at or group.observed_at, "OBX-14"),
                    status=OBSERVATION_STATUSES.get(obx.status.upper(), Observation.Status.FINAL),
                    notes="\n".join(obx.notes),
                )
            )
    return services.ResultInput(
        category=Result.Category.RADIOLOGY if radiology else Result.Category.LAB,
        source_system=msg.sending_application or "UNKNOWN",
        filler_order_number=group.filler_order_number,
        placer_order_number=group.placer_order_number,
        service_code=group.service_code,
        service_name=group.service_name or group.service_code,
        observed_at=observed_at,
        reported_at=_aware(group.reported_at, "OBR-22") if group.reported_at else None,
        status=RESULT_STATUSES[code],
        ordering_clinician=group.ordering_clinician,
        report_text=text,
        observations=observations,
        sender=f"{msg.sending_application}^{msg.sending_facility}",
    )


def file_results(
    msg: ParsedMessage,
    *,
    actor: User,
    message: InboundMessage,
    forced: Patient | None = None,
) -> FilingOutcome:
    """ORU^R01: every OBR group of the message, for one patient, or none of them."""
    _, match = _match(msg, forced)
    if match.status is not MatchStatus.MATCHED:
        return _held(match)
    patient = _matched(match)
    inputs = [data for group in extract_results(msg) if (data := result_input(msg, group))]
    if not inputs:
        return FilingOutcome(Status.IGNORED, patient, "No results in the message yet.")
    # A message held because another sender filed its result is filed only when an
    # administrator reprocesses it (inbound_reprocess), having checked it with the lab.
    reviewed = message.sender_check == InboundMessage.SenderCheck.OTHER_SENDER
    # The sender checks and the reports' lookups in one query, the rows locked.
    locked = results_lock_for_filing(patient=patient, inputs=inputs)
    if not reviewed:
        # Every report is checked before any is written: a message is filed whole or held.
        for data in inputs:
            conflict = locked.sender_conflict(data)
            if conflict:
                raise OtherSender(conflict)
    notes = []
    filed: set[tuple[str, str]] = set()
    for data in inputs:
        key = (data.source_system, data.filler_order_number)
        try:
            # Inside the savepoint the message is processed in (rms.inbound.receive), which
            # rolls back all of it on an error: no savepoint a report.
            outcome = result_record_in_transaction(
                patient=patient,
                data=data,
                actor=actor,
                message=message,
                # Checked above for every report (or reviewed by an administrator).
                allow_other_sender=True,
                # A key twice in one message: the second is looked up after the first's write.
                locked=None if key in filed else locked,
            )
            filed.add(key)
        except ValidationError as exc:
            if "sender" in getattr(exc, "message_dict", {}):
                raise OtherSender(exc.message_dict["sender"][0]) from exc
            if "filler_order_number" in getattr(exc, "message_dict", {}):
                # The report is filed under another patient: never move it, hold for review.
                raise WrongPatient(exc.message_dict["filler_order_number"][0]) from exc
            raise
        if outcome.reason:
            notes.append(f"{data.filler_order_number}: {outcome.reason}")
    return FilingOutcome(Status.PROCESSED, patient, " ".join(notes))


class WrongPatient(Exception):
    """A message whose content belongs to another patient's record: held for review."""


class OtherSender(Exception):
    """A message that would change (or add to) a result another sending system filed: held for
    review, nothing of it filed (docs/security.md, "Trust boundaries")."""


# --- SIU: appointments -----------------------------------------------------------------------

_APPOINTMENT_STATUSES = {
    AppointmentAction.BOOKED: Appointment.Status.BOOKED,
    AppointmentAction.CHANGED: Appointment.Status.BOOKED,
    AppointmentAction.CANCELLED: Appointment.Status.CANCELLED,
    AppointmentAction.NO_SHOW: Appointment.Status.DID_NOT_ATTEND,
}


def file_appointment(
    msg: ParsedMessage, *, actor: User, forced: Patient | None = None
) -> FilingOutcome:
    """SIU^S12 to S15, S26: an appointment booked, changed, cancelled or not attended."""
    _, match = _match(msg, forced)
    if match.status is not MatchStatus.MATCHED:
        return _held(match)
    patient = _matched(match)
    data = extract_appointment(msg)
    existing = Appointment.objects.filter(placer_id=data.placer_id).first()
    start = data.start or (existing.starts_at if existing else None)
    reason = data.reason or (data.notes.splitlines()[0] if data.notes else "")
    try:
        services.appointment_record(
            patient=patient,
            actor=actor,
            data=services.AppointmentInput(
                placer_id=data.placer_id,
                starts_at=_aware(start, "SCH-11"),
                ends_at=_aware(data.end, "SCH-11") if data.end else None,
                appointment_type=data.appointment_type_text or data.appointment_type,
                reason=reason,
                location=data.location,
                clinician=data.clinician,
                clinician_role=data.clinician_role,
                status=_APPOINTMENT_STATUSES[data.action],
            ),
        )
    except ValidationError as exc:
        if "placer_id" in getattr(exc, "message_dict", {}):
            raise WrongPatient(exc.message_dict["placer_id"][0]) from exc
        raise
    return FilingOutcome(Status.PROCESSED, patient)


# --- MDM: documents --------------------------------------------------------------------------


def _document_type(data: DocumentData) -> str:
    document_type = data.document_type.upper()
    if document_type not in Document.DocumentType.values:
        raise Hl7ParseError(
            "TXA-2 document type is not in PKB's list (PKBCS05)",
            field="TXA-2",
            hl7_code=ErrorCode.TABLE_VALUE_NOT_FOUND,
        )
    return document_type


def file_document(
    msg: ParsedMessage, *, actor: User, forced: Patient | None = None
) -> FilingOutcome:
    """MDM^T02 (a document, replaced when its number comes again) and T11 (deleted)."""
    _, match = _match(msg, forced)
    if match.status is not MatchStatus.MATCHED:
        return _held(match)
    patient = _matched(match)
    data = extract_document(msg)
    existing = Document.objects.filter(document_number=data.document_number).first()
    if existing is not None and existing.patient_id != patient.pk:
        raise WrongPatient("This document number belongs to a different patient.")
    if data.is_cancellation:
        if existing is None:
            return FilingOutcome(Status.IGNORED, patient, "Deletion of a document never received.")
        services.document_delete(document=existing, actor=actor)
        return FilingOutcome(Status.PROCESSED, patient)
    document_type = _document_type(data)
    if data.content_type == "pdf":
        content_type, html, pdf = "pdf", "", data.content_bytes
    elif data.content_type == "html":
        content_type, html, pdf = "html", data.content_text, None
    else:
        # Plain text is kept as HTML paragraphs so every document renders the same way.
        content_type, html, pdf = "html", linebreaks(data.content_text, autoescape=True), None
    services.document_record(
        patient=patient,
        actor=actor,
        data=services.DocumentInput(
            document_number=data.document_number,
            document_type=document_type,
            title=data.title,
            authored_at=_aware(data.authored_at or msg.message_datetime, "TXA-4"),
            author=data.author,
            content_type=content_type,
            content_html=html,
            content_pdf=pdf,
        ),
    )
    return FilingOutcome(Status.PROCESSED, patient)


# --- Before acknowledging on storing ---------------------------------------------------------


def check_content(msg: ParsedMessage) -> None:
    """The checks filing makes of the content alone, without the database, raising the same
    ``Hl7Error``. With ``INBOUND_ACK_AFTER=storing`` they run before the acknowledgement, so
    a message we will never file is refused while its sender can still hear of it."""
    extract_patient(msg)
    if msg.message_type == "ADT":
        senders.check_demographics_sender(msg.sending_application, msg.sending_facility)
    if msg.message_type == "ORU":
        for group in extract_results(msg):
            result_input(msg, group)
    elif msg.message_type == "SIU":
        appointment = extract_appointment(msg)
        for moment in (appointment.start, appointment.end):
            if moment is not None:
                _aware(moment, "SCH-11")
    elif msg.message_type == "MDM":
        document = extract_document(msg)
        if not document.is_cancellation:
            _document_type(document)
