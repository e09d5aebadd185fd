"""REST API: a patient's follow-up plans (GET) and starting one (POST)."""

from __future__ import annotations

import datetime as dt
import io
import uuid

import pytest
import time_machine
from django.core.management import call_command
from django.urls import reverse
from drf_spectacular.drainage import GENERATOR_STATS
from rest_framework.test import APIClient

from careplans.followup import services
from careplans.models import FollowUpPlan, Pathway
from rms.models import AccessEvent, Patient
from tests.conftest import token_client

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def today():
    with time_machine.travel(dt.datetime(2025, 3, 15, 12, 0, tzinfo=dt.UTC), tick=False):
        yield


def url(patient: Patient | uuid.UUID) -> str:
    public_id = patient.public_id if isinstance(patient, Patient) else patient
    return reverse("api:patient-plans", kwargs={"public_id": public_id})


BODY = {"pathway": "prostate-post-prostatectomy", "anchor_date": "2025-01-20"}


def test_the_path_is_the_one_the_design_names(patient):
    assert url(patient) == f"/api/v1/patients/{patient.public_id}/plans/"


def test_a_clinician_starts_a_plan(api_clinician, patient):
    response = api_clinician.post(url(patient), BODY, format="json")

    assert response.status_code == 201
    plan = FollowUpPlan.objects.get(patient=patient)
    data = response.data
    assert data["public_id"] == str(plan.public_id)
    assert data["pathway"] == "prostate-post-prostatectomy"
    assert data["pathway_name"] == "Prostate cancer after radical prostatectomy"
    assert data["anchor_date"] == "2025-01-20"
    assert data["status"] == "active"
    assert data["team"] == "URO"
    assert data["started_by"] == "clinician"
    assert [(t["test_code"], t["next_due_date"]) for t in data["tests"]] == [("PSA", "2025-04-20")]
    assert {r["rule_type"] for r in data["rules"]} == {
        "absolute_limit",
        "consecutive_rises",
        "doubling_time",
    }
    limit = next(r for r in data["rules"] if r["params"].get("confirmations") == 2)
    assert limit["params"] == {
        "threshold": "0.2",
        "confirmations": 2,
        "repeat_after_days": 42,
        "units": "ug/L",
    }
    assert limit["priority"] == "High"
    assert [s["every_months"] for s in data["schedule"]] == [3, 6, 12]


def test_starting_again_answers_200_with_the_open_plan(api_clinician, patient):
    first = api_clinician.post(url(patient), BODY, format="json")
    again = api_clinician.post(url(patient), BODY, format="json")

    assert again.status_code == 200
    assert again.data["public_id"] == first.data["public_id"]
    assert FollowUpPlan.objects.filter(patient=patient).count() == 1


def test_a_team_admin_may_start_a_plan(team_admin, patient):
    response = token_client(team_admin).post(url(patient), BODY, format="json")
    assert response.status_code == 201


def test_an_unknown_pathway_is_a_400_naming_the_pathway(api_clinician, patient):
    response = api_clinician.post(
        url(patient), {**BODY, "pathway": "breast-whatever"}, format="json"
    )
    assert response.status_code == 400
    assert "pathway" in response.data
    assert not FollowUpPlan.objects.exists()


def test_an_inactive_pathway_is_a_400_naming_the_pathway(api_clinician, patient):
    Pathway.objects.filter(code="colorectal-cea").update(active=False)
    response = api_clinician.post(
        url(patient), {**BODY, "pathway": "colorectal-cea"}, format="json"
    )
    assert response.status_code == 400
    assert "pathway" in response.data


@pytest.mark.parametrize("anchor", ["2025-03-16", "1990-01-01", "not a date"])
def test_a_bad_anchor_date_is_a_400_naming_it(api_clinician, patient, anchor):
    response = api_clinician.post(url(patient), {**BODY, "anchor_date": anchor}, format="json")
    assert response.status_code == 400
    assert "anchor_date" in response.data


def test_a_missing_field_is_a_400(api_clinician, patient):
    response = api_clinician.post(url(patient), {"pathway": BODY["pathway"]}, format="json")
    assert response.status_code == 400
    assert "anchor_date" in response.data


def test_a_viewer_cannot_start_a_plan(api_viewer, patient):
    response = api_viewer.post(url(patient), BODY, format="json")
    assert response.status_code == 403
    assert not FollowUpPlan.objects.exists()


def test_a_clinician_of_another_team_gets_404_and_the_refusal_is_logged(
    api_other_clinician, patient
):
    response = api_other_clinician.post(url(patient), BODY, format="json")
    assert response.status_code == 404
    assert not FollowUpPlan.objects.exists()
    assert AccessEvent.objects.filter(patient=patient, outcome="denied", channel="api").exists()


def test_an_unknown_patient_is_a_404(api_clinician):
    assert api_clinician.get(url(uuid.uuid4())).status_code == 404


def test_no_token_is_refused(patient):
    assert APIClient().get(url(patient)).status_code in (401, 403)


def test_the_list_shows_the_patients_plans_to_a_viewer(api_viewer, clinician, patient):
    services.plan_start(
        patient=patient,
        pathway=Pathway.objects.get(code="prostate-active-surveillance"),
        anchor_date=dt.date(2024, 3, 1),
        actor=clinician,
    )

    response = api_viewer.get(url(patient))

    assert response.status_code == 200
    assert [p["pathway"] for p in response.data] == ["prostate-active-surveillance"]
    # Started on 15 Mar 2025, a year after the start of surveillance, with no PSA: due at
    # the first grid point on or after the start (18 months), not overdue since June 2024.
    tests = {t["test_code"]: t for t in response.data[0]["tests"]}
    assert tests["PSA"]["next_due_date"] == "2025-09-01"
    assert tests["PSA"]["confirm_by"] is None
    assert AccessEvent.objects.filter(
        patient=patient, outcome="allowed", channel="api", action="plans"
    ).exists()


def test_the_list_is_refused_for_another_teams_patient(api_other_clinician, patient):
    assert api_other_clinician.get(url(patient)).status_code == 404


def test_the_list_is_empty_for_a_patient_without_plans(api_clinician, patient):
    response = api_clinician.get(url(patient))
    assert response.status_code == 200
    assert response.data == []


def test_the_schema_still_validates_without_warnings():
    GENERATOR_STATS.reset()
    call_command("spectacular", "--validate", "--fail-on-warn", stdout=io.StringIO())
