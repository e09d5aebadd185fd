"""A patient the PAS feed registered (on no caseload) is taken on by the first team that
registers them, not duplicated: ``services.patient_create`` adopts the record when the NHS
number, date of birth and family name agree."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from rms import services
from rms.inbound import receive
from rms.models import CaseloadEntry, DomainEvent, Patient
from tests.factories import PatientFactory
from tests.rms.hl7.samples import sample_bytes

pytestmark = pytest.mark.django_db

BORN = dt.date(1958, 2, 14)


@pytest.fixture
def from_pas() -> Patient:
    """What the PAS told us: identifiers, name, address; no email, no mobile, no caseload."""
    return services.patient_register_from_feed(
        actor=services.system_user(),
        nhs_number="9990000018",
        nhs_number_status="01",
        mrn="RXX1234567",
        title="Mr",
        given_name="Alan",
        family_name="TESTER",
        date_of_birth=BORN,
        sex="M",
        address_line_1="12 Orchard Close",
        postcode="TA1 2AB",
    )


def registration(**changes: object) -> dict[str, object]:
    values: dict[str, object] = {
        "nhs_number": "999 000 0018",
        "nhs_number_status": "02",
        "mrn": "RXX9000001",
        "title": "",
        "given_name": "Al",
        "family_name": "Tester",
        "date_of_birth": BORN,
        "sex": "M",
        "address_line_1": "1 Somewhere Else",
        "postcode": "TA9 9ZZ",
        "phone_mobile": "07700 900123",
        "email": "alan@example.org",
    }
    values.update(changes)
    return values


def test_the_feed_registers_a_patient_on_no_caseload(from_pas) -> None:
    assert not from_pas.caseload_entries.exists()


def test_registering_the_patient_the_pas_sent_adopts_the_record(from_pas, clinician, team) -> None:
    patient = services.patient_create(actor=clinician, teams=[team], **registration())
    assert patient.pk == from_pas.pk
    assert Patient.objects.count() == 1
    entry = CaseloadEntry.objects.get()
    assert (entry.patient, entry.team, entry.ended_on, entry.added_by) == (
        from_pas,
        team,
        None,
        clinician,
    )
    patient.refresh_from_db()
    # What the hospital's records hold stays...
    assert (patient.mrn, patient.given_name, patient.family_name, patient.title) == (
        "RXX1234567",
        "Alan",
        "TESTER",
        "Mr",
    )
    assert (patient.nhs_number_status, patient.address_line_1, patient.postcode) == (
        "01",
        "12 Orchard Close",
        "TA1 2AB",
    )
    # ...and the registration fills only what was blank.
    assert (patient.phone_mobile, patient.email) == ("07700 900123", "alan@example.org")


def test_adopting_records_patient_changed_as_an_update(from_pas, clinician, team) -> None:
    services.patient_create(actor=clinician, teams=[team], **registration())
    registered, adopted = DomainEvent.objects.filter(patient=from_pas).order_by("id")
    assert registered.kind == DomainEvent.Kind.PATIENT_REGISTERED, "by the PAS feed"
    assert adopted.kind == DomainEvent.Kind.PATIENT_CHANGED, "taken on: not a second registration"
    assert set(adopted.payload["changed_fields"]) == set(services.PATIENT_FIELDS)


def test_a_patient_on_another_teams_caseload_is_still_a_duplicate(
    other_team, clinician, team
) -> None:
    PatientFactory(
        nhs_number="9990000018", family_name="Tester", date_of_birth=BORN, teams=[other_team]
    )
    with pytest.raises(ValidationError) as refused:
        services.patient_create(actor=clinician, teams=[team], **registration())
    assert "already registered" in refused.value.message_dict["nhs_number"][0]
    assert Patient.objects.count() == 1
    assert not CaseloadEntry.objects.filter(team=team).exists()


def test_a_second_team_registering_an_adopted_patient_is_refused(
    from_pas, clinician, other_team_clinician, team, other_team
) -> None:
    services.patient_create(actor=clinician, teams=[team], **registration())
    with pytest.raises(ValidationError) as refused:
        services.patient_create(actor=other_team_clinician, teams=[other_team], **registration())
    assert "already registered" in refused.value.message_dict["nhs_number"][0]
    assert list(from_pas.teams.all()) == [team]


def test_a_patient_the_pas_feed_sent_over_hl7_is_adopted(clinician, team) -> None:
    receive(raw=sample_bytes("adt_a28_pas_new_patient.hl7"), channel="mllp")
    pas = Patient.objects.get()
    patient = services.patient_create(actor=clinician, teams=[team], **registration())
    assert patient.pk == pas.pk
    assert list(patient.teams.all()) == [team]


# --- the same through the API and the web form ------------------------------------------------


def test_adoption_through_the_api(from_pas, api_clinician, team) -> None:
    body = {
        "nhs_number": "9990000018",
        "given_name": "Alan",
        "family_name": "Tester",
        "date_of_birth": "1958-02-14",
        "email": "alan@example.org",
        "teams": ["URO"],
    }
    response = api_clinician.post(reverse("api:patient-list"), body, format="json")
    assert response.status_code == 201, response.data
    assert response.data["public_id"] == str(from_pas.public_id)
    assert response.data["teams"] == ["URO"]
    assert (response.data["mrn"], response.data["email"]) == ("RXX1234567", "alan@example.org")
    assert Patient.objects.count() == 1


def test_adoption_through_the_api_with_another_date_of_birth_is_a_400(
    from_pas, api_clinician, team
) -> None:
    body = {
        "nhs_number": "9990000018",
        "given_name": "Alan",
        "family_name": "Tester",
        "date_of_birth": "1958-02-15",
        "teams": ["URO"],
    }
    response = api_clinician.post(reverse("api:patient-list"), body, format="json")
    assert response.status_code == 400
    assert "nhs_number" in response.data
    assert not CaseloadEntry.objects.exists()


def web_registration(team, **changes: object) -> dict[str, object]:
    data: dict[str, object] = {
        name: "" if value is None else value
        for name, value in registration(date_of_birth="1958-02-14").items()
    }
    for name in ("address_line_2", "address_city", "address_county", "phone_home", "phone_work"):
        data[name] = ""
    data["teams"] = [team.pk]
    data.update(changes)
    return data


def test_adoption_through_the_web_form(from_pas, client, clinician, team) -> None:
    client.force_login(clinician)
    response = client.post(reverse("rms:patient_create"), web_registration(team))
    assert response.status_code == 302
    assert response["Location"] == reverse(
        "rms:patient_detail", kwargs={"public_id": from_pas.public_id}
    )
    assert Patient.objects.count() == 1
    assert list(from_pas.teams.all()) == [team]
    # The clinician now sees the record.
    assert client.get(response["Location"]).status_code == 200


def test_adoption_through_the_web_form_with_another_family_name_is_a_field_error(
    from_pas, client, clinician, team
) -> None:
    client.force_login(clinician)
    response = client.post(
        reverse("rms:patient_create"), web_registration(team, family_name="Tasker")
    )
    assert response.status_code == 200
    assert "different date of birth" in response.context["form"].errors["nhs_number"][0]
    assert not CaseloadEntry.objects.exists()
