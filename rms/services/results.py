"""Results, appointments and documents: recorded from the HL7 feed and the API alike.

A result is keyed by its sending system and filler order number (OBR-3). The rules, which
follow what the lab means and what PKB does with the same keys:

- a new filler order number creates a result;
- the same one again with different values is a correction: the earlier observations are kept
  but marked superseded, the new ones become current, and the version goes up;
- the same one again with the same values changes nothing (a resend is harmless);
- a preliminary report never replaces a final or corrected one (a late prelim is ignored);
- a deletion or cancellation (OBR-25 R, D or X) marks the result so; it no longer counts;
- a filler order number that belongs to another patient is refused: that is a wrong-patient
  hazard, never an update.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from rms import permissions
from rms.events import event_record
from rms.models import (
    Appointment,
    Document,
    DomainEvent,
    InboundMessage,
    Observation,
    Patient,
    Result,
)

FINAL_STATES = frozenset({Result.Status.FINAL, Result.Status.CORRECTED})


@dataclass(frozen=True)
class ObservationInput:
    code: str
    name: str
    value_type: str
    value_text: str
    observed_at: dt.datetime
    code_system: str = ""
    value_numeric: Decimal | None = None
    comparator: str = ""
    units: str = ""
    reference_range: str = ""
    abnormal_flag: str = ""
    status: str = Observation.Status.FINAL
    notes: str = ""

    def content_key(self) -> tuple[object, ...]:
        """What makes two reports of a value the same (times and status included)."""
        return (
            self.code,
            self.code_system,
            self.name,
            self.value_type,
            self.value_text,
            self.value_numeric,
            self.comparator,
            self.units,
            self.reference_range,
            self.abnormal_flag,
            self.observed_at,
            self.notes,
            # A value the lab withdraws (OBX-11 W, D, X) with nothing else changed is a change.
            self.status,
        )


@dataclass(frozen=True)
class ResultInput:
    category: str
    source_system: str
    filler_order_number: str
    observed_at: dt.datetime
    status: str = Result.Status.FINAL
    placer_order_number: str = ""
    service_code: str = ""
    service_name: str = ""
    reported_at: dt.datetime | None = None
    ordering_clinician: str = ""
    report_text: str = ""
    observations: Sequence[ObservationInput] = field(default_factory=tuple)
    # Who is sending it (MSH-3^MSH-4 of an HL7 message, api:USERNAME for the JSON API): a
    # result is changed only by the sender that filed it, and no second sender files under
    # its filler order number. Blank (PKB's records): not checked.
    sender: str = ""


class Outcome(enum.StrEnum):
    CREATED = "created"
    CORRECTED = "corrected"
    UNCHANGED = "unchanged"
    DELETED = "deleted"
    IGNORED = "ignored"


@dataclass(frozen=True)
class ResultOutcome:
    outcome: Outcome
    result: Result | None
    reason: str = ""


def observation_key(observation: Observation) -> tuple[object, ...]:
    """What makes two observations the same value: a resend with equal keys changes nothing
    (filing and the history import both compare by it)."""
    return (
        observation.code,
        observation.code_system,
        observation.name,
        observation.value_type,
        observation.value_text,
        observation.value_numeric,
        observation.comparator,
        observation.units,
        observation.reference_range,
        observation.abnormal_flag,
        observation.observed_at,
        observation.notes,
        observation.status,
    )


# The choices' values, worked out once (Django's ``values`` builds a new list each time).
_CATEGORIES = frozenset(Result.Category.values)
_STATUSES = frozenset(Result.Status.values)
_VALUE_TYPES = frozenset(Observation.ValueType.values)


def validate_result(data: ResultInput) -> None:
    errors: dict[str, str] = {}
    if data.category not in _CATEGORIES:
        errors["category"] = f"Unknown category {data.category!r}."
    if data.status not in _STATUSES:
        errors["status"] = f"Unknown status {data.status!r}."
    if not data.source_system.strip():
        errors["source_system"] = "The sending system is required."
    if not data.filler_order_number.strip():
        errors["filler_order_number"] = "The filler order number (OBR-3) is required."
    if data.observed_at is None:
        errors["observed_at"] = "The observation time (OBR-7) is required."
    codes = [(o.code, o.code_system) for o in data.observations]
    duplicates = sorted({code for code, system in codes if codes.count((code, system)) > 1})
    if duplicates:
        # PKB rejects the same test twice under one filler order number, and so do we:
        # which of the two values is the result would be a guess.
        errors["observations"] = "The same test appears twice in one report: " + ", ".join(
            duplicates
        )
    for index, observation in enumerate(data.observations, start=1):
        if not observation.code:
            errors[f"observations[{index}].code"] = "The test code (OBX-3) is required."
        if observation.value_type not in _VALUE_TYPES:
            errors[f"observations[{index}].value_type"] = "Use NM for numbers or TX for text."
    if errors:
        raise ValidationError(errors)


def observation_values(result_id: int, data: ResultInput, version: int) -> list[dict[str, Any]]:
    """The observations of ``data`` as the field values of unsaved rows of the result
    ``result_id`` (version ``version``): what filing writes, here, in the bulk import of a
    history and in the inbound feed's one-statement filing."""
    return [
        {
            "result_id": result_id,
            "sequence": sequence,
            "code": o.code,
            "code_system": o.code_system,
            "name": o.name or o.code,
            "value_type": o.value_type,
            "value_text": o.value_text,
            "value_numeric": o.value_numeric,
            "comparator": o.comparator,
            "units": o.units,
            "reference_range": o.reference_range,
            "abnormal_flag": o.abnormal_flag,
            "observed_at": o.observed_at,
            "status": o.status,
            "notes": o.notes,
            "result_version": version,
        }
        for sequence, o in enumerate(data.observations, start=1)
    ]


def observation_rows(result: Result, data: ResultInput, version: int) -> list[Observation]:
    """``observation_values`` as unsaved ``Observation`` rows of ``result``."""
    rows = []
    for values in observation_values(result.pk, data, version):
        values.pop("result_id")
        rows.append(Observation(result=result, **values))
    return rows


def _write_observations(result: Result, data: ResultInput, version: int) -> None:
    Observation.objects.bulk_create(observation_rows(result, data, version))


def _result_event(kind: DomainEvent.Kind, result: Result, previous_status: str = "") -> None:
    # Consumed after commit by monitoring and the PKB bridge (rms.events); the payload is the
    # version filed, so a consumer can tell which change it is looking at.
    payload: dict[str, object] = {"version": result.version, "status": result.status}
    if previous_status:
        payload["previous_status"] = previous_status
    event_record(kind=kind, subject_id=result.pk, patient_id=result.patient_id, payload=payload)


def _record_event(kind: DomainEvent.Kind, item: Appointment | Document, *, created: bool) -> None:
    # An appointment or a document filed, changed or deleted: consumed after commit by the
    # PKB bridge (rms.events), which reads the item as it is then.
    event_record(
        kind=kind,
        subject_id=item.pk,
        patient_id=item.patient_id,
        payload={"created": created, "status": item.status},
    )


def apply_result_header(result: Result, data: ResultInput) -> None:
    """Copy the result-level fields of ``data`` onto ``result`` (unsaved): filing and the
    history import set them the same way."""
    result.category = data.category
    result.placer_order_number = data.placer_order_number
    result.service_code = data.service_code
    result.service_name = data.service_name
    result.observed_at = data.observed_at
    result.reported_at = data.reported_at
    result.status = data.status
    result.ordering_clinician = data.ordering_clinician
    result.report_text = data.report_text


@transaction.atomic
def result_record(
    *,
    patient: Patient,
    data: ResultInput,
    actor: User,
    message: InboundMessage | None = None,
) -> ResultOutcome:
    """File one report for ``patient`` by the rules in this module's docstring. Writes a
    ``RESULT_RECORDED``, ``RESULT_CORRECTED`` or ``RESULT_DELETED`` event as it applies
    (``rms.events``). Safe to repeat: the same report twice is ``UNCHANGED`` the second time."""
    return result_record_in_transaction(patient=patient, data=data, actor=actor, message=message)


def result_sender_conflict(data: ResultInput, patient: Patient) -> str:
    """Why ``data`` may not be filed for ``patient`` as it stands, because of who sends it
    (docs/security.md, "Trust boundaries"): a result of the patient's under its filler order
    number was filed by another sending system. A correction, deletion or cancellation is
    applied only from the sender that filed the original, and a second sender's report under
    the same number is neither merged into it nor filed beside it. (Another patient's result
    under the number is a possible wrong patient when it is the same MSH-3, found as the
    report is filed; two systems' numberings may meet across patients.) Empty when there is
    no conflict, or ``data`` names no sender."""
    if not data.sender:
        return ""
    other = (
        Result.objects.filter(patient=patient, filler_order_number=data.filler_order_number)
        .exclude(sender=data.sender)
        .values_list("sender", flat=True)
        .first()
    )
    return _sender_conflict_reason(data, other)


def _sender_conflict_reason(data: ResultInput, other: str | None) -> str:
    if other is None:
        return ""
    return (
        f"Filler order number {data.filler_order_number[:40]} is already filed by another "
        f"sending system ({(other or 'not recorded')[:60]}); this report from "
        f"{data.sender[:60]} is not applied. Only the system that filed a result may correct, "
        "cancel or delete it."
    )


@dataclass(frozen=True)
class FilingRows:
    """The results a message's reports touch, read and locked in one query
    (``results_lock_for_filing``): what ``result_sender_conflict`` and the lookup in
    ``result_record_in_transaction`` would each read a report, for all of them at once."""

    patient_id: int
    rows: Sequence[Result]

    def sender_conflict(self, data: ResultInput) -> str:
        """``result_sender_conflict`` of ``data``, answered from the rows read."""
        if not data.sender:
            return ""
        other = next(
            (
                row.sender
                for row in self.rows
                if row.patient_id == self.patient_id
                and row.filler_order_number == data.filler_order_number
                and row.sender != data.sender
            ),
            None,
        )
        return _sender_conflict_reason(data, other)

    def existing(self, data: ResultInput) -> Result | None:
        """The result filed under ``data``'s key (its sending system and filler order
        number), locked, or None."""
        return next(
            (
                row
                for row in self.rows
                if row.source_system == data.source_system
                and row.filler_order_number == data.filler_order_number
            ),
            None,
        )


def results_lock_for_filing(*, patient: Patient, inputs: Sequence[ResultInput]) -> FilingRows:
    """Read and lock (in the caller's transaction), in one query, the results filed under
    any of ``inputs``' keys and the patient's results under their filler order numbers from
    any sender. Locked in id order, as the lookups one at a time would lock them."""
    query = Q()
    for data in inputs:
        query |= Q(source_system=data.source_system, filler_order_number=data.filler_order_number)
        if data.sender:
            query |= Q(patient=patient, filler_order_number=data.filler_order_number)
    rows = list(Result.objects.select_for_update().filter(query).order_by("pk")) if query else []
    return FilingRows(patient_id=patient.pk, rows=rows)


def before_birth(patient: Patient, when: dt.datetime | None) -> bool:
    """True when ``when`` falls on a day before the patient's date of birth (local time): a
    mistyped year or the wrong patient, never a result or appointment of this patient."""
    born = patient.date_of_birth
    if not born or when is None:
        return False
    day = when.date() if timezone.is_naive(when) else timezone.localtime(when).date()
    return day < born


def result_record_in_transaction(
    *,
    patient: Patient,
    data: ResultInput,
    actor: User,
    message: InboundMessage | None = None,
    allow_other_sender: bool = False,
    locked: FilingRows | None = None,
) -> ResultOutcome:
    """``result_record`` for a caller that is already inside a transaction (or savepoint) of
    its own which rolls back whatever this raises (the inbound feed's, around a message): no
    savepoint of its own, two round trips a report fewer. Its own refusals (ValidationError)
    come before it writes anything. ``allow_other_sender``: the caller has checked
    ``result_sender_conflict`` already, or an administrator has reviewed a message held for
    it and files it (the result keeps the sender that filed it). ``locked``: the rows
    ``results_lock_for_filing`` read for this report (and no report of the same key filed
    since), which stand for the lookup."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("result_record_in_transaction needs the caller's transaction.")
    validate_result(data)
    if data.status not in Result.WITHDRAWN and before_birth(patient, data.observed_at):
        raise ValidationError(
            {"observed_at": "The observation time is before the patient's date of birth."}
        )
    conflict = "" if allow_other_sender else result_sender_conflict(data, patient)
    if conflict:
        raise ValidationError({"sender": conflict})
    if locked is not None:
        existing = locked.existing(data)
    else:
        existing = (
            Result.objects.select_for_update()
            .filter(source_system=data.source_system, filler_order_number=data.filler_order_number)
            .first()
        )
    if existing is not None and existing.patient_id != patient.pk:
        raise ValidationError(
            {
                "filler_order_number": (
                    "This filler order number is already filed for a different patient: "
                    "held as a possible wrong patient."
                )
            }
        )

    withdrawn = data.status in Result.WITHDRAWN
    if existing is None:
        if withdrawn:
            return ResultOutcome(Outcome.IGNORED, None, "Deletion of a result never received.")
        result = Result(
            patient=patient,
            source_system=data.source_system,
            filler_order_number=data.filler_order_number,
            sender=data.sender,
            last_message=message,
        )
        apply_result_header(result, data)
        result.save()
        _write_observations(result, data, version=1)
        _result_event(DomainEvent.Kind.RESULT_RECORDED, result)
        return ResultOutcome(Outcome.CREATED, result)

    if withdrawn:
        if existing.status == data.status:
            return ResultOutcome(Outcome.UNCHANGED, existing)
        existing.status = data.status
        existing.last_message = message
        existing.save(update_fields=["status", "last_message", "updated_at"])
        existing.observations.filter(superseded_at__isnull=True).update(
            status=Observation.Status.DELETED
            if data.status == Result.Status.DELETED
            else Observation.Status.CANCELLED
        )
        _result_event(DomainEvent.Kind.RESULT_DELETED, existing)
        return ResultOutcome(Outcome.DELETED, existing)

    if data.status == Result.Status.PRELIMINARY and existing.status in FINAL_STATES:
        return ResultOutcome(
            Outcome.IGNORED, existing, "A preliminary report never replaces a final one."
        )

    current = list(existing.observations.filter(superseded_at__isnull=True).order_by("sequence"))
    same_values = [observation_key(o) for o in current] == [
        o.content_key() for o in data.observations
    ]
    same_header = (
        existing.status == data.status
        and existing.observed_at == data.observed_at
        and existing.report_text == data.report_text
        and existing.service_code == data.service_code
        and existing.service_name == data.service_name
    )
    if same_values and same_header:
        return ResultOutcome(Outcome.UNCHANGED, existing)

    previous_status = existing.status
    was_withdrawn = previous_status in Result.WITHDRAWN
    if not same_values:
        existing.observations.filter(superseded_at__isnull=True).update(
            superseded_at=timezone.now()
        )
        existing.version += 1
        _write_observations(existing, data, version=existing.version)
    apply_result_header(existing, data)
    existing.last_message = message
    existing.save()
    if was_withdrawn:
        _result_event(DomainEvent.Kind.RESULT_RECORDED, existing, previous_status=previous_status)
    else:
        _result_event(DomainEvent.Kind.RESULT_CORRECTED, existing)
    return ResultOutcome(Outcome.CORRECTED, existing)


@dataclass(frozen=True)
class AppointmentInput:
    placer_id: str
    starts_at: dt.datetime
    status: str = Appointment.Status.BOOKED
    ends_at: dt.datetime | None = None
    appointment_type: str = ""
    reason: str = ""
    location: str = ""
    clinician: str = ""
    clinician_role: str = ""


@transaction.atomic
def appointment_record(
    *, patient: Patient, data: AppointmentInput, actor: User
) -> tuple[Appointment, bool]:
    """Create or update an appointment by its placer id. Records an ``appointment_changed``
    event when something changed; returns (appointment, changed). Safe to repeat."""
    if not data.placer_id.strip():
        raise ValidationError({"placer_id": "The placer appointment id (SCH-1) is required."})
    if data.status not in Appointment.Status.values:
        raise ValidationError({"status": f"Unknown appointment status {data.status!r}."})
    if before_birth(patient, data.starts_at):
        raise ValidationError(
            {"starts_at": "The appointment starts before the patient's date of birth."}
        )
    appointment = Appointment.objects.select_for_update().filter(placer_id=data.placer_id).first()
    if appointment is not None and appointment.patient_id != patient.pk:
        raise ValidationError({"placer_id": "This appointment id belongs to a different patient."})
    created = appointment is None
    if appointment is None:
        appointment = Appointment(patient=patient, placer_id=data.placer_id)
    values = {
        "starts_at": data.starts_at,
        "ends_at": data.ends_at,
        "appointment_type": data.appointment_type,
        "reason": data.reason,
        "location": data.location,
        "clinician": data.clinician,
        "clinician_role": data.clinician_role,
        "status": data.status,
    }
    if not created and all(getattr(appointment, k) == v for k, v in values.items()):
        return appointment, False
    for name, value in values.items():
        setattr(appointment, name, value)
    appointment.full_clean()
    appointment.save()
    _record_event(DomainEvent.Kind.APPOINTMENT_CHANGED, appointment, created=created)
    return appointment, True


@dataclass(frozen=True)
class DocumentInput:
    document_number: str
    document_type: str
    title: str
    authored_at: dt.datetime
    content_type: str
    content_html: str = ""
    content_pdf: bytes | None = None
    author: str = ""


@transaction.atomic
def document_record(*, patient: Patient, data: DocumentInput, actor: User) -> tuple[Document, bool]:
    """Create or replace a document by its unique number (TXA-12). Records a
    ``document_changed`` event when something changed; returns (document, changed). Safe to
    repeat."""
    errors: dict[str, str] = {}
    if not data.document_number.strip():
        errors["document_number"] = "The unique document number (TXA-12) is required."
    if data.document_type not in Document.DocumentType.values:
        errors["document_type"] = f"Unknown document type {data.document_type!r}."
    if data.content_pdf is not None and len(data.content_pdf) > settings.DOCUMENT_MAX_BYTES:
        errors["content_pdf"] = (
            f"The document is larger than the limit of {settings.DOCUMENT_MAX_BYTES} bytes."
        )
    if errors:
        raise ValidationError(errors)
    document = (
        Document.objects.select_for_update().filter(document_number=data.document_number).first()
    )
    if document is not None and document.patient_id != patient.pk:
        raise ValidationError(
            {"document_number": "This document number belongs to a different patient."}
        )
    created = document is None
    if document is None:
        document = Document(patient=patient, document_number=data.document_number)
    values = {
        "document_type": data.document_type,
        "title": data.title or document.get_document_type_display(),
        "authored_at": data.authored_at,
        "author": data.author,
        "content_type": data.content_type,
        "content_html": data.content_html if data.content_type == "html" else "",
        "content_pdf": data.content_pdf if data.content_type == "pdf" else None,
        "status": Document.Status.CURRENT,
    }
    if not created and all(
        (
            bytes(getattr(document, k))
            if k == "content_pdf" and getattr(document, k)
            else getattr(document, k)
        )
        == v
        for k, v in values.items()
    ):
        return document, False
    for name, value in values.items():
        setattr(document, name, value)
    document.full_clean()
    document.save()
    _record_event(DomainEvent.Kind.DOCUMENT_CHANGED, document, created=created)
    return document, True


@transaction.atomic
def document_delete(*, document: Document, actor: User) -> bool:
    """Mark a document deleted (MDM^T11). Records a ``document_changed`` event; safe to
    repeat."""
    if document.status == Document.Status.DELETED:
        return False
    document.status = Document.Status.DELETED
    document.save(update_fields=["status", "updated_at"])
    _record_event(DomainEvent.Kind.DOCUMENT_CHANGED, document, created=False)
    return True


@transaction.atomic
def result_mark_seen(*, result: Result, actor: User) -> bool:
    """A clinician has seen a patient-entered result: records who and when (django-auditlog
    keeps the change). Only a clinician or team admin of one of the patient's teams may;
    returns False (and changes nothing) when it was already seen. Safe to repeat."""
    if result.category != Result.Category.PATIENT:
        raise ValidationError("Only entries the patient made are marked as seen.")
    permissions.require_write(user=actor, patient=result.patient)
    locked = Result.objects.select_for_update().get(pk=result.pk)
    if locked.seen_at is not None:
        result.seen_by_id, result.seen_at = locked.seen_by_id, locked.seen_at
        return False
    locked.seen_by = actor
    locked.seen_at = timezone.now()
    locked.save(update_fields=["seen_by", "seen_at", "updated_at"])
    result.seen_by, result.seen_at = locked.seen_by, locked.seen_at
    return True
