"""Patients, caseloads, diagnoses, teams, memberships and the access log."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from rms import nhs_number, permissions
from rms.events import event_record
from rms.models import (
    AccessEvent,
    CaseloadEntry,
    Diagnosis,
    DomainEvent,
    Membership,
    NhsNumberStatus,
    NhsNumberStatusChange,
    Patient,
    Team,
)

SYSTEM_USERNAME = "rms-system"

# Fields a caller may set on a patient; the rest (ids, times, teams) are managed here.
PATIENT_FIELDS = (
    "nhs_number",
    "nhs_number_status",
    "mrn",
    "title",
    "given_name",
    "family_name",
    "date_of_birth",
    "sex",
    "address_line_1",
    "address_line_2",
    "address_city",
    "address_county",
    "postcode",
    "phone_home",
    "phone_mobile",
    "phone_work",
    "email",
)


# The answer to anyone else who tries to change an NHS number status, on the page and the API.
NHS_NUMBER_STATUS_REFUSAL = (
    "Only a team admin of the patient's team can change the NHS number status (PKB relies on "
    "status 01, verified, to tell people apart), and only with a reason. Ask your team admin."
)
NHS_NUMBER_STATUS_REASON_REQUIRED = "Give the reason for changing the NHS number status."
StatusSource = NhsNumberStatusChange.Source


def system_user() -> User:
    """The named actor for background jobs and feeds (never nobody). Cannot log in."""
    user, created = User.objects.get_or_create(
        username=SYSTEM_USERNAME, defaults={"is_active": False, "first_name": "RMS system"}
    )
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    return user


def system_user_id() -> int:
    """``system_user().pk``, reading only the id where the user exists (as it does once
    anything has run): for bulk writes that only stamp who decided."""
    # One fixed statement: it runs in every opt-in, whose CPU the ORM's query building showed.
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id FROM {connection.ops.quote_name(User._meta.db_table)} "  # noqa: S608
            "WHERE username = %s",
            [SYSTEM_USERNAME],
        )
        row = cursor.fetchone()
    return int(row[0]) if row else system_user().pk


def _clean_patient_values(values: Mapping[str, Any]) -> dict[str, Any]:
    unknown = set(values) - set(PATIENT_FIELDS)
    if unknown:
        raise ValidationError({name: "This field cannot be set." for name in sorted(unknown)})
    cleaned = dict(values)
    if "nhs_number" in cleaned:
        number = nhs_number.normalise(cleaned["nhs_number"] or "")
        cleaned["nhs_number"] = number or None
    for name in ("mrn", "given_name", "family_name", "title", "email", "postcode"):
        if name in cleaned and isinstance(cleaned[name], str):
            cleaned[name] = cleaned[name].strip()
    if cleaned.get("postcode"):
        cleaned["postcode"] = cleaned["postcode"].upper()
    return cleaned


def patient_validate(patient: Patient) -> None:
    """Field validation plus the record's own rules, all reported at once by field."""
    errors: dict[str, list[str]] = {}
    try:
        patient.full_clean(validate_unique=False, validate_constraints=False)
    except ValidationError as exc:
        for field, messages in exc.message_dict.items():
            errors.setdefault(field, []).extend(messages)
    if not patient.nhs_number and not patient.mrn:
        errors.setdefault("nhs_number", []).append(
            "An NHS number or an MRN is required to identify the patient."
        )
    if patient.nhs_number and "nhs_number" not in errors:
        clash = Patient.objects.filter(nhs_number=patient.nhs_number).exclude(pk=patient.pk)
        if clash.exists():
            errors.setdefault("nhs_number", []).append(
                "A patient with this NHS number is already registered. Ask a team that follows "
                "them, or an administrator, to add them to your team's caseload."
            )
    if patient.mrn:
        clash = Patient.objects.filter(mrn=patient.mrn).exclude(pk=patient.pk)
        if clash.exists():
            errors.setdefault("mrn", []).append("A patient with this MRN is already registered.")
    if patient.date_of_birth and patient.date_of_birth > timezone.localdate():
        errors.setdefault("date_of_birth", []).append("The date of birth is in the future.")
    if not patient.nhs_number and patient.nhs_number_status == NhsNumberStatus.VERIFIED:
        errors.setdefault("nhs_number_status", []).append(
            "Status 01 (verified) needs an NHS number."
        )
    if errors:
        raise ValidationError(errors)


def patient_check(*, patient: Patient | None = None, **values: Any) -> None:
    """Check ``values`` as ``patient_create`` (``patient`` None) or ``patient_update`` would,
    writing nothing: raises their ValidationError, every field at once. A form whose own
    checks failed calls this with the fields it could read, so an invalid date does not hide
    an NHS number error."""
    cleaned = _clean_patient_values(values)
    if patient is not None:
        candidate = Patient.objects.get(pk=patient.pk)
    else:
        candidate = Patient()
        existing = _adoptable(cleaned)
        if existing is not None:
            # Registration takes this patient on rather than duplicating them.
            candidate.pk = existing.pk
    for name, value in cleaned.items():
        setattr(candidate, name, value)
    patient_validate(candidate)


def _save_patient(patient: Patient) -> None:
    # The checks above run before the write; the database constraints catch a race between
    # two writers, and the loser gets the same field error rather than a server error.
    try:
        with transaction.atomic():
            patient.save()
    except IntegrityError as exc:
        text = str(exc).lower()
        field = "mrn" if "mrn" in text else "nhs_number"
        raise ValidationError(
            {field: "A patient with this identifier is already registered."}
        ) from exc


def _adoptable(values: Mapping[str, Any]) -> Patient | None:
    """The patient a registration should take on rather than duplicate: one with this NHS
    number that no team follows now (registered by the PAS feed before any team took them
    on, or discharged by every team and now referred back). The caller must know the date of
    birth and family name too (``_adopt``)."""
    number = values.get("nhs_number")
    if not number:
        return None
    existing = Patient.objects.filter(nhs_number=number).first()
    if existing is None or existing.caseload_entries.filter(ended_on__isnull=True).exists():
        return None
    return existing


def _adopt(existing: Patient, values: Mapping[str, Any]) -> Patient:
    # Someone who knows the NHS number, the date of birth and the family name is registering
    # the same person the PAS told us about; anything else is a different person or a typo.
    from rms.inbound.matching import same_name

    if values.get("date_of_birth") != existing.date_of_birth or not same_name(
        str(values.get("family_name", "")), existing.family_name
    ):
        raise ValidationError(
            {
                "nhs_number": (
                    "This NHS number is held from the hospital's records for a patient with a "
                    "different date of birth or family name. Check the number and the details."
                )
            }
        )
    # What the hospital's records hold stays; the registration fills only what is blank.
    for name, value in values.items():
        if value not in ("", None) and getattr(existing, name) in ("", None):
            setattr(existing, name, value)
    patient_validate(existing)
    _save_patient(existing)
    return existing


def _patient_event(patient: Patient, *, created: bool, changed_fields: Iterable[str]) -> None:
    # Consumed after commit (rms.events): the PKB bridge sends the demographics it holds.
    # The payload names the fields that changed, never their values.
    if created:
        event_record(
            kind=DomainEvent.Kind.PATIENT_REGISTERED, subject_id=patient.pk, patient_id=patient.pk
        )
        return
    event_record(
        kind=DomainEvent.Kind.PATIENT_CHANGED,
        subject_id=patient.pk,
        patient_id=patient.pk,
        payload={"changed_fields": sorted(changed_fields)},
    )


def _diagnoses_event(diagnosis: Diagnosis) -> None:
    # The patient's set of diagnoses changed (PKB replaces the whole set).
    event_record(
        kind=DomainEvent.Kind.DIAGNOSES_CHANGED,
        subject_id=diagnosis.pk,
        patient_id=diagnosis.patient_id,
    )


@transaction.atomic
def patient_create(
    *,
    actor: User,
    teams: Iterable[Team],
    started_on: dt.date | None = None,
    status_reason: str = "",
    status_source: str = StatusSource.PERSON,
    **values: Any,
) -> Patient:
    """Register a patient and put them on ``teams``' caseloads. Records a ``patient_registered``
    event, or ``patient_changed`` (every field) for a patient taken on from the PAS feed.
    A patient the PAS feed registered that no team follows yet is taken on, not duplicated;
    otherwise a second call with the same NHS number is refused as a duplicate.

    A person (``status_source`` "person") registers a number as verified (01) only as a team
    admin of one of ``teams`` (PermissionDenied otherwise); the verification is recorded in
    the patient's NHS number status history."""
    team_list = list(teams)
    if not team_list:
        raise ValidationError({"teams": "A patient must be on at least one team's caseload."})
    cleaned = _clean_patient_values(values)
    status_source = _source_of(actor, status_source)
    verified = cleaned.get("nhs_number_status") == NhsNumberStatus.VERIFIED
    # Registering a number as verified is recording a verification: a team admin's act.
    # Checked after the input is validated, so that bad input is named field by field first.
    refused = (
        verified
        and status_source == StatusSource.PERSON
        and not permissions.is_team_admin(user=actor, team_ids=[t.pk for t in team_list])
    )
    existing = _adoptable(cleaned)
    if existing is not None:
        if refused:
            raise permissions.Refused(NHS_NUMBER_STATUS_REFUSAL)
        before = existing.nhs_number_status
        patient = _adopt(existing, cleaned)
        created = False
    else:
        before = ""
        patient = Patient(**cleaned)
        patient_validate(patient)
        if refused:
            raise permissions.Refused(NHS_NUMBER_STATUS_REFUSAL)
        _save_patient(patient)
        created = True
    if verified and patient.nhs_number_status != before:
        _status_change_record(
            patient=patient,
            actor=actor,
            before=before,
            reason=status_reason.strip() or "Recorded as verified at registration.",
            source=(
                StatusSource.REGISTRATION if status_source == StatusSource.PERSON else status_source
            ),
        )
    for team in team_list:
        caseload_add(patient=patient, team=team, actor=actor, started_on=started_on)
    _patient_event(patient, created=created, changed_fields=PATIENT_FIELDS)
    return patient


@transaction.atomic
def patient_register_from_feed(*, actor: User, **values: Any) -> Patient:
    """Create a patient the hospital's PAS told us about, on no team's caseload (nobody sees
    them until a team takes them on). Records a ``patient_registered`` event. Refuses a
    duplicate."""
    patient = Patient(**_clean_patient_values(values))
    patient_validate(patient)
    _save_patient(patient)
    if patient.nhs_number_status == NhsNumberStatus.VERIFIED:
        _status_change_record(
            patient=patient,
            actor=actor,
            before="",
            reason="Registered from the PAS feed as verified.",
            source=StatusSource.PAS,
        )
    _patient_event(patient, created=True, changed_fields=PATIENT_FIELDS)
    return patient


@transaction.atomic
def patient_update(
    *,
    patient: Patient,
    actor: User,
    status_reason: str = "",
    status_source: str = StatusSource.PERSON,
    **values: Any,
) -> Patient:
    """Change a patient's identifiers or demographics. Records a ``patient_changed`` event
    naming the fields that really changed; a call that changes nothing writes nothing (safe to
    repeat).

    A change of the NHS number status is recorded (who, why, from and to, where from) in the
    patient's status history. From a person (``status_source`` "person") it needs a team
    admin of one of the patient's teams (PermissionDenied with ``NHS_NUMBER_STATUS_REFUSAL``)
    and a ``status_reason``; the PAS feed and a patient import name themselves instead."""
    cleaned = _clean_patient_values(values)
    changed = {name for name, value in cleaned.items() if getattr(patient, name) != value}
    if not changed:
        return patient
    status_before = patient.nhs_number_status
    status_source = _source_of(actor, status_source)
    if "nhs_number_status" in changed:
        reason = status_reason.strip()
        if status_source == StatusSource.PERSON:
            team_ids = CaseloadEntry.objects.filter(
                patient=patient, ended_on__isnull=True
            ).values_list("team_id", flat=True)
            if not permissions.is_team_admin(user=actor, team_ids=team_ids):
                raise permissions.Refused(NHS_NUMBER_STATUS_REFUSAL)
            if not reason:
                raise ValidationError(
                    {"nhs_number_status_reason": NHS_NUMBER_STATUS_REASON_REQUIRED}
                )
        elif not reason:
            reason = {
                StatusSource.PAS: "Changed by the PAS feed.",
                StatusSource.IMPORT: "Changed by a patient import.",
                StatusSource.SYSTEM: "Changed by the system.",
            }.get(StatusSource(status_source), "Changed by the system.")
    # Validate a copy so a refusal leaves the caller's instance as it was.
    candidate = Patient.objects.get(pk=patient.pk)
    for name, value in cleaned.items():
        setattr(candidate, name, value)
    patient_validate(candidate)
    _save_patient(candidate)
    if "nhs_number_status" in changed:
        _status_change_record(
            patient=candidate,
            actor=actor,
            before=status_before,
            reason=reason,
            source=status_source,
        )
    for name in cleaned:
        setattr(patient, name, getattr(candidate, name))
    patient.updated_at = candidate.updated_at
    _patient_event(patient, created=False, changed_fields=changed)
    return patient


@transaction.atomic
def caseload_add(
    *,
    patient: Patient,
    team: Team,
    actor: User | None,
    started_on: dt.date | None = None,
) -> CaseloadEntry:
    """Put ``patient`` on ``team``'s caseload. Safe to repeat: an open entry is returned as is."""
    entry = CaseloadEntry.objects.filter(patient=patient, team=team, ended_on__isnull=True).first()
    if entry is not None:
        return entry
    return CaseloadEntry.objects.create(
        patient=patient,
        team=team,
        started_on=started_on or timezone.localdate(),
        added_by=actor if actor is not None and actor.pk else None,
    )


@transaction.atomic
def caseload_end(
    *, patient: Patient, team: Team, actor: User, ended_on: dt.date | None = None
) -> CaseloadEntry | None:
    """Discharge ``patient`` from ``team``'s caseload; the team then no longer sees them.
    Safe to repeat: returns None when there is no open entry."""
    entry = CaseloadEntry.objects.filter(patient=patient, team=team, ended_on__isnull=True).first()
    if entry is None:
        return None
    entry.ended_on = ended_on or timezone.localdate()
    entry.full_clean()
    entry.save(update_fields=["ended_on"])
    return entry


@transaction.atomic
def diagnosis_create(*, patient: Patient, actor: User, **values: Any) -> Diagnosis:
    """Record a diagnosis. Records a ``diagnoses_changed`` event (PKB replaces the patient's
    whole set)."""
    diagnosis = Diagnosis(patient=patient, **values)
    diagnosis.full_clean()
    diagnosis.save()
    _diagnoses_event(diagnosis)
    return diagnosis


@transaction.atomic
def diagnosis_update(*, diagnosis: Diagnosis, actor: User, **values: Any) -> Diagnosis:
    """Change a diagnosis (its status, stage, text...). Records a ``diagnoses_changed`` event
    when something changed; repeating the same change writes nothing."""
    changed = {name for name, value in values.items() if getattr(diagnosis, name) != value}
    if not changed:
        return diagnosis
    for name, value in values.items():
        setattr(diagnosis, name, value)
    diagnosis.full_clean()
    diagnosis.save()
    _diagnoses_event(diagnosis)
    return diagnosis


@transaction.atomic
def team_create(
    *,
    code: str,
    name: str,
    tumour_site: str,
    pkb_team_alias: str = "",
    pv1_service_code: str = "",
    contact_phone: str = "",
) -> Team:
    """Create a team. Raises ValidationError on a duplicate code or a number that is not a
    telephone number."""
    team = Team(
        code=code.strip().upper(),
        name=name.strip(),
        tumour_site=tumour_site,
        pkb_team_alias=pkb_team_alias,
        pv1_service_code=pv1_service_code,
        contact_phone=contact_phone.strip(),
    )
    team.full_clean()
    team.save()
    return team


@transaction.atomic
def membership_set(*, user: User, team: Team, role: str) -> Membership:
    """Give ``user`` ``role`` in ``team`` (replacing any other role there). Safe to repeat."""
    membership, created = Membership.objects.get_or_create(
        user=user, team=team, defaults={"role": role}
    )
    if not created and membership.role != role:
        membership.role = role
        membership.full_clean()
        membership.save(update_fields=["role"])
    elif created:
        membership.full_clean()
    return membership


def access_event_record(
    *,
    user: User,
    patient: Patient,
    action: str,
    channel: str = "web",
    allowed: bool = True,
    ip_address: str | None = None,
) -> AccessEvent:
    """Append one access-log row (who read which record, what, when, and whether it was
    refused). Never updates an existing row."""
    return AccessEvent.objects.create(
        user=user,
        patient=patient,
        action=action[:60],
        channel=channel,
        outcome=AccessEvent.Outcome.ALLOWED if allowed else AccessEvent.Outcome.DENIED,
        ip_address=ip_address,
    )


def access_event_record_list(
    *,
    user: User,
    patient_ids: Iterable[int],
    action: str,
    channel: str = "web",
    ip_address: str | None = None,
) -> AccessEvent:
    """Append one access-log row for a list of patients (a list or search page, a worklist,
    a caseload page, an API list, an export): who, what, when, from where, naming every
    patient it returned by id. Written for an empty list too (the search itself is on the
    record). Never updates an existing row."""
    ids = list(dict.fromkeys(patient_ids))
    with transaction.atomic():
        event = AccessEvent.objects.create(
            user=user,
            patient=None,
            action=action[:60],
            channel=channel,
            outcome=AccessEvent.Outcome.ALLOWED,
            ip_address=ip_address,
        )
        if ids:
            through = AccessEvent.patients.through
            through.objects.bulk_create(
                [through(accessevent_id=event.pk, patient_id=pid) for pid in ids]
            )
    return event


def _source_of(actor: User, source: str) -> str:
    """The system's own named user (background jobs, the demo) is never a person."""
    if source == StatusSource.PERSON and actor.username == SYSTEM_USERNAME:
        return StatusSource.SYSTEM
    return source


def _status_change_record(
    *, patient: Patient, actor: User, before: str, reason: str, source: str
) -> NhsNumberStatusChange:
    """Append one row to the patient's NHS number status history. Never updates a row."""
    return NhsNumberStatusChange.objects.create(
        patient=patient,
        from_status=before,
        to_status=patient.nhs_number_status,
        changed_by=actor,
        reason=reason,
        source=source,
    )


def nhs_number_status_history(*, patient: Patient) -> list[NhsNumberStatusChange]:
    """The patient's NHS number status changes, newest first (one query)."""
    return list(NhsNumberStatusChange.objects.filter(patient=patient).select_related("changed_by"))
