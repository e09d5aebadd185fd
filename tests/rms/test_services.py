from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from rms import services
from rms.models import AccessEvent, CaseloadEntry, DomainEvent, Patient
from tests.factories import PatientFactory

pytestmark = pytest.mark.django_db

VALID = {
    "nhs_number": "943 476 5919",
    "nhs_number_status": "01",
    "mrn": "RXX0001234",
    "given_name": "Arthur",
    "family_name": "Dent",
    "date_of_birth": dt.date(1952, 3, 11),
    "sex": "M",
}


def test_patient_create_strips_spaces_and_puts_the_patient_on_the_caseload(team, clinician) -> None:
    # Not "01": recording a number as verified is a team admin's act.
    values = {**VALID, "nhs_number_status": "02"}
    patient = services.patient_create(actor=clinician, teams=[team], **values)
    assert patient.nhs_number == "9434765919"
    entry = CaseloadEntry.objects.get(patient=patient)
    assert (entry.team, entry.added_by, entry.ended_on) == (team, clinician, None)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"nhs_number": "9434765910"}, "nhs_number"),
        ({"nhs_number": "0000000000"}, "nhs_number"),
        ({"nhs_number": "123456789"}, "nhs_number"),
        ({"nhs_number": "ABCDEFGHIJ"}, "nhs_number"),
        ({"family_name": ""}, "family_name"),
        ({"date_of_birth": dt.date(2999, 1, 1)}, "date_of_birth"),
        ({"sex": "X"}, "sex"),
        ({"nhs_number": "", "mrn": ""}, "nhs_number"),
        ({"nhs_number": "", "nhs_number_status": "01"}, "nhs_number_status"),
        ({"email": "not-an-email"}, "email"),
    ],
)
def test_patient_create_refuses_bad_input_by_field_and_saves_nothing(
    team, clinician, changes, field
) -> None:
    with pytest.raises(ValidationError) as refused:
        services.patient_create(actor=clinician, teams=[team], **{**VALID, **changes})
    assert field in refused.value.message_dict
    assert Patient.objects.count() == 0
    assert CaseloadEntry.objects.count() == 0


def test_patient_create_refuses_a_duplicate_nhs_number(team, other_team, clinician) -> None:
    PatientFactory(nhs_number="9434765919", teams=[other_team])
    with pytest.raises(ValidationError) as refused:
        services.patient_create(actor=clinician, teams=[team], **{**VALID, "mrn": "OTHER"})
    assert "already registered" in refused.value.message_dict["nhs_number"][0]
    assert Patient.objects.count() == 1


def test_patient_create_needs_a_team(clinician) -> None:
    with pytest.raises(ValidationError) as refused:
        services.patient_create(actor=clinician, teams=[], **VALID)
    assert "teams" in refused.value.message_dict


def test_the_database_refuses_a_duplicate_that_slips_past_the_checks(team) -> None:
    PatientFactory(nhs_number="9434765919")
    with pytest.raises(IntegrityError), transaction.atomic():
        Patient.objects.create(**{**VALID, "nhs_number": "9434765919", "mrn": "X"})


def test_patient_update_records_only_the_fields_that_changed(patient, clinician) -> None:
    services.patient_update(patient=patient, actor=clinician, family_name="Prefect", sex="M")
    services.patient_update(patient=patient, actor=clinician, family_name="Prefect")
    changes = DomainEvent.objects.filter(kind=DomainEvent.Kind.PATIENT_CHANGED).order_by("id")
    assert [(e.subject_id, e.patient_id, e.payload) for e in changes] == [
        (patient.pk, patient.pk, {"changed_fields": ["family_name"]})
    ]
    patient.refresh_from_db()
    assert patient.family_name == "Prefect"


def test_a_registration_is_an_event_of_its_own(team, clinician) -> None:
    values = {**VALID, "nhs_number_status": "02"}
    patient = services.patient_create(actor=clinician, teams=[team], **values)
    kinds = list(DomainEvent.objects.filter(patient=patient).values_list("kind", flat=True))
    assert kinds == [DomainEvent.Kind.PATIENT_REGISTERED]


def test_a_refused_patient_update_records_no_event(patient, clinician) -> None:
    with pytest.raises(ValidationError):
        services.patient_update(patient=patient, actor=clinician, nhs_number="9434765910")
    assert not DomainEvent.objects.exists()


def test_a_refused_update_leaves_the_patient_unchanged(patient, clinician) -> None:
    before = patient.nhs_number
    with pytest.raises(ValidationError):
        services.patient_update(patient=patient, actor=clinician, nhs_number="9434765910")
    assert patient.nhs_number == before
    patient.refresh_from_db()
    assert patient.nhs_number == before


def test_caseload_add_and_end_are_safe_to_repeat(patient, other_team, clinician) -> None:
    first = services.caseload_add(patient=patient, team=other_team, actor=clinician)
    again = services.caseload_add(patient=patient, team=other_team, actor=clinician)
    assert first.pk == again.pk
    ended = services.caseload_end(patient=patient, team=other_team, actor=clinician)
    assert ended is not None and ended.ended_on is not None
    assert services.caseload_end(patient=patient, team=other_team, actor=clinician) is None


def test_membership_set_replaces_the_role(team, clinician) -> None:
    membership = services.membership_set(user=clinician, team=team, role="viewer")
    assert membership.role == "viewer"
    assert clinician.memberships.count() == 1


def test_diagnosis_changes_tell_the_other_apps(patient, clinician) -> None:
    diagnosis = services.diagnosis_create(
        patient=patient,
        actor=clinician,
        code="399068003",
        code_system="SNOMED CT",
        text="Malignant tumour of prostate",
        diagnosed_on=dt.date(2023, 1, 5),
    )
    services.diagnosis_update(diagnosis=diagnosis, actor=clinician, stage="T2N0M0")
    services.diagnosis_update(diagnosis=diagnosis, actor=clinician, stage="T2N0M0")
    changes = DomainEvent.objects.filter(kind=DomainEvent.Kind.DIAGNOSES_CHANGED).order_by("id")
    assert [(e.patient_id, e.subject_id) for e in changes] == [(patient.pk, diagnosis.pk)] * 2


def test_the_system_actor_exists_once_and_cannot_log_in() -> None:
    first = services.system_user()
    assert services.system_user().pk == first.pk
    assert not first.is_active
    assert not first.has_usable_password()


def test_the_system_actors_id_is_the_system_actors_made_once() -> None:
    from django.contrib.auth.models import User

    from rms.services.core import SYSTEM_USERNAME

    made = services.system_user_id()  # none yet: made, as system_user makes it
    actor = User.objects.get(pk=made)
    assert actor.username == SYSTEM_USERNAME and not actor.has_usable_password()
    assert services.system_user_id() == made == services.system_user().pk
    assert User.objects.filter(username=SYSTEM_USERNAME).count() == 1


def test_access_events_are_appended(patient, clinician) -> None:
    services.access_event_record(user=clinician, patient=patient, action="record")
    services.access_event_record(user=clinician, patient=patient, action="record", allowed=False)
    assert list(AccessEvent.objects.order_by("id").values_list("outcome", flat=True)) == [
        "allowed",
        "denied",
    ]
