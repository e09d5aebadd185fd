"""GET /api/v1/worklist/ and /api/v1/worklist/{public_id}/: scope, filters, shape, schema."""

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

from rms.models import AccessEvent
from tests.conftest import token_client
from tests.factories import PatientFactory, UserFactory
from tests.worklists.helpers import raise_item
from worklists import services
from worklists.models import WorkItem

pytestmark = pytest.mark.django_db

LIST_URL = reverse("api:worklist")
Kind = WorkItem.Kind
Priority = WorkItem.Priority
Status = WorkItem.Status


def detail_url(item: WorkItem | uuid.UUID) -> str:
    public_id = item.public_id if isinstance(item, WorkItem) else item
    return reverse("api:worklist-detail", kwargs={"public_id": public_id})


def ids(response) -> list[str]:
    return [row["public_id"] for row in response.data["results"]]


# --- who may read ----------------------------------------------------------------------------


def test_it_needs_a_token() -> None:
    assert APIClient().get(LIST_URL).status_code == 401
    assert APIClient().get(detail_url(uuid.uuid4())).status_code == 401


def test_it_lists_the_items_of_the_users_teams_only(
    api_clinician, api_viewer, patient, other_patient
) -> None:
    ours = raise_item(patient)
    raise_item(other_patient)
    raise_item(None, kind=Kind.UNMATCHED_MESSAGE)
    for client in (api_clinician, api_viewer):
        response = client.get(LIST_URL)
        assert response.status_code == 200
        assert (response.data["count"], ids(response)) == (1, [str(ours.public_id)])


def test_another_teams_item_is_a_404_and_leaves_no_access_record(
    api_other_clinician, patient
) -> None:
    item = raise_item(patient)
    assert api_other_clinician.get(detail_url(item)).status_code == 404
    assert api_other_clinician.get(detail_url(uuid.uuid4())).status_code == 404
    assert api_other_clinician.get(LIST_URL).data["count"] == 0
    # The list itself is on the record (docs/security.md, "Audit"), naming nobody.
    assert not AccessEvent.objects.filter(patient__isnull=False).exists()
    assert not AccessEvent.patients.through.objects.exists()


def test_a_superuser_sees_the_administrators_items_with_no_team() -> None:
    root = UserFactory(username="root", is_superuser=True, is_staff=True)
    unmatched = raise_item(None, kind=Kind.UNMATCHED_MESSAGE)
    client = token_client(root)
    assert ids(client.get(LIST_URL)) == [str(unmatched.public_id)]
    response = client.get(detail_url(unmatched))
    assert response.status_code == 200
    assert (response.data["patient"], response.data["team"]) == (None, None)


# --- shape -----------------------------------------------------------------------------------


def test_an_item_shows_what_a_clinician_needs_and_no_patient_identifiers(
    api_clinician, clinician, patient
) -> None:
    item = raise_item(patient, priority=Priority.HIGH)
    services.work_item_start(item=item, actor=clinician)
    [row] = api_clinician.get(LIST_URL).json()["results"]
    assert row == {
        "public_id": str(item.public_id),
        "kind": "threshold_breach",
        "priority": 2,
        "priority_label": "High",
        "status": "in_progress",
        "patient": str(patient.public_id),
        "team": "URO",
        "assignee": "clinician",
        # Raised with no due date of its own: due by its priority.
        "due_date": item.due_date.isoformat(),
        "title": item.title,
        "explanation": item.explanation,
        "source": "rule:1",
        "created_at": row["created_at"],
        "closed_at": None,
        "outcome": "",
        "outcome_note": "",
    }
    text = str(row)
    for identifier in (patient.nhs_number, patient.family_name, patient.given_name):
        assert identifier not in text


def test_one_item_comes_with_its_history_and_its_reading_is_logged(
    api_clinician, clinician, patient
) -> None:
    item = raise_item(patient)
    services.work_item_start(item=item, actor=clinician)
    services.work_item_complete(item=item, actor=clinician, outcome="PSA repeated", note="4 wk")
    response = api_clinician.get(detail_url(item))
    assert response.status_code == 200
    assert (response.data["status"], response.data["outcome"], response.data["outcome_note"]) == (
        "done",
        "PSA repeated",
        "4 wk",
    )
    assert [(e["action"], e["actor"], e["to_status"]) for e in response.data["events"]] == [
        ("created", "rms-system", "open"),
        ("started", "clinician", "in_progress"),
        ("completed", "clinician", "done"),
    ]
    event = AccessEvent.objects.get()
    assert (event.user, event.patient, event.channel, event.action) == (
        clinician,
        patient,
        "api",
        "work item",
    )


# --- filters ---------------------------------------------------------------------------------


def test_by_default_only_the_items_still_to_do_are_listed(
    api_clinician, clinician, patient
) -> None:
    open_item = raise_item(patient)
    done = raise_item(patient)
    services.work_item_complete(item=done, actor=clinician, outcome="Seen")
    assert ids(api_clinician.get(LIST_URL)) == [str(open_item.public_id)]
    assert set(ids(api_clinician.get(LIST_URL, {"status": "all"}))) == {
        str(open_item.public_id),
        str(done.public_id),
    }
    assert ids(api_clinician.get(LIST_URL, {"status": "done"})) == [str(done.public_id)]


def test_it_filters_by_kind_priority_team_and_mine(
    api_clinician, clinician, team_admin, patient, team, other_team
) -> None:
    breach = raise_item(patient, priority=Priority.URGENT)
    overdue = raise_item(patient, kind=Kind.OVERDUE_TEST)
    services.work_item_assign(item=overdue, assignee=clinician, actor=team_admin)

    def listed(**params) -> list[str]:
        response = api_clinician.get(LIST_URL, params)
        assert response.status_code == 200, response.data
        return ids(response)

    assert listed(kind="overdue_test") == [str(overdue.public_id)]
    assert listed(priority=1) == [str(breach.public_id)]
    assert listed(mine="true") == [str(overdue.public_id)]
    assert listed(team="URO") == [str(breach.public_id), str(overdue.public_id)]
    assert listed(team="CRC") == []


def test_a_bad_filter_is_a_400_naming_it(api_clinician) -> None:
    response = api_clinician.get(LIST_URL, {"kind": "gossip", "priority": 9, "status": "x"})
    assert response.status_code == 400
    assert set(response.data) == {"kind", "priority", "status"}


def test_the_list_pages_and_costs_the_same_queries_however_many_items(
    api_clinician, clinician, patient, team
) -> None:
    for _ in range(3):
        services.work_item_start(item=raise_item(patient), actor=clinician)
    with CaptureQueriesContext(connection) as few:
        api_clinician.get(LIST_URL)
    for _ in range(10):
        raise_item(PatientFactory(teams=[team]))
    with CaptureQueriesContext(connection) as many:
        response = api_clinician.get(LIST_URL, {"limit": 5})
    assert len(many) == len(few)
    assert (response.data["count"], len(response.data["results"])) == (13, 5)


# --- schema ----------------------------------------------------------------------------------


def test_the_schema_documents_the_worklist_under_its_tag(api_clinician) -> None:
    schema = api_clinician.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    for path in ("/api/v1/worklist/", "/api/v1/worklist/{public_id}/"):
        assert schema["paths"][path]["get"]["tags"] == ["worklist"]
    names = {p["name"] for p in schema["paths"]["/api/v1/worklist/"]["get"]["parameters"]}
    assert names >= {"kind", "status", "priority", "mine", "team", "limit", "offset"}


def test_the_schema_still_generates_without_warnings_and_validates() -> None:
    # Warnings are counted process-wide; start from none so only this run's count.
    GENERATOR_STATS.reset()
    call_command("spectacular", "--validate", "--fail-on-warn", stdout=io.StringIO())
