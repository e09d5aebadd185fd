"""REST API v1: patients (list, search, create, read, update), the access log and the schema.
The patient's sub-resources (diagnoses, results, appointments, documents) are in
test_api_record.py."""

from __future__ import annotations

import io
import uuid

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from drf_spectacular.drainage import GENERATOR_STATS
from rest_framework.test import APIClient

from rms import services
from rms.models import AccessEvent, CaseloadEntry, Patient, Role
from tests.conftest import token_client
from tests.factories import MembershipFactory, PatientFactory, UserFactory

pytestmark = pytest.mark.django_db

LIST_URL = reverse("api:patient-list")

NEW_PATIENT = {
    "nhs_number": "9434765919",
    "nhs_number_status": "01",
    "mrn": "RXX0001234",
    "title": "Mr",
    "given_name": "Arthur",
    "family_name": "Dent",
    "date_of_birth": "1952-03-11",
    "sex": "M",
    "postcode": "ta1 1aa",
    "teams": ["URO"],
}


def detail_url(patient: Patient | uuid.UUID) -> str:
    public_id = patient.public_id if isinstance(patient, Patient) else patient
    return reverse("api:patient-detail", kwargs={"public_id": public_id})


def counts() -> tuple[int, int]:
    return Patient.objects.count(), CaseloadEntry.objects.count()


# --- list and search -------------------------------------------------------------------------


def test_it_lists_only_the_patients_of_the_users_teams(
    api_clinician, patient, other_patient
) -> None:
    response = api_clinician.get(LIST_URL)
    assert response.status_code == 200
    assert response.data["count"] == 1
    [row] = response.data["results"]
    assert row["public_id"] == str(patient.public_id)
    assert row["nhs_number"] == patient.nhs_number
    assert row["teams"] == ["URO"]
    assert set(row) >= {
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
        "created_at",
        "updated_at",
    }


def test_a_viewer_can_list_their_teams_patients(api_viewer, patient) -> None:
    response = api_viewer.get(LIST_URL)
    assert response.status_code == 200
    assert [row["public_id"] for row in response.data["results"]] == [str(patient.public_id)]


def test_the_patient_list_refuses_a_request_without_a_token(patient) -> None:
    assert APIClient().get(LIST_URL).status_code == 401


def test_the_patient_list_refuses_a_wrong_token(patient) -> None:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    assert client.get(LIST_URL).status_code == 401


@pytest.mark.parametrize("typed", ["9434765919", "943 476 5919", " 943 476 5919 "])
def test_it_finds_a_patient_by_nhs_number_with_or_without_spaces(
    api_clinician, team, typed
) -> None:
    wanted = PatientFactory(nhs_number="9434765919", teams=[team])
    PatientFactory(teams=[team])
    response = api_clinician.get(LIST_URL, {"nhs_number": typed})
    assert [row["public_id"] for row in response.data["results"]] == [str(wanted.public_id)]


def test_it_finds_a_patient_by_mrn(api_clinician, team) -> None:
    wanted = PatientFactory(mrn="RXX7654321", teams=[team])
    PatientFactory(teams=[team])
    response = api_clinician.get(LIST_URL, {"mrn": "RXX7654321"})
    assert [row["public_id"] for row in response.data["results"]] == [str(wanted.public_id)]


def test_it_searches_freely_by_name(api_clinician, team) -> None:
    wanted = PatientFactory(family_name="Prefect", teams=[team])
    PatientFactory(family_name="Beeblebrox", teams=[team])
    response = api_clinician.get(LIST_URL, {"q": "pref"})
    assert [row["public_id"] for row in response.data["results"]] == [str(wanted.public_id)]


def test_it_does_not_find_another_teams_patient_by_nhs_number(
    api_clinician, patient, other_patient
) -> None:
    response = api_clinician.get(LIST_URL, {"nhs_number": other_patient.nhs_number})
    assert response.status_code == 200
    assert response.data["count"] == 0


def test_it_filters_by_team_code(team, other_team, patient, other_patient) -> None:
    user = UserFactory(username="both")
    MembershipFactory(user=user, team=team, role=Role.CLINICIAN)
    MembershipFactory(user=user, team=other_team, role=Role.VIEWER)
    client = token_client(user)
    assert client.get(LIST_URL).data["count"] == 2
    response = client.get(LIST_URL, {"team": "CRC"})
    assert [row["public_id"] for row in response.data["results"]] == [str(other_patient.public_id)]


def test_a_team_filter_cannot_reach_another_teams_caseload(
    api_clinician, patient, other_patient
) -> None:
    assert api_clinician.get(LIST_URL, {"team": "CRC"}).data["count"] == 0


def test_the_list_is_paged_by_limit_and_offset(api_clinician, team) -> None:
    for _ in range(3):
        PatientFactory(teams=[team])
    response = api_clinician.get(LIST_URL, {"limit": 2, "offset": 2})
    assert response.data["count"] == 3
    assert len(response.data["results"]) == 1
    assert response.data["previous"] is not None


def test_the_lists_team_codes_do_not_cost_a_query_per_patient(api_clinician, team) -> None:
    PatientFactory(teams=[team])
    with CaptureQueriesContext(connection) as one:
        api_clinician.get(LIST_URL)
    for _ in range(5):
        PatientFactory(teams=[team])
    with CaptureQueriesContext(connection) as six:
        response = api_clinician.get(LIST_URL)
    assert response.data["count"] == 6
    assert len(six.captured_queries) == len(one.captured_queries)


# --- create ----------------------------------------------------------------------------------


def test_a_clinician_registers_a_patient_on_their_team(api_clinician, clinician, team) -> None:
    response = api_clinician.post(
        # Not "01": recording a number as verified is a team admin's act.
        LIST_URL,
        {**NEW_PATIENT, "nhs_number": "943 476 5919", "nhs_number_status": "02"},
        format="json",
    )
    assert response.status_code == 201, response.data
    patient = Patient.objects.get(public_id=response.data["public_id"])
    assert patient.nhs_number == "9434765919"
    assert patient.postcode == "TA1 1AA"
    assert response.data["nhs_number"] == "9434765919"
    assert response.data["teams"] == ["URO"]
    entry = CaseloadEntry.objects.get(patient=patient)
    assert (entry.team, entry.added_by, entry.ended_on) == (team, clinician, None)


def test_a_team_admin_can_register_a_patient(team_admin, team) -> None:
    response = token_client(team_admin).post(LIST_URL, NEW_PATIENT, format="json")
    assert response.status_code == 201


def test_a_patient_can_be_registered_with_an_mrn_and_no_nhs_number(api_clinician, team) -> None:
    body = {**NEW_PATIENT, "nhs_number": "", "nhs_number_status": "07"}
    response = api_clinician.post(LIST_URL, body, format="json")
    assert response.status_code == 201, response.data
    assert response.data["nhs_number"] is None


def test_it_names_why_an_nhs_number_is_refused(api_clinician, team) -> None:
    response = api_clinician.post(
        LIST_URL, {**NEW_PATIENT, "nhs_number": "9434765910"}, format="json"
    )
    assert response.status_code == 400
    assert response.data == {
        "nhs_number": ["This is not a valid NHS number: its check digit does not match."]
    }


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"nhs_number": "9434765910"}, "nhs_number"),
        ({"nhs_number": "0000000000"}, "nhs_number"),
        ({"nhs_number": "123456789"}, "nhs_number"),
        ({"nhs_number": "ABCDEFGHIJ"}, "nhs_number"),
        ({"nhs_number": "", "mrn": ""}, "nhs_number"),
        ({"family_name": None}, "family_name"),
        ({"family_name": ""}, "family_name"),
        ({"date_of_birth": "2999-01-01"}, "date_of_birth"),
        ({"date_of_birth": "11/03/1952"}, "date_of_birth"),
        ({"sex": "X"}, "sex"),
        ({"email": "not-an-email"}, "email"),
        ({"title": "T" * 21}, "title"),
        ({"teams": ["XYZ"]}, "teams"),
        ({"teams": []}, "teams"),
        ({"teams": None}, "teams"),
    ],
)
def test_it_refuses_bad_input_by_field_and_saves_nothing(
    api_clinician, team, changes, field
) -> None:
    body = {**NEW_PATIENT, **changes}
    body = {name: value for name, value in body.items() if value is not None}
    before = counts()
    response = api_clinician.post(LIST_URL, body, format="json")
    assert response.status_code == 400
    assert field in response.data, response.data
    assert counts() == before


def test_it_refuses_a_duplicate_nhs_number_and_saves_nothing(
    api_clinician, team, other_team
) -> None:
    PatientFactory(nhs_number="9434765919", teams=[other_team])
    before = counts()
    response = api_clinician.post(LIST_URL, NEW_PATIENT, format="json")
    assert response.status_code == 400
    assert "already registered" in response.data["nhs_number"][0]
    assert counts() == before


def test_it_names_an_unknown_team(api_clinician, team) -> None:
    response = api_clinician.post(LIST_URL, {**NEW_PATIENT, "teams": ["URO", "XYZ"]}, format="json")
    assert response.status_code == 400
    assert response.data == {"teams": ["Unknown team: XYZ"]}
    assert counts() == (0, 0)


def test_it_names_a_team_the_clinician_cannot_add_to_and_saves_nothing(
    api_clinician, team, other_team
) -> None:
    response = api_clinician.post(LIST_URL, {**NEW_PATIENT, "teams": ["URO", "CRC"]}, format="json")
    assert response.status_code == 400
    assert response.data == {"teams": ["You cannot add patients to team CRC"]}
    assert counts() == (0, 0)


def test_a_viewer_cannot_register_a_patient(api_viewer, team) -> None:
    response = api_viewer.post(LIST_URL, NEW_PATIENT, format="json")
    assert response.status_code == 403
    assert counts() == (0, 0)


def test_a_clinician_elsewhere_who_only_views_the_listed_team_is_refused(team, other_team) -> None:
    user = UserFactory(username="mixed")
    MembershipFactory(user=user, team=team, role=Role.VIEWER)
    MembershipFactory(user=user, team=other_team, role=Role.CLINICIAN)
    response = token_client(user).post(LIST_URL, NEW_PATIENT, format="json")
    assert response.status_code == 403
    assert counts() == (0, 0)


def test_registering_a_patient_needs_a_token(team) -> None:
    response = APIClient().post(LIST_URL, NEW_PATIENT, format="json")
    assert response.status_code == 401
    assert counts() == (0, 0)


# --- read ------------------------------------------------------------------------------------


def test_a_clinician_reads_their_teams_patient_and_the_read_is_logged(
    api_clinician, clinician, patient
) -> None:
    response = api_clinician.get(detail_url(patient))
    assert response.status_code == 200
    assert response.data["public_id"] == str(patient.public_id)
    assert response.data["family_name"] == patient.family_name
    assert response.data["teams"] == ["URO"]
    event = AccessEvent.objects.get()
    assert (event.user, event.patient, event.action, event.channel, event.outcome) == (
        clinician,
        patient,
        "record",
        "api",
        AccessEvent.Outcome.ALLOWED,
    )


def test_a_viewer_can_read_their_teams_patient(api_viewer, patient) -> None:
    assert api_viewer.get(detail_url(patient)).status_code == 200


def test_another_teams_clinician_gets_a_404_and_a_denied_log_entry(
    api_other_clinician, other_team_clinician, patient
) -> None:
    response = api_other_clinician.get(detail_url(patient))
    assert response.status_code == 404
    assert response.data["detail"] == "No such patient."
    event = AccessEvent.objects.get()
    assert (event.user, event.patient, event.channel, event.outcome) == (
        other_team_clinician,
        patient,
        "api",
        AccessEvent.Outcome.DENIED,
    )


def test_a_discharged_patient_is_a_404(api_clinician, clinician, patient, team) -> None:
    services.caseload_end(patient=patient, team=team, actor=clinician)
    assert api_clinician.get(detail_url(patient)).status_code == 404


def test_an_unknown_public_id_is_a_404_and_logs_nothing(api_clinician, patient) -> None:
    assert api_clinician.get(detail_url(uuid.uuid4())).status_code == 404
    assert not AccessEvent.objects.exists()


@pytest.mark.parametrize("not_a_uuid", ["9434765919", "1", "not-a-uuid"])
def test_a_path_id_that_is_not_a_uuid_is_a_404(api_clinician, patient, not_a_uuid) -> None:
    assert api_clinician.get(f"/api/v1/patients/{not_a_uuid}/").status_code == 404


def test_reading_a_patient_needs_a_token(patient) -> None:
    assert APIClient().get(detail_url(patient)).status_code == 401
    assert not AccessEvent.objects.exists()


# --- update ----------------------------------------------------------------------------------


def test_a_clinician_changes_a_patients_name(api_clinician, patient) -> None:
    mrn = patient.mrn
    response = api_clinician.patch(
        detail_url(patient), {"family_name": "Prefect", "teams": ["CRC"]}, format="json"
    )
    assert response.status_code == 200, response.data
    assert response.data["family_name"] == "Prefect"
    assert response.data["teams"] == ["URO"]
    patient.refresh_from_db()
    assert (patient.family_name, patient.mrn) == ("Prefect", mrn)
    assert list(patient.teams.values_list("code", flat=True)) == ["URO"]


def test_a_team_admin_can_change_a_patient(team_admin, patient) -> None:
    response = token_client(team_admin).patch(
        detail_url(patient), {"given_name": "Ford"}, format="json"
    )
    assert response.status_code == 200


def test_a_viewer_cannot_change_a_patient(api_viewer, patient) -> None:
    name = patient.family_name
    response = api_viewer.patch(detail_url(patient), {"family_name": "Prefect"}, format="json")
    assert response.status_code == 403
    patient.refresh_from_db()
    assert patient.family_name == name


def test_another_teams_clinician_cannot_change_a_patient(api_other_clinician, patient) -> None:
    name = patient.family_name
    response = api_other_clinician.patch(
        detail_url(patient), {"family_name": "Prefect"}, format="json"
    )
    assert response.status_code == 404
    patient.refresh_from_db()
    assert patient.family_name == name


def test_changing_a_patient_needs_a_token(patient) -> None:
    response = APIClient().patch(detail_url(patient), {"family_name": "Prefect"}, format="json")
    assert response.status_code == 401


def test_an_update_with_a_bad_nhs_number_is_refused_and_changes_nothing(
    api_clinician, patient
) -> None:
    number = patient.nhs_number
    response = api_clinician.patch(
        detail_url(patient), {"nhs_number": "9434765910", "family_name": "Prefect"}, format="json"
    )
    assert response.status_code == 400
    assert "nhs_number" in response.data
    patient.refresh_from_db()
    assert patient.nhs_number == number
    assert patient.family_name != "Prefect"


def test_put_replaces_the_demographics_and_clears_what_it_leaves_out(
    api_clinician, patient
) -> None:
    assert patient.phone_mobile
    body = {
        "nhs_number": patient.nhs_number,
        "nhs_number_status": "01",
        "mrn": patient.mrn,
        "given_name": "Arthur",
        "family_name": "Dent",
        "date_of_birth": "1952-03-11",
    }
    response = api_clinician.put(detail_url(patient), body, format="json")
    assert response.status_code == 200, response.data
    patient.refresh_from_db()
    assert (patient.given_name, patient.phone_mobile, patient.sex) == ("Arthur", "", "U")


def test_put_needs_the_required_fields(api_clinician, patient) -> None:
    response = api_clinician.put(detail_url(patient), {"given_name": "Arthur"}, format="json")
    assert response.status_code == 400
    assert {"family_name", "date_of_birth"} <= set(response.data)


# --- schema ----------------------------------------------------------------------------------


def test_the_schema_is_served_to_a_signed_in_user(api_clinician) -> None:
    response = api_clinician.get("/api/schema/")
    assert response.status_code == 200
    assert b"/api/v1/patients/{public_id}/results/" in response.content


def test_the_schema_needs_a_token() -> None:
    assert APIClient().get("/api/schema/").status_code == 401


def test_the_schema_generates_without_warnings_and_validates() -> None:
    # Warnings are counted process-wide; start from none so only this run's count.
    GENERATOR_STATS.reset()
    call_command("spectacular", "--validate", "--fail-on-warn", stdout=io.StringIO())
