from __future__ import annotations

import uuid

import pytest

from rms import selectors, services
from rms.models import Patient
from tests.factories import ObservationFactory, PatientFactory, ResultFactory

pytestmark = pytest.mark.django_db


def test_a_clinician_sees_only_their_teams_patients(patient, other_patient, clinician) -> None:
    assert list(selectors.patient_list(user=clinician)) == [patient]


def test_a_patient_on_two_teams_is_listed_once(patient, team, other_team, clinician) -> None:
    services.caseload_add(patient=patient, team=other_team, actor=None)
    assert list(selectors.patient_list(user=clinician)) == [patient]


def test_a_discharged_patient_leaves_the_teams_view(patient, team, clinician) -> None:
    services.caseload_end(patient=patient, team=team, actor=clinician)
    assert not selectors.patient_list(user=clinician).exists()
    with pytest.raises(Patient.DoesNotExist):
        selectors.patient_get(user=clinician, public_id=patient.public_id)


def test_a_superuser_without_a_team_sees_no_patients(patient, django_user_model) -> None:
    boss = django_user_model.objects.create_superuser("boss", "boss@example.org", "x" * 16)
    assert not selectors.patient_list(user=boss).exists()


def test_patient_get_refuses_another_teams_patient_and_nonsense_ids(
    other_patient, clinician
) -> None:
    for public_id in (other_patient.public_id, uuid.uuid4(), "not-a-uuid"):
        with pytest.raises(Patient.DoesNotExist):
            selectors.patient_get(user=clinician, public_id=public_id)


@pytest.mark.parametrize("term", ["943 476 5919", "9434765919", "RXX7", "dent", "Art"])
def test_search_finds_by_nhs_number_mrn_or_name(team, clinician, term) -> None:
    wanted = PatientFactory(
        nhs_number="9434765919", mrn="RXX7", given_name="Arthur", family_name="Dent", teams=[team]
    )
    PatientFactory(given_name="Ford", family_name="Prefect", teams=[team])
    assert list(selectors.patient_list(user=clinician, search=term)) == [wanted]


def test_only_clinicians_and_team_admins_can_write(
    patient, clinician, team_admin, viewer, other_team_clinician
) -> None:
    assert selectors.user_can_write(user=clinician, patient=patient)
    assert selectors.user_can_write(user=team_admin, patient=patient)
    assert not selectors.user_can_write(user=viewer, patient=patient)
    assert not selectors.user_can_write(user=other_team_clinician, patient=patient)


def test_results_come_with_their_observations_in_two_queries(
    patient, django_assert_num_queries
) -> None:
    for _ in range(5):
        ObservationFactory(result=ResultFactory(patient=patient))
    with django_assert_num_queries(2):
        values = [
            o.value_text
            for r in selectors.result_list(patient=patient)
            for o in r.observations.all()
        ]
    assert len(values) == 5
