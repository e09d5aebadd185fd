"""Bulk reads are on the access log: every list of patients (the API list and search, the
patient list and search page, the caseload page, the worklist page and API) writes one access
event naming, by id, every patient it returned, in the same log the team admin reads.

Source: docs/security.md, "Audit": the access log records every opening of a patient's
record, every export and every refusal. A list of 28 full records with NHS number, date of
birth, address and phone is 28 openings; one event per request naming them keeps the log
readable and complete.
"""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from rms.audit_trail import audit_trail
from rms.models import AccessEvent, Patient, Team
from tests.conftest import token_client
from tests.factories import PatientFactory
from tests.worklists.helpers import raise_item
from tests.worklists.test_views import start_plan

pytestmark = pytest.mark.django_db


def listed(event: AccessEvent) -> set[int]:
    return set(event.patients.values_list("pk", flat=True))


@pytest.fixture
def caseload(team: Team, patient: Patient) -> list[Patient]:
    # Fixed names: a search for one of them must find that patient alone (a generated
    # given name could start like another's family name, and the search matches both).
    names = [("Ashworth", "Albert"), ("Brennan", "Bernard"), ("Cartwright", "Cyril")]
    others: list[Patient] = [
        PatientFactory(teams=[team], family_name=family, given_name=given)
        for family, given in names
    ]
    patient.family_name, patient.given_name = "Dunmore", "Desmond"
    patient.save(update_fields=["family_name", "given_name"])
    return [patient, *others]


def test_the_api_patient_list_writes_one_event_naming_every_patient_returned(
    api_clinician: APIClient, clinician, caseload: list[Patient], other_patient: Patient
) -> None:
    response = api_clinician.get("/api/v1/patients/?limit=100", REMOTE_ADDR="10.1.2.3")

    assert response.status_code == 200
    assert len(response.json()["results"]) == len(caseload)
    events = list(AccessEvent.objects.filter(user=clinician))
    assert len(events) == 1
    event = events[0]
    assert (event.channel, event.action, event.outcome) == ("api", "patient list", "allowed")
    assert event.ip_address == "10.1.2.3"
    assert listed(event) == {p.pk for p in caseload}
    assert other_patient.pk not in listed(event)


def test_an_api_search_names_only_the_patients_it_found(
    api_clinician: APIClient, clinician, caseload: list[Patient]
) -> None:
    found = caseload[1]

    response = api_clinician.get("/api/v1/patients/", {"nhs_number": found.nhs_number})

    assert [r["public_id"] for r in response.json()["results"]] == [str(found.public_id)]
    event = AccessEvent.objects.get(user=clinician)
    assert event.action == "patient search"
    assert listed(event) == {found.pk}


def test_a_list_of_another_teams_clinician_never_names_our_patients(
    other_team_clinician, caseload: list[Patient], other_patient: Patient
) -> None:
    token_client(other_team_clinician).get("/api/v1/patients/")

    event = AccessEvent.objects.get(user=other_team_clinician)
    assert listed(event) == {other_patient.pk}


def test_an_anonymous_list_is_refused_and_names_nobody(caseload: list[Patient]) -> None:
    assert APIClient().get("/api/v1/patients/").status_code in (401, 403)
    response = Client().get(reverse("rms:patient_list"))
    assert response.status_code == 302
    assert not AccessEvent.objects.exists()


def test_the_patient_list_page_and_its_search_write_one_event_each(
    client: Client, clinician, caseload: list[Patient]
) -> None:
    client.force_login(clinician)

    client.get(reverse("rms:patient_list"))
    client.get(reverse("rms:patient_list"), {"q": caseload[2].family_name})

    page, search = AccessEvent.objects.filter(user=clinician).order_by("id")
    assert (page.action, page.channel) == ("patient list", "web")
    assert listed(page) == {p.pk for p in caseload}
    assert search.action == "patient search"
    assert caseload[2].pk in listed(search)
    assert listed(search) == {caseload[2].pk}


def test_the_caseload_page_writes_one_event_naming_its_patients(
    client: Client, clinician, caseload: list[Patient], other_patient: Patient
) -> None:
    followed = caseload[:2]  # the caseload page shows the patients with an open plan
    for p in followed:
        start_plan(p, clinician)
    client.force_login(clinician)

    response = client.get(reverse("worklists:caseload"))

    assert response.status_code == 200
    event = AccessEvent.objects.get(user=clinician)
    assert event.action == "caseload"
    assert listed(event) == {p.pk for p in followed}


def test_the_worklist_page_and_api_name_the_patients_of_the_items_shown(
    client: Client, clinician, patient: Patient, other_patient: Patient
) -> None:
    raise_item(patient)
    raise_item(other_patient)
    raise_item(None)  # an item of no patient (an unmatched message) names nobody
    client.force_login(clinician)

    assert client.get(reverse("worklists:list")).status_code == 200
    assert token_client(clinician).get("/api/v1/worklist/").status_code == 200

    web, api = AccessEvent.objects.filter(user=clinician).order_by("id")
    assert (web.action, web.channel) == ("worklist", "web")
    assert (api.action, api.channel) == ("worklist", "api")
    assert listed(web) == {patient.pk}
    assert listed(api) == {patient.pk}


def test_the_team_admin_sees_the_list_in_the_patients_audit_trail(
    client: Client, clinician, team_admin, caseload: list[Patient]
) -> None:
    start_plan(caseload[0], clinician)
    client.force_login(clinician)
    client.get(reverse("worklists:caseload"))

    entries = audit_trail(patient=caseload[0])
    rows = [(e.user, e.what, e.detail) for e in entries]
    assert ("clinician", "caseload", "in a list of patients") in rows

    client.force_login(team_admin)
    page = client.get(reverse("audit:patient", args=[caseload[0].public_id]))
    assert page.status_code == 200
    assert any(e.what == "caseload" for e in page.context["entries"])
