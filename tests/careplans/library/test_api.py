"""The resource library API: a team's resources, shares and milestones; allowed and refused."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from careplans.models import Resource, ResourceShare
from tests.careplans.library.helpers import pack, resource

pytestmark = pytest.mark.django_db


def shares_url(patient) -> str:  # type: ignore[no-untyped-def]
    return f"/api/v1/patients/{patient.public_id}/resource-shares/"


def test_a_clinician_lists_their_teams_resources(api_clinician, team) -> None:
    resource(team, title="Ours")
    response = api_clinician.get(f"/api/v1/teams/{team.public_id}/resources/")
    assert response.status_code == 200
    assert [r["title"] for r in response.json()["results"]] == ["Ours"]


def test_another_teams_library_is_a_404(api_clinician, other_team) -> None:
    assert api_clinician.get(f"/api/v1/teams/{other_team.public_id}/resources/").status_code == 404


def test_anonymous_is_refused(team) -> None:
    assert APIClient().get(f"/api/v1/teams/{team.public_id}/resources/").status_code == 401


def test_a_clinician_shares_an_approved_resource(api_clinician, patient, team) -> None:
    item = resource(team)
    response = api_clinician.post(shares_url(patient), {"resource": str(item.public_id)})
    assert response.status_code == 201, response.json()
    assert response.json()["document_number"].startswith("RMS-INFO-")
    assert api_clinician.get(shares_url(patient)).json()[0]["resource"] == str(item.public_id)


@pytest.mark.parametrize("status", [Resource.Status.DRAFT, Resource.Status.RETIRED])
def test_an_unapproved_or_retired_resource_is_a_400(api_clinician, patient, team, status) -> None:
    item = resource(team, status=status)
    response = api_clinician.post(shares_url(patient), {"resource": str(item.public_id)})
    assert response.status_code == 400
    assert "resource" in response.json()
    assert not ResourceShare.objects.exists()


def test_a_pack_is_shared_once(api_clinician, patient, team) -> None:
    bundle = pack(team, [resource(team)])
    first = api_clinician.post(shares_url(patient), {"pack": str(bundle.public_id)})
    again = api_clinician.post(shares_url(patient), {"pack": str(bundle.public_id)})
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["public_id"] == again.json()["public_id"]


def test_a_viewer_cannot_share_or_record(api_viewer, patient, team) -> None:
    item = resource(team)
    assert (
        api_viewer.post(shares_url(patient), {"resource": str(item.public_id)}).status_code == 403
    )
    response = api_viewer.post(
        f"/api/v1/patients/{patient.public_id}/milestones/",
        {"pathway": "prostate-post-prostatectomy", "milestone": "after_treatment"},
    )
    assert response.status_code == 403


def test_another_teams_patient_is_a_404(api_other_clinician, patient) -> None:
    assert api_other_clinician.get(shares_url(patient)).status_code == 404


def test_a_milestone_records_and_shares_its_packs(api_clinician, patient, team) -> None:
    pack(team, [resource(team)], milestone="after_treatment", name="After treatment")
    url = f"/api/v1/patients/{patient.public_id}/milestones/"
    body = {"pathway": "prostate-post-prostatectomy", "milestone": "after_treatment"}
    first = api_clinician.post(url, body)
    assert first.status_code == 201, first.json()
    assert len(first.json()["shares"]) == 1
    assert api_clinician.post(url, body).json()["shares"] == []
