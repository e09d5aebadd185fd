"""Who may change a patient's NHS number status, and the record of each change.

Sources: the NHS Data Dictionary, NHS NUMBER STATUS INDICATOR CODE (01 "number present and
verified" means the number was traced against the national spine); docs/pkb.md (only a
verified number is shared with PKB, which cannot merge two people's records). A clinician
who types 01 has not traced anything, so the status is a team admin's change with a reason
(or the PAS feed's), recorded with who and why and shown on the patient page.
"""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from rms import services
from rms.models import NhsNumberStatusChange, Patient, Role
from tests.conftest import member, token_client
from tests.factories import PatientFactory
from tests.rms.test_views import details, registration

pytestmark = pytest.mark.django_db

REFUSAL = "Only a team admin of the patient&#x27;s team can change the NHS number status"


@pytest.fixture
def untraced(team) -> Patient:
    return PatientFactory(teams=[team], nhs_number_status="02")


def edit(client: Client, patient: Patient, **overrides: object):  # type: ignore[no-untyped-def]
    return client.post(
        reverse("rms:patient_edit", args=[patient.public_id]), details(patient, **overrides)
    )


def api_url(patient: Patient) -> str:
    return reverse("api:patient-detail", args=[patient.public_id])


# --- refused ---------------------------------------------------------------------------------


def test_a_clinician_cannot_mark_a_number_verified_on_the_page(
    client: Client, clinician, untraced: Patient
) -> None:
    client.force_login(clinician)

    response = edit(client, untraced, nhs_number_status="01", nhs_number_status_reason="Sure")

    assert response.status_code == 403
    assert REFUSAL in response.content.decode()
    untraced.refresh_from_db()
    assert untraced.nhs_number_status == "02"
    assert not NhsNumberStatusChange.objects.exists()


def test_a_clinician_cannot_mark_a_number_verified_through_the_api(
    api_clinician: APIClient, untraced: Patient
) -> None:
    response = api_clinician.patch(
        api_url(untraced),
        {"nhs_number_status": "01", "nhs_number_status_reason": "Sure"},
        format="json",
    )

    assert response.status_code == 403
    assert "Only a team admin" in response.json()["detail"]
    untraced.refresh_from_db()
    assert untraced.nhs_number_status == "02"
    assert not NhsNumberStatusChange.objects.exists()


def test_a_clinician_cannot_register_a_number_as_verified(
    api_clinician: APIClient, client: Client, clinician, team
) -> None:
    body = {
        "nhs_number": "9434765919",
        "nhs_number_status": "01",
        "given_name": "Arthur",
        "family_name": "Dent",
        "date_of_birth": "1952-03-11",
        "teams": ["URO"],
    }
    response = api_clinician.post(reverse("api:patient-list"), body, format="json")
    assert response.status_code == 403
    assert "Only a team admin" in response.json()["detail"]

    client.force_login(clinician)
    page = client.post(reverse("rms:patient_create"), registration(team, nhs_number_status="01"))
    assert page.status_code == 403
    assert REFUSAL in page.content.decode()
    assert not Patient.objects.exists()


def test_a_clinician_still_edits_the_other_details(
    client: Client, clinician, patient: Patient
) -> None:
    """The status unchanged (01 from the factory), no reason is needed."""
    client.force_login(clinician)
    response = edit(
        client, patient, nhs_number_status=patient.nhs_number_status, postcode="TA2 2BB"
    )
    assert response.status_code == 302
    patient.refresh_from_db()
    assert patient.postcode == "TA2 2BB"


# --- allowed and recorded --------------------------------------------------------------------


def test_a_team_admin_needs_a_reason(client: Client, team_admin, untraced: Patient) -> None:
    client.force_login(team_admin)

    response = edit(client, untraced, nhs_number_status="01", nhs_number_status_reason=" ")

    assert response.status_code == 200
    assert "Give the reason" in response.content.decode()
    untraced.refresh_from_db()
    assert untraced.nhs_number_status == "02"


def test_a_team_admin_changes_it_with_a_reason_recorded_and_shown(
    client: Client, team_admin, untraced: Patient
) -> None:
    client.force_login(team_admin)

    response = edit(
        client, untraced, nhs_number_status="01", nhs_number_status_reason="Traced on PDS today"
    )

    assert response.status_code == 302
    untraced.refresh_from_db()
    assert untraced.nhs_number_status == "01"
    change = NhsNumberStatusChange.objects.get(patient=untraced)
    assert (change.from_status, change.to_status) == ("02", "01")
    assert (change.changed_by, change.reason, change.source) == (
        team_admin,
        "Traced on PDS today",
        "person",
    )
    page = client.get(reverse("rms:patient_detail", args=[untraced.public_id])).content.decode()
    assert "Traced on PDS today" in page
    assert "teamadmin" in page or team_admin.get_full_name() in page


def test_a_team_admin_changes_it_through_the_api_with_a_reason(
    team_admin, untraced: Patient
) -> None:
    client = token_client(team_admin)

    missing = client.patch(api_url(untraced), {"nhs_number_status": "01"}, format="json")
    assert missing.status_code == 400
    assert "nhs_number_status_reason" in missing.json()

    response = client.patch(
        api_url(untraced),
        {"nhs_number_status": "01", "nhs_number_status_reason": "Traced on PDS"},
        format="json",
    )
    assert response.status_code == 200, response.json()
    change = NhsNumberStatusChange.objects.get(patient=untraced)
    assert (change.changed_by, change.reason, change.to_status) == (
        team_admin,
        "Traced on PDS",
        "01",
    )


def test_a_team_admin_of_another_team_cannot(other_team, untraced: Patient) -> None:
    admin_elsewhere = member(other_team, Role.TEAM_ADMIN, "adminelsewhere")
    with pytest.raises(PermissionDenied):
        services.patient_update(
            patient=untraced, actor=admin_elsewhere, status_reason="x", nhs_number_status="01"
        )
    untraced.refresh_from_db()
    assert untraced.nhs_number_status == "02"


def test_the_pas_feed_changes_it_and_is_named(untraced: Patient) -> None:
    services.patient_update(
        patient=untraced,
        actor=services.system_user(),
        status_source="pas",
        nhs_number_status="01",
    )
    change = NhsNumberStatusChange.objects.get(patient=untraced)
    assert (change.source, change.to_status, change.reason) == (
        "pas",
        "01",
        "Changed by the PAS feed.",
    )
