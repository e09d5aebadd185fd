"""One patient's work items panel on the patient record: the open items with the worklist's
actions (start, assign, complete, dismiss), through the services, for the patient's team."""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse
from pytest_django.asserts import assertContains, assertNotContains, assertRedirects

from rms.models import AccessEvent, Patient
from tests.factories import PatientFactory
from tests.worklists.helpers import raise_item
from worklists import services
from worklists.models import WorkItem

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}


def panel_url(patient: Patient) -> str:
    return reverse("worklist_panels:patient_items", args=[patient.public_id])


def action_url(item: WorkItem, verb: str) -> str:
    assert item.patient is not None
    return reverse(f"worklist_panels:{verb}", args=[item.patient.public_id, item.public_id])


def test_the_panel_lists_the_patients_open_items_with_their_actions(client, clinician, patient):
    item = raise_item(patient, title="PSA above 0.2 ug/L")
    raise_item(PatientFactory(teams=[patient.teams.first()]), title="Someone else's item")
    services.work_item_dismiss(
        item=raise_item(patient, title="Already done"), actor=clinician, reason="Duplicate"
    )
    client.force_login(clinician)

    response = client.get(panel_url(patient), headers=HTMX)

    assertContains(response, "PSA above 0.2 ug/L")
    assertNotContains(response, "Someone else")
    assertNotContains(response, "Already done")
    assertContains(response, f'hx-post="{action_url(item, "start")}"')
    assertContains(response, f'hx-post="{action_url(item, "complete")}"')
    assertContains(response, f'hx-post="{action_url(item, "dismiss")}"')
    assertContains(response, f'hx-post="{action_url(item, "assign")}"')
    assertContains(response, "Advice given")
    review = reverse("review:patient_review", args=[patient.public_id])
    assertContains(response, f"{review}?work_item={item.public_id}")
    assert AccessEvent.objects.filter(user=clinician, patient=patient, action="work_items").exists()


def test_without_javascript_the_panel_is_a_page(client, clinician, patient):
    client.force_login(clinician)
    response = client.get(panel_url(patient))
    assertContains(response, "<html")
    assertContains(response, "No open work items for this patient.")


def test_a_viewer_sees_the_items_without_actions(client, viewer, patient):
    item = raise_item(patient)
    client.force_login(viewer)
    response = client.get(panel_url(patient), headers=HTMX)
    assertContains(response, item.title)
    assertNotContains(response, action_url(item, "complete"))


def test_another_teams_patient_is_a_404(client, other_team_clinician, patient):
    client.force_login(other_team_clinician)
    assert client.get(panel_url(patient), headers=HTMX).status_code == 404


def test_a_clinician_starts_an_item_and_gets_the_panel_back(client, clinician, patient):
    item = raise_item(patient)
    client.force_login(clinician)

    response = client.post(action_url(item, "start"), headers=HTMX)

    assertContains(response, "Started.")
    assertContains(response, 'id="work-items-panel"')
    item.refresh_from_db()
    assert item.status == WorkItem.Status.IN_PROGRESS
    assert item.assignee == clinician


def test_a_clinician_completes_an_item_with_an_outcome(client, clinician, patient):
    item = raise_item(patient)
    client.force_login(clinician)

    response = client.post(
        action_url(item, "complete"),
        {"outcome": "contacted_patient", "note": "Spoke to him."},
        headers=HTMX,
    )

    assertContains(response, "Completed.")
    assertNotContains(response, action_url(item, "complete"))
    item.refresh_from_db()
    assert (item.status, item.outcome, item.outcome_note) == (
        WorkItem.Status.DONE,
        "contacted_patient",
        "Spoke to him.",
    )


def test_completing_without_an_outcome_is_refused_and_says_why(client, clinician, patient):
    item = raise_item(patient)
    client.force_login(clinician)
    response = client.post(action_url(item, "complete"), {"outcome": ""}, headers=HTMX)
    assertContains(response, "Choose what was done", status_code=400)
    item.refresh_from_db()
    assert item.status == WorkItem.Status.OPEN


def test_a_clinician_dismisses_an_item_with_a_reason(client, clinician, patient):
    item = raise_item(patient)
    client.force_login(clinician)
    client.post(action_url(item, "dismiss"), {"reason": "Known, repeat booked."}, headers=HTMX)
    item.refresh_from_db()
    assert item.status == WorkItem.Status.DISMISSED
    assert item.outcome_note == "Known, repeat booked."


def test_a_clinician_assigns_an_item_to_a_colleague(client, clinician, team_admin, patient):
    item = raise_item(patient)
    client.force_login(clinician)
    client.post(action_url(item, "assign"), {"assignee": str(team_admin.pk)}, headers=HTMX)
    item.refresh_from_db()
    assert item.assignee == team_admin


def test_without_javascript_an_action_returns_to_the_record_with_a_message(
    client, clinician, patient
):
    item = raise_item(patient, title="PSA overdue")
    client.force_login(clinician)
    response = client.post(action_url(item, "start"))
    assertRedirects(
        response,
        reverse("rms:patient_detail", args=[patient.public_id]),
        fetch_redirect_response=False,
    )
    assert [str(m) for m in get_messages(response.wsgi_request)] == ["PSA overdue: Started."]


def test_a_viewer_cannot_act(client, viewer, patient):
    item = raise_item(patient)
    client.force_login(viewer)
    assert client.post(action_url(item, "start")).status_code == 403
    response = client.post(action_url(item, "start"), headers=HTMX)
    assert response.status_code == 403
    item.refresh_from_db()
    assert item.status == WorkItem.Status.OPEN


def test_an_item_of_another_patient_is_a_404(client, clinician, patient, team):
    other = raise_item(PatientFactory(teams=[team]))
    client.force_login(clinician)
    url = reverse("worklist_panels:start", args=[patient.public_id, other.public_id])
    assert client.post(url, headers=HTMX).status_code == 404
    other.refresh_from_db()
    assert other.status == WorkItem.Status.OPEN


def test_another_teams_clinician_cannot_act(client, other_team_clinician, patient):
    item = raise_item(patient)
    client.force_login(other_team_clinician)
    assert client.post(action_url(item, "start"), headers=HTMX).status_code == 404
    item.refresh_from_db()
    assert item.status == WorkItem.Status.OPEN
