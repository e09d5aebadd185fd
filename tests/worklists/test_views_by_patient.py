"""The worklist by patient: one row per patient in the order of their most pressing item,
acting on the ticked items of one patient (review, assign, complete with one outcome) through
the services, the Overdue tab and the tab counts fetched again after an action; another team
can do none of it."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import time_machine
from django.urls import reverse
from pytest_django.asserts import assertContains, assertNotContains, assertRedirects

from tests.factories import PatientFactory
from tests.worklists.helpers import raise_item
from worklists.models import WorkItem, WorkItemEvent

pytestmark = pytest.mark.django_db

Priority, Status = WorkItem.Priority, WorkItem.Status
# A Friday morning; htmx's header on the requests the page makes.
NOW = dt.datetime(2026, 11, 20, 10, 0, tzinfo=dt.UTC)
HTMX = {"HX-Request": "true"}
LIST = reverse("worklists:list")


@pytest.fixture(autouse=True)
def now():  # type: ignore[no-untyped-def]
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def act_url(patient) -> str:  # type: ignore[no-untyped-def]
    return reverse("worklists:patient_act", args=[patient.public_id])


def patient_rows(response) -> list[str]:  # type: ignore[no-untyped-def]
    """The patients' names in the order of their rows."""
    return re.findall(
        r'<span class="wl-name">\s*<strong>([^<]*)</strong>', response.content.decode()
    )


def test_the_worklist_shows_one_row_per_patient_ordered_by_their_most_pressing_item(
    client, clinician, team
) -> None:
    """A patient whose PHQ-9 item 9 was answered above 0 comes first whatever else is open
    (Kroenke 2001; NICE NG225: self-harm is assessed the same day); then by the most urgent
    item; then by the result taken longest ago."""
    ford = PatientFactory(teams=[team], family_name="Prefect", given_name="Ford", title="")
    arthur = PatientFactory(teams=[team], family_name="Dent", given_name="Arthur", title="")
    trillian = PatientFactory(teams=[team], family_name="Astra", given_name="Trillian", title="")
    zaphod = PatientFactory(teams=[team], family_name="Beeblebrox", given_name="Zaphod", title="")
    raise_item(ford, title="Ford normal", priority=Priority.NORMAL)
    raise_item(ford, title="Ford urgent", priority=Priority.URGENT)
    raise_item(
        arthur,
        title="Arthur high, taken last week",
        priority=Priority.HIGH,
        waiting_since=NOW - dt.timedelta(days=7),
    )
    raise_item(trillian, title="Trillian high, taken today", priority=Priority.HIGH)
    raise_item(
        zaphod,
        title="PHQ-9: Thoughts of self-harm",
        kind=WorkItem.Kind.QUESTIONNAIRE_ALERT,
        priority=Priority.HIGH,
        risk_of_self_harm=True,
    )
    client.force_login(clinician)

    response = client.get(LIST)

    assert patient_rows(response) == [
        "BEEBLEBROX, Zaphod",
        "PREFECT, Ford",
        "DENT, Arthur",
        "ASTRA, Trillian",
    ]
    assertContains(response, "Self-harm risk")
    # Ford's row lists both items, the urgent first, each ticked.
    ford_row = response.content.decode().split(f'id="patient-{ford.public_id}"')[1]
    ford_row = ford_row.split("</details>")[0]
    assert re.findall(r'class="worklist-title">([^<]*)<', ford_row) == [
        "Ford urgent",
        "Ford normal",
    ]
    assert ford_row.count(" checked>") == 2
    # Waiting is counted from when Arthur's result was taken, not from when it was raised.
    arthur_row = response.content.decode().split(f'id="patient-{arthur.public_id}"')[1]
    assert ">7 days<" in arthur_row.split("</summary>")[0]


def test_the_list_by_item_stays_a_view_of_its_own(client, clinician, patient) -> None:
    raise_item(patient, title="one")
    client.force_login(clinician)
    response = client.get(LIST + "?view=items")
    assertContains(response, '<table class="table table-hover align-middle worklist">')
    assertNotContains(response, "data-worklist-patient")
    assertContains(client.get(LIST), "data-worklist-patient")


def test_completing_a_patients_ticked_items_with_one_outcome_records_each(
    client, clinician, patient
) -> None:
    first = raise_item(patient, title="first")
    second = raise_item(patient, title="second")
    untouched = raise_item(patient, title="left open")
    client.force_login(clinician)

    response = client.post(
        act_url(patient),
        {
            "action": "complete",
            "outcome": "contacted_patient",
            "note": "Rang; repeat booked.",
            "items": [first.public_id, second.public_id],
            "next": LIST,
        },
        headers=HTMX,
    )

    assert response.status_code == 200
    assert response["HX-Trigger"] == "worklist-changed"
    html = response.content.decode()
    assert html.lstrip().startswith(f'<details id="patient-{patient.public_id}"')
    assert "2 items completed." in html
    for item in (first, second):
        item.refresh_from_db()
        assert (item.status, item.outcome, item.outcome_note) == (
            Status.DONE,
            "contacted_patient",
            "Rang; repeat booked.",
        )
        [event] = WorkItemEvent.objects.filter(work_item=item, action="completed")
        assert event.actor == clinician
    untouched.refresh_from_db()
    assert untouched.status == Status.OPEN


def test_review_and_assign_act_on_the_ticked_items(client, clinician, team_admin, patient) -> None:
    first = raise_item(patient)
    second = raise_item(patient)
    client.force_login(clinician)
    client.post(act_url(patient), {"action": "review", "items": [first.public_id]}, headers=HTMX)
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, second.status) == (Status.IN_PROGRESS, Status.OPEN)

    response = client.post(
        act_url(patient),
        {
            "action": "assign",
            "assignee": team_admin.pk,
            "items": [first.public_id, second.public_id],
        },
        headers=HTMX,
    )
    assertContains(response, "2 items assigned.")
    assert set(WorkItem.objects.filter(assignee=team_admin)) == {first, second}
    assert WorkItemEvent.objects.filter(action="assigned", actor=clinician).count() == 2


def test_complete_needs_an_outcome(client, clinician, patient) -> None:
    item = raise_item(patient)
    client.force_login(clinician)
    response = client.post(
        act_url(patient), {"action": "complete", "items": [item.public_id]}, headers=HTMX
    )
    assertContains(response, "Choose what was done (the outcome).")
    item.refresh_from_db()
    assert item.status == Status.OPEN


def test_a_clinician_of_another_team_cannot_act_on_the_patients_items(
    client, other_team_clinician, patient, other_patient
) -> None:
    ours = raise_item(patient)
    theirs = raise_item(other_patient)
    client.force_login(other_team_clinician)
    # Our patient is not theirs to see: a 404, nothing done.
    response = client.post(
        act_url(patient),
        {"action": "complete", "outcome": "contacted_patient", "items": [ours.public_id]},
    )
    assert response.status_code == 404
    # Nor can our item be slipped in with one of their own patient's.
    response = client.post(
        act_url(other_patient),
        {
            "action": "complete",
            "outcome": "contacted_patient",
            "items": [ours.public_id, theirs.public_id],
        },
        headers=HTMX,
    )
    assertContains(response, "1 item completed.")
    assertContains(response, "1 ticked item could not be found.")
    ours.refresh_from_db()
    theirs.refresh_from_db()
    assert (ours.status, theirs.status) == (Status.OPEN, Status.DONE)
    assert not WorkItemEvent.objects.filter(work_item=ours, actor=other_team_clinician).exists()


def test_a_viewer_cannot_act_on_a_patients_items(client, viewer, patient) -> None:
    item = raise_item(patient)
    client.force_login(viewer)
    response = client.post(act_url(patient), {"action": "review", "items": [item.public_id]})
    assert response.status_code == 403
    item.refresh_from_db()
    assert item.status == Status.OPEN
    assertNotContains(client.get(LIST), 'name="action"')


def test_without_javascript_the_action_redirects_back_to_the_list(
    client, clinician, patient
) -> None:
    item = raise_item(patient)
    client.force_login(clinician)
    response = client.post(
        act_url(patient), {"action": "review", "items": [item.public_id], "next": LIST}
    )
    assertRedirects(response, LIST, fetch_redirect_response=False)
    item.refresh_from_db()
    assert item.status == Status.IN_PROGRESS


def scope_counts(response) -> dict[str, str]:  # type: ignore[no-untyped-def]
    found = re.findall(
        r'>(Mine|My teams|Overdue) <span class="badge [^"]*" data-scope-count>(\d+)<',
        response.content.decode(),
    )
    return dict(found)


def test_the_tabs_count_mine_my_teams_and_overdue_and_come_again_after_an_action(
    client, clinician, patient
) -> None:
    late = raise_item(patient, title="late", due_date=dt.date(2026, 11, 19))
    raise_item(patient, title="on time", priority=Priority.NORMAL)
    client.force_login(clinician)
    assert scope_counts(client.get(LIST)) == {"Mine": "0", "My teams": "2", "Overdue": "1"}
    assert scope_counts(client.get(LIST + "?show=overdue")) == {
        "Mine": "0",
        "My teams": "2",
        "Overdue": "1",
    }
    assert len(patient_rows(client.get(LIST + "?show=overdue"))) == 1

    client.post(
        act_url(patient),
        {"action": "assign", "assignee": clinician.pk, "items": [late.public_id]},
        headers=HTMX,
    )
    tabs = client.get(reverse("worklists:tabs"), headers=HTMX)
    assert scope_counts(tabs) == {"Mine": "1", "My teams": "2", "Overdue": "1"}
    assertContains(tabs, 'id="worklist-kinds"')
    assertContains(tabs, 'hx-swap-oob="true"')


def test_the_tabs_of_another_team_count_none_of_ours(client, other_team_clinician, patient) -> None:
    raise_item(patient, due_date=dt.date(2026, 11, 1))
    client.force_login(other_team_clinician)
    tabs = client.get(reverse("worklists:tabs"))
    assert scope_counts(tabs) == {"Mine": "0", "My teams": "0", "Overdue": "0"}


def test_the_list_by_patient_takes_the_same_queries_for_one_patient_or_forty(
    client, clinician, team, django_assert_max_num_queries
) -> None:
    raise_item(PatientFactory(teams=[team]))
    client.force_login(clinician)
    with django_assert_max_num_queries(50) as few:
        client.get(LIST)
    for _ in range(39):
        patient = PatientFactory(teams=[team])
        raise_item(patient)
        raise_item(patient, priority=Priority.URGENT)
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get(LIST)
    assert len(patient_rows(response)) == 40
