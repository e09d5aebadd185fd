"""Patients, caseloads, diagnoses, teams, memberships and the access log."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from rms import nhs_number, signals
from rms.models import (
    AccessEvent,
    CaseloadEntry,
    Diagnosis,
    Membership,
    NhsNumberStatus,
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


def system_user() -> User:
    """The named actor for background jobs and feeds (never nobody). Cannot log in."""
    user, created = User.objects.get_or_create(
        username=SYSTEM_USERNAME, defaults={"is_active": False, "first_name": "RMS system"}
    )
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    return user


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


@transaction.atomic
def patient_create(
    *, actor: User, teams: Iterable[Team], started_on: dt.date | None = None, **values: Any
) -> Patient:
    """Register a patient and put them on ``teams``' caseloads. Sends ``patient_changed``.
    A patient the PAS feed registered that no team follows yet is taken on, not duplicated;
    otherwise a second call with the same NHS number is refused as a duplicate."""
    team_list = list(teams)
    if not team_list:
        raise ValidationError({"teams": "A patient must be on at least one team's caseload."})
    cleaned = _clean_patient_values(values)
    existing = _adoptable(cleaned)
    if existing is not None:
        patient = _adopt(existing, cleaned)
        created = False
    else:
        patient = Patient(**cleaned)
        patient_validate(patient)
        _save_patient(patient)
        created = True
    for team in team_list:
        caseload_add(patient=patient, team=team, actor=actor, started_on=started_on)
    signals.patient_changed.send(
        sender=Patient,
        patient=patient,
        created=created,
        changed_fields=frozenset(PATIENT_FIELDS),
        actor=actor,
    )
    return patient


@transaction.atomic
def patient_register_from_feed(*, actor: User, **values: Any) -> Patient:
    """Create a patient the hospital's PAS told us about, on no team's caseload (nobody sees
    them until a team takes them on). Sends ``patient_changed``. Refuses a duplicate."""
    patient = Patient(**_clean_patient_values(values))
    patient_validate(patient)
    _save_patient(patient)
    signals.patient_changed.send(
        sender=Patient,
        patient=patient,
        created=True,
        changed_fields=frozenset(PATIENT_FIELDS),
        actor=actor,
    )
    return patient


@transaction.atomic
def patient_update(*, patient: Patient, actor: User, **values: Any) -> Patient:
    """Change a patient's identifiers or demographics. Sends ``patient_changed`` with the
    fields that really changed; a call that changes nothing writes nothing (safe to repeat)."""
    cleaned = _clean_patient_values(values)
    changed = {name for name, value in cleaned.items() if getattr(patient, name) != value}
    if not changed:
        return patient
    # Validate a copy so a refusal leaves the caller's instance as it was.
    candidate = Patient.objects.get(pk=patient.pk)
    for name, value in cleaned.items():
        setattr(candidate, name, value)
    patient_validate(candidate)
    _save_patient(candidate)
    for name in cleaned:
        setattr(patient, name, getattr(candidate, name))
    patient.updated_at = candidate.updated_at
    signals.patient_changed.send(
        sender=Patient,
        patient=patient,
        created=False,
        changed_fields=frozenset(changed),
        actor=actor,
    )
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
    """Record a diagnosis. Sends ``diagnoses_changed`` (PKB replaces the patient's whole set)."""
    diagnosis = Diagnosis(patient=patient, **values)
    diagnosis.full_clean()
    diagnosis.save()
    signals.diagnoses_changed.send(sender=Diagnosis, patient=patient, actor=actor)
    return diagnosis


@transaction.atomic
def diagnosis_update(*, diagnosis: Diagnosis, actor: User, **values: Any) -> Diagnosis:
    """Change a diagnosis (its status, stage, text...). Sends ``diagnoses_changed`` when
    something changed; repeating the same change writes nothing."""
    changed = {name for name, value in values.items() if getattr(diagnosis, name) != value}
    if not changed:
        return diagnosis
    for name, value in values.items():
        setattr(diagnosis, name, value)
    diagnosis.full_clean()
    diagnosis.save()
    signals.diagnoses_changed.send(sender=Diagnosis, patient=diagnosis.patient, actor=actor)
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
