"""Writing the demo to the database: whatever is missing, nothing twice."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import User
from django.db import models, transaction
from django.utils import timezone

from devtools.demo.history import build_plan
from devtools.demo.people import DEMO_PASSWORD, TEAMS, USERS
from devtools.demo.plans import ID_PREFIX, LAB, PatientPlan
from rms import services
from rms.models import (
    Appointment,
    Diagnosis,
    Document,
    Observation,
    Patient,
    Result,
    Team,
)

MODELS: dict[str, type[models.Model]] = {
    "teams": Team,
    "users": User,
    "patients": Patient,
    "diagnoses": Diagnosis,
    "results": Result,
    "observations": Observation,
    "appointments": Appointment,
    "documents": Document,
}


@dataclass
class DemoSummary:
    """Rows created by this run, and how many of each there are now (``MODELS`` order)."""

    created: dict[str, int] = field(default_factory=lambda: dict.fromkeys(MODELS, 0))
    totals: dict[str, int] = field(default_factory=dict)


def load_demo(*, anchor: dt.date | None = None) -> DemoSummary:
    """Create the demo teams, logins and patients with their histories ending at ``anchor``
    (default today), all in one transaction. Safe to run twice: rows are matched by team
    code, username, NHS number, (source system, filler order number), placer id and document
    number, and a second run writes nothing."""
    plan = build_plan(anchor or timezone.localdate())
    summary = DemoSummary()
    with transaction.atomic():
        teams = _teams(summary)
        _users(summary, teams)
        patients = _patients(summary, plan, teams)
        _diagnoses(summary, plan, patients)
        # Results, observations, appointments and documents have no services yet (they arrive
        # with the HL7 inbound feed), so the demo writes these rows directly with bulk_create,
        # inside this transaction. bulk_create sends no signals and skips django-auditlog,
        # which suits seed data that no clinician entered.
        _results(summary, plan, patients)
        _appointments(summary, plan, patients, teams)
        _documents(summary, plan, patients)
    summary.totals = {name: model._default_manager.count() for name, model in MODELS.items()}
    return summary


def _teams(summary: DemoSummary) -> dict[str, Team]:
    teams = {team.code: team for team in Team.objects.filter(code__in=[t.code for t in TEAMS])}
    for spec in TEAMS:
        if spec.code not in teams:
            teams[spec.code] = services.team_create(
                code=spec.code,
                name=spec.name,
                tumour_site=spec.tumour_site,
                pkb_team_alias=spec.pkb_team_alias,
                pv1_service_code=spec.pv1_service_code,
                contact_phone=spec.contact_phone,
            )
            summary.created["teams"] += 1
        elif spec.contact_phone and not teams[spec.code].contact_phone:
            # A demo database made before teams had a number gets the demo's.
            teams[spec.code].contact_phone = spec.contact_phone
            teams[spec.code].save(update_fields=["contact_phone"])
    return teams


def _users(summary: DemoSummary, teams: dict[str, Team]) -> None:
    # Hashing is deliberately slow; hash the demo password once per run, only if needed.
    hashed: list[str] = []

    def demo_hash() -> str:
        if not hashed:
            hashed.append(make_password(DEMO_PASSWORD))
        return hashed[0]

    for spec in USERS:
        user = User.objects.filter(username=spec.username).first()
        if user is None:
            user = User.objects.create(
                username=spec.username,
                first_name=spec.first_name,
                last_name=spec.last_name,
                email=f"{spec.username}@example.com",
                is_staff=spec.superuser,
                is_superuser=spec.superuser,
                password=demo_hash(),
            )
            summary.created["users"] += 1
        else:
            # Put back what the summary promises (the password, admin rights) and nothing
            # else, so an unchanged demo user is not written to.
            changed = []
            if not user.check_password(DEMO_PASSWORD):
                user.password = demo_hash()
                changed.append("password")
            if not user.is_active:
                user.is_active = True
                changed.append("is_active")
            if spec.superuser and not (user.is_staff and user.is_superuser):
                user.is_staff = user.is_superuser = True
                changed += ["is_staff", "is_superuser"]
            if changed:
                user.save(update_fields=changed)
        if spec.team_code:
            services.membership_set(user=user, team=teams[spec.team_code], role=spec.role)


def _patients(
    summary: DemoSummary, plan: list[PatientPlan], teams: dict[str, Team]
) -> dict[int, Patient]:
    numbers = [p.demographics["nhs_number"] for p in plan]
    existing = {p.nhs_number: p for p in Patient.objects.filter(nhs_number__in=numbers)}
    actor = services.system_user()
    patients: dict[int, Patient] = {}
    for item in plan:
        patient = existing.get(item.demographics["nhs_number"])
        if patient is None:
            patient = services.patient_create(
                actor=actor,
                teams=[teams[item.team_code]],
                started_on=item.treated_on,
                **item.demographics,
            )
            summary.created["patients"] += 1
        patients[item.index] = patient
    return patients


def _diagnoses(summary: DemoSummary, plan: list[PatientPlan], patients: dict[int, Patient]) -> None:
    have = set(
        Diagnosis.objects.filter(patient__in=patients.values()).values_list("patient_id", "code")
    )
    actor = services.system_user()
    for item in plan:
        patient = patients[item.index]
        if (patient.pk, item.diagnosis["code"]) not in have:
            services.diagnosis_create(patient=patient, actor=actor, **item.diagnosis)
            summary.created["diagnoses"] += 1


def _results(summary: DemoSummary, plan: list[PatientPlan], patients: dict[int, Patient]) -> None:
    demo_results = Result.objects.filter(filler_order_number__startswith=ID_PREFIX)
    have = set(demo_results.values_list("source_system", "filler_order_number"))
    missing = [
        (item, result)
        for item in plan
        for result in item.results
        if (result.source_system, result.filler_order_number) not in have
    ]
    Result.objects.bulk_create(
        Result(
            patient=patients[item.index],
            category=result.category,
            source_system=result.source_system,
            filler_order_number=result.filler_order_number,
            service_code=result.service_code,
            service_name=result.service_name,
            observed_at=result.observed_at,
            reported_at=result.reported_at,
            status=Result.Status.FINAL,
            ordering_clinician=result.ordering_clinician,
            report_text=result.report_text,
        )
        for item, result in missing
    )
    summary.created["results"] += len(missing)
    # Not every database returns ids from bulk_create, so look the new rows up by their key.
    ids = {
        (source, number): pk
        for pk, source, number in demo_results.values_list(
            "pk", "source_system", "filler_order_number"
        )
    }
    observations = [
        Observation(
            result_id=ids[(result.source_system, result.filler_order_number)],
            sequence=sequence,
            code=planned.code,
            code_system=LAB,
            name=planned.name,
            value_type=planned.value_type,
            value_text=planned.value_text,
            value_numeric=planned.value_numeric,
            comparator=planned.comparator,
            units=planned.units,
            reference_range=planned.reference_range,
            abnormal_flag=planned.abnormal_flag,
            observed_at=result.observed_at,
            status=Observation.Status.FINAL,
        )
        for _, result in missing
        for sequence, planned in enumerate(result.observations, start=1)
    ]
    Observation.objects.bulk_create(observations)
    summary.created["observations"] += len(observations)


def _appointments(
    summary: DemoSummary,
    plan: list[PatientPlan],
    patients: dict[int, Patient],
    teams: dict[str, Team],
) -> None:
    have = set(
        Appointment.objects.filter(placer_id__startswith=ID_PREFIX).values_list(
            "placer_id", flat=True
        )
    )
    new = [
        Appointment(
            patient=patients[item.index],
            team=teams[item.team_code],
            placer_id=planned.placer_id,
            starts_at=planned.starts_at,
            ends_at=planned.ends_at,
            appointment_type=planned.appointment_type,
            reason=planned.reason,
            location=planned.location,
            clinician=planned.clinician,
            status=planned.status,
        )
        for item in plan
        for planned in item.appointments
        if planned.placer_id not in have
    ]
    Appointment.objects.bulk_create(new)
    summary.created["appointments"] += len(new)


def _documents(summary: DemoSummary, plan: list[PatientPlan], patients: dict[int, Patient]) -> None:
    have = set(
        Document.objects.filter(document_number__startswith=ID_PREFIX).values_list(
            "document_number", flat=True
        )
    )
    new = [
        Document(
            patient=patients[item.index],
            document_type=Document.DocumentType.CLINIC_LETTER,
            title=planned.title,
            document_number=planned.document_number,
            authored_at=planned.authored_at,
            author=planned.author,
            content_type=Document.ContentType.HTML,
            content_html=planned.content_html,
        )
        for item in plan
        for planned in item.documents
        if planned.document_number not in have
    ]
    Document.objects.bulk_create(new)
    summary.created["documents"] += len(new)
