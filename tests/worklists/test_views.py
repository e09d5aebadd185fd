"""The worklist pages: the worklist (tabs, filters, order, counts, pages), its actions one item
at a time and in bulk, the caseload and the alert yield; who may see and do what; and a
constant number of queries however many rows."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
import time_machine
from django.contrib.messages import get_messages
from django.urls import reverse
from pytest_django.asserts import assertContains, assertNotContains, assertRedirects

from careplans.followup import services as plan_services
from careplans.models import FollowUpPlan, Pathway, PlanTest
from pkb_bridge.models import Enrolment
from rms.models import Role, TumourSite
from tests.factories import (
    MembershipFactory,
    ObservationFactory,
    PatientFactory,
    ResultFactory,
    TeamFactory,
    UserFactory,
)
from tests.worklists.helpers import raise_item
from worklists import services
from worklists.models import Outcome, WorkItem, WorkItemEvent

pytestmark = pytest.mark.django_db

Kind = WorkItem.Kind
Priority = WorkItem.Priority
Status = WorkItem.Status
HTMX = {"HX-Request": "true"}
NOW = dt.datetime(2026, 11, 20, 10, 0, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def now():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def list_url(**params: str) -> str:
    url = reverse("worklists:list")
    if params:
        url += "?" + "&".join(f"{k}={v}" for k, v in params.items())
    return url


def action_url(item: WorkItem, name: str) -> str:
    return reverse(f"worklists:{name}", args=[item.public_id])


def titles(response) -> list[str]:
    """The item titles of the worklist's rows, in order."""
    return re.findall(r'<strong class="worklist-title">([^<]*)</strong>', response.content.decode())


def events(item: WorkItem, action: str) -> list[WorkItemEvent]:
    return list(WorkItemEvent.objects.filter(work_item=item, action=action))


# ---------------------------------------------------------------------------
# Who may see and do what
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["list", "caseload", "yield"])
def test_every_page_sends_an_anonymous_user_to_log_in(client, name) -> None:
    url = reverse(f"worklists:{name}")
    response = client.get(url)
    assertRedirects(response, f"{reverse('login')}?next={url}", fetch_redirect_response=False)


@pytest.mark.parametrize("name", ["assign", "start", "complete", "dismiss"])
def test_every_action_sends_an_anonymous_user_to_log_in(client, patient, name) -> None:
    item = raise_item(patient)
    url = action_url(item, name)
    response = client.post(url, {"outcome": "advice_given", "reason": "x"})
    assertRedirects(response, f"{reverse('login')}?next={url}", fetch_redirect_response=False)
    assert not WorkItemEvent.objects.exclude(action="created").exists()


def test_the_root_sends_a_logged_in_user_to_the_worklist(client, clinician) -> None:
    client.force_login(clinician)
    assertRedirects(client.get("/"), reverse("worklists:list"))


def test_a_clinician_sees_their_teams_items_and_not_another_teams(
    client, clinician, patient, other_patient
) -> None:
    ours = raise_item(patient, title="Our PSA rise")
    theirs = raise_item(other_patient, title="Their CEA rise")
    client.force_login(clinician)
    response = client.get(list_url())
    assert titles(response) == ["Our PSA rise"]
    assertContains(response, reverse("rms:patient_detail", args=[patient.public_id]))
    assertNotContains(response, str(theirs.public_id))
    assertNotContains(response, other_patient.family_name.upper())
    assert ours.title in response.content.decode()


def test_a_clinician_of_another_team_sees_none_of_the_items(
    client, other_team_clinician, patient
) -> None:
    raise_item(patient, title="Our PSA rise")
    client.force_login(other_team_clinician)
    response = client.get(list_url())
    assert titles(response) == []
    assertContains(response, "Nothing needs doing for your teams")


@pytest.mark.parametrize("name", ["assign", "start", "complete", "dismiss"])
def test_an_action_on_another_teams_item_is_a_404(
    client, clinician, other_patient, other_team_clinician, name
) -> None:
    item = raise_item(other_patient)
    client.force_login(clinician)
    response = client.post(
        action_url(item, name),
        {"assignee": str(other_team_clinician.pk), "outcome": "advice_given", "reason": "x"},
    )
    assert response.status_code == 404
    item.refresh_from_db()
    assert item.status == Status.OPEN and item.assignee is None


def test_a_viewer_sees_the_list_without_any_action(client, viewer, patient) -> None:
    item = raise_item(patient, title="Our PSA rise")
    client.force_login(viewer)
    response = client.get(list_url())
    assert titles(response) == ["Our PSA rise"]
    for name in ("assign", "start", "complete", "dismiss"):
        assertNotContains(response, action_url(item, name))
    assertNotContains(response, 'id="bulk-form"')
    assertNotContains(response, 'name="items"')


@pytest.mark.parametrize("name", ["assign", "start", "complete", "dismiss"])
def test_a_viewer_cannot_act_on_an_item(client, viewer, clinician, patient, name) -> None:
    item = raise_item(patient)
    client.force_login(viewer)
    data = {"assignee": str(clinician.pk), "outcome": "advice_given", "reason": "Seen"}
    assert client.post(action_url(item, name), data).status_code == 403
    htmx = client.post(action_url(item, name), data, headers=HTMX)
    assert htmx.status_code == 403
    # With htmx the refusal comes back in the row, which worklists.js lets htmx swap in.
    assertContains(htmx, "Only a clinician or team admin", status_code=403)
    assertContains(htmx, f'id="item-{item.public_id}"', status_code=403)
    item.refresh_from_db()
    assert item.status == Status.OPEN and item.assignee is None
    assert not WorkItemEvent.objects.exclude(action="created").exists()


def test_a_viewer_cannot_act_in_bulk(client, viewer, patient) -> None:
    item = raise_item(patient)
    client.force_login(viewer)
    response = client.post(
        reverse("worklists:bulk"), {"items": [str(item.public_id)], "action": "assign_me"}
    )
    assert response.status_code == 403
    item.refresh_from_db()
    assert item.assignee is None


def test_actions_only_accept_post(client, clinician, patient) -> None:
    item = raise_item(patient)
    client.force_login(clinician)
    assert client.get(action_url(item, "start")).status_code == 405
    assert client.get(reverse("worklists:bulk")).status_code == 405


# ---------------------------------------------------------------------------
# Tabs, filters, order, counts, pages
# ---------------------------------------------------------------------------
def test_items_come_most_urgent_first_then_oldest_first(client, clinician, patient, now) -> None:
    raise_item(patient, title="normal, oldest", priority=Priority.NORMAL)
    now.shift(dt.timedelta(days=1))
    raise_item(patient, title="urgent", priority=Priority.URGENT)
    raise_item(patient, title="normal, newest", priority=Priority.NORMAL)
    raise_item(patient, title="low", priority=Priority.LOW)
    raise_item(patient, title="high", priority=Priority.HIGH)
    client.force_login(clinician)
    assert titles(client.get(list_url())) == [
        "urgent",
        "high",
        "normal, oldest",
        "normal, newest",
        "low",
    ]


def test_a_row_shows_priority_in_words_patient_age_due_and_assignee(
    client, clinician, team, now
) -> None:
    patient = PatientFactory(
        teams=[team], given_name="Arthur", family_name="Dent", nhs_number="9434765919"
    )
    item = raise_item(
        patient,
        title="PSA rising",
        explanation="PSA 0.3 ug/L on 2 Nov is above 0.2 ug/L.\n\nSecond paragraph.",
        priority=Priority.URGENT,
        due_date=dt.date(2026, 11, 18),
    )
    services.work_item_assign(item=item, assignee=clinician, actor=clinician)
    now.shift(dt.timedelta(days=3))
    client.force_login(clinician)
    response = client.get(list_url(view="items"))
    row = response.content.decode().split(f'id="item-{item.public_id}"')[1].split("</tr>")[0]
    assert '<span class="badge text-bg-danger">Urgent</span>' in row
    assert "Threshold breach" in row
    assert "DENT, Arthur" in row and "943 476 5919" in row
    assert reverse("rms:patient_detail", args=[patient.public_id]) in row
    assert "PSA 0.3 ug/L on 2 Nov is above 0.2 ug/L." in row
    assert "Second paragraph" not in row
    assert ">3 days<" in row
    assert "18-Nov-2026 <strong>(overdue)</strong>" in row
    assert "You" in row


def test_mine_shows_only_the_items_assigned_to_me(client, clinician, team_admin, patient) -> None:
    mine = raise_item(patient, title="mine")
    theirs = raise_item(patient, title="theirs")
    raise_item(patient, title="nobody else")
    services.work_item_assign(item=mine, assignee=clinician, actor=clinician)
    services.work_item_assign(item=theirs, assignee=team_admin, actor=team_admin)
    client.force_login(clinician)
    assert titles(client.get(list_url(show="mine"))) == ["mine"]
    assert titles(client.get(list_url(show="team"))) == ["mine", "theirs", "nobody else"]
    # My teams is where the list starts.
    assert titles(client.get(list_url())) == ["mine", "theirs", "nobody else"]


def test_closed_items_are_not_on_the_worklist(client, clinician, patient) -> None:
    done = raise_item(patient, title="done")
    dismissed = raise_item(patient, title="dismissed")
    raise_item(patient, title="open")
    services.work_item_complete(item=done, actor=clinician, outcome="advice_given")
    services.work_item_dismiss(item=dismissed, actor=clinician, reason="Duplicate")
    client.force_login(clinician)
    assert titles(client.get(list_url())) == ["open"]


def test_the_filters_narrow_the_list(client, clinician, team, patient) -> None:
    colorectal = TeamFactory(code="CRC2", name="Colorectal two", tumour_site=TumourSite.COLORECTAL)
    MembershipFactory(user=clinician, team=colorectal, role=Role.CLINICIAN)
    crc_patient = PatientFactory(teams=[colorectal])
    breach = raise_item(patient, title="breach", priority=Priority.HIGH)
    overdue = raise_item(
        patient, title="overdue", kind=Kind.OVERDUE_TEST, due_date=dt.date(2026, 11, 25)
    )
    crc = raise_item(crc_patient, title="crc", due_date=dt.date(2026, 12, 25))
    services.work_item_assign(item=crc, assignee=clinician, actor=clinician)
    client.force_login(clinician)

    def listed(**params: str) -> list[str]:
        return titles(client.get(list_url(**params)))

    assert listed() == ["breach", "overdue", "crc"]
    assert listed(kind=Kind.OVERDUE_TEST) == ["overdue"]
    assert listed(priority=str(Priority.HIGH)) == ["breach"]
    assert listed(team="CRC2") == ["crc"]
    assert listed(tumour_site=TumourSite.PROSTATE) == ["breach", "overdue"]
    # The breach (high, raised on Friday 20 Nov) is due by priority two working days later.
    assert listed(due_before="2026-11-23") == []
    assert listed(due_before="2026-11-24") == ["breach"]
    assert listed(due_before="2026-12-01") == ["breach", "overdue"]
    assert listed(assignee="none") == ["breach", "overdue"]
    assert listed(assignee=str(clinician.pk)) == ["crc"]
    assert listed(kind=Kind.THRESHOLD_BREACH, team="URO") == ["breach"]
    assert breach and overdue


def test_a_filter_naming_another_team_is_ignored_and_said_so(
    client, clinician, patient, other_team
) -> None:
    raise_item(patient, title="ours")
    client.force_login(clinician)
    response = client.get(list_url(team=other_team.code, due_before="not-a-date"))
    assert response.status_code == 200
    assert titles(response) == ["ours"]
    assertContains(response, "Select a valid choice")
    assertContains(response, "Enter a valid date")


def test_the_tabs_count_the_items_of_each_kind(client, clinician, patient) -> None:
    for _ in range(3):
        raise_item(patient)
    overdue = raise_item(patient, kind=Kind.OVERDUE_TEST)
    raise_item(patient, kind=Kind.OVERDUE_TEST)
    services.work_item_assign(item=overdue, assignee=clinician, actor=clinician)
    client.force_login(clinician)

    def badges(response) -> dict[str, str]:
        html = response.content.decode()
        found = re.findall(r">([^<>]+?) <span class=\"badge [^\"]*\"[^>]*>(\d+)</span>", html)
        return {label.strip(): count for label, count in found}

    team_counts = badges(client.get(list_url()))
    assert team_counts["My teams"] == "5"
    assert team_counts["Mine"] == "1"
    assert team_counts["All kinds"] == "5"
    assert team_counts["Threshold breach"] == "3"
    assert team_counts["Overdue test"] == "2"
    assert team_counts["Questionnaire alert"] == "0"
    mine_counts = badges(client.get(list_url(show="mine")))
    assert mine_counts["All kinds"] == "1"
    assert mine_counts["Overdue test"] == "1"
    assert mine_counts["Threshold breach"] == "0"


def test_the_list_has_pages_of_fifty(client, clinician, patient) -> None:
    for n in range(52):
        raise_item(patient, title=f"item {n:02d}")
    client.force_login(clinician)
    first = client.get(list_url(view="items"))
    assert len(titles(first)) == 50
    assertContains(first, "Page 1 of 2")
    assert titles(client.get(list_url(view="items", page="2"))) == ["item 50", "item 51"]


def _many_items(count: int, team, clinician) -> None:
    for n in range(count):
        patient = PatientFactory(teams=[team])
        item = raise_item(patient, title=f"item {n}", kind=list(Kind)[n % len(Kind)])
        if n % 2:
            services.work_item_assign(item=item, assignee=clinician, actor=clinician)


def test_the_worklist_takes_the_same_queries_for_one_item_or_forty(
    client, clinician, team_admin, team, django_assert_max_num_queries
) -> None:
    _many_items(1, team, clinician)
    client.force_login(clinician)
    with django_assert_max_num_queries(50) as few:
        client.get(list_url())
    _many_items(39, team, clinician)
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get(list_url())
    assert len(titles(response)) == 40


# ---------------------------------------------------------------------------
# One item at a time
# ---------------------------------------------------------------------------
def test_assign_to_me_records_who_and_returns_the_row(client, clinician, patient) -> None:
    item = raise_item(patient)
    client.force_login(clinician)
    response = client.post(action_url(item, "assign"), {"assignee": clinician.pk}, headers=HTMX)
    assert response.status_code == 200
    assert response.content.decode().lstrip().startswith(f'<tr id="item-{item.public_id}"')
    assertContains(response, "Assigned to you.")
    item.refresh_from_db()
    assert item.assignee == clinician
    [event] = events(item, "assigned")
    assert event.actor == clinician and event.assignee == clinician


def test_assign_to_a_colleague(client, clinician, team_admin, patient) -> None:
    item = raise_item(patient)
    client.force_login(clinician)
    response = client.post(action_url(item, "assign"), {"assignee": team_admin.pk}, headers=HTMX)
    assertContains(response, "Assigned.")
    item.refresh_from_db()
    assert item.assignee == team_admin
    [event] = events(item, "assigned")
    assert event.actor == clinician and event.assignee == team_admin


def test_the_colleague_list_holds_the_teams_clinicians_and_admins_only(
    client, clinician, team_admin, viewer, other_team_clinician, patient
) -> None:
    item = raise_item(patient)
    client.force_login(clinician)
    response = client.get(list_url(view="items"))
    select = response.content.decode().split(f'id="assign-{item.public_id}"')[1].split("</select>")
    options = re.findall(r'<option value="(\d*)"', select[0])
    assert set(options) == {"", str(clinician.pk), str(team_admin.pk)}


@pytest.mark.parametrize("who", ["viewer", "other_team_clinician"])
def test_an_item_cannot_be_given_to_someone_who_cannot_act_on_it(
    client, clinician, patient, who, request
) -> None:
    person = request.getfixturevalue(who)
    item = raise_item(patient)
    client.force_login(clinician)
    response = client.post(action_url(item, "assign"), {"assignee": person.pk}, headers=HTMX)
    assert response.status_code == 200
    assertContains(response, "Choose a clinician or team admin of the item&#x27;s team.")
    assertContains(response, '<details class="worklist-action" open>')
    item.refresh_from_db()
    assert item.assignee is None
    assert not events(item, "assigned")


def test_unassigning_gives_the_item_to_nobody(client, clinician, patient) -> None:
    item = raise_item(patient)
    services.work_item_assign(item=item, assignee=clinician, actor=clinician)
    client.force_login(clinician)
    response = client.post(action_url(item, "assign"), {"assignee": ""}, headers=HTMX)
    assertContains(response, "Unassigned.")
    item.refresh_from_db()
    assert item.assignee is None
    assert events(item, "unassigned")[0].actor == clinician


def test_start_puts_the_item_in_progress_and_makes_it_mine(client, clinician, patient) -> None:
    item = raise_item(patient)
    client.force_login(clinician)
    response = client.post(action_url(item, "start"), headers=HTMX)
    assertContains(response, "In progress")
    item.refresh_from_db()
    assert item.status == Status.IN_PROGRESS and item.assignee == clinician
    assert events(item, "started")[0].actor == clinician


def test_complete_records_the_outcome_code_the_note_and_who(client, clinician, patient) -> None:
    item = raise_item(patient)
    client.force_login(clinician)
    response = client.post(
        action_url(item, "complete"),
        {"outcome": "repeat_test_requested", "note": "PSA in 6 weeks"},
        headers=HTMX,
    )
    assert response.status_code == 200
    assertContains(response, "Repeat test requested — PSA in 6 weeks")
    assertNotContains(response, action_url(item, "complete"))
    item.refresh_from_db()
    assert item.status == Status.DONE
    assert item.outcome == "repeat_test_requested"
    assert item.outcome_note == "PSA in 6 weeks"
    assert item.closed_by == clinician
    [event] = events(item, "completed")
    assert event.actor == clinician
    assert event.note == "repeat_test_requested: PSA in 6 weeks"


@pytest.mark.parametrize(
    ("outcome", "message"),
    [
        ("", "Choose what was done (the outcome)."),
        ("seen_by_a_friend", "Choose an outcome from the list; that one is not offered."),
        ("retired", "Choose an outcome from the list; that one is not offered."),
    ],
)
def test_complete_takes_only_an_active_outcome_from_the_list(
    client, clinician, patient, outcome, message
) -> None:
    Outcome.objects.create(code="retired", label="Retired", active=False)
    item = raise_item(patient)
    client.force_login(clinician)
    response = client.post(
        action_url(item, "complete"), {"outcome": outcome, "note": "kept"}, headers=HTMX
    )
    assert response.status_code == 200
    assertContains(response, message)
    # The form is opened again with what was typed.
    assertContains(response, '<details class="worklist-action" open>')
    assertContains(response, ">kept</textarea>")
    item.refresh_from_db()
    assert item.status == Status.OPEN
    assert not events(item, "completed")


def test_the_outcome_list_is_the_configured_one_in_its_order(client, clinician, patient) -> None:
    Outcome.objects.filter(code="advice_given").update(active=False)
    Outcome.objects.create(code="mdt", label="Discussed at MDT", order=1)
    item = raise_item(patient)
    client.force_login(clinician)
    response = client.get(list_url(view="items"))
    select = response.content.decode().split(f'id="outcome-{item.public_id}"')[1].split("</select>")
    labels = re.findall(r'<option value="[^"]+">([^<]+)</option>', select[0])
    assert labels == [
        "Discussed at MDT",
        "Contacted patient",
        "Repeat test requested",
        "Referred back to clinic",
        "Referred to GP",
        "No action needed",
    ]


def test_dismiss_needs_a_reason_and_records_it(client, clinician, patient) -> None:
    item = raise_item(patient)
    client.force_login(clinician)
    refused = client.post(action_url(item, "dismiss"), {"reason": "  "}, headers=HTMX)
    assertContains(refused, "Say why the item needs no action.")
    item.refresh_from_db()
    assert item.status == Status.OPEN
    response = client.post(action_url(item, "dismiss"), {"reason": "Duplicate"}, headers=HTMX)
    assertContains(response, "Dismissed — Duplicate")
    item.refresh_from_db()
    assert item.status == Status.DISMISSED and item.outcome_note == "Duplicate"
    assert events(item, "dismissed")[0].actor == clinician


def test_a_refusal_of_the_service_is_shown_in_the_row_not_as_an_error(
    client, clinician, patient
) -> None:
    item = raise_item(patient)
    services.work_item_dismiss(item=item, actor=clinician, reason="Duplicate")
    client.force_login(clinician)
    response = client.post(action_url(item, "complete"), {"outcome": "advice_given"}, headers=HTMX)
    assert response.status_code == 200
    assertContains(response, "This work item is already dismissed")
    assertContains(response, 'class="alert alert-danger')
    item.refresh_from_db()
    assert item.status == Status.DISMISSED


def test_without_javascript_an_action_redirects_back_to_the_list(
    client, clinician, patient
) -> None:
    item = raise_item(patient, title="PSA rising")
    client.force_login(clinician)
    back = list_url(kind=Kind.THRESHOLD_BREACH, show="mine")
    response = client.post(
        action_url(item, "complete"), {"outcome": "contacted_patient", "next": back}
    )
    assertRedirects(response, back, fetch_redirect_response=False)
    assert [str(m) for m in get_messages(response.wsgi_request)] == ["PSA rising: Completed."]
    item.refresh_from_db()
    assert item.status == Status.DONE


def test_without_javascript_a_refusal_is_a_message_after_the_redirect(
    client, clinician, patient
) -> None:
    item = raise_item(patient, title="PSA rising")
    client.force_login(clinician)
    response = client.post(action_url(item, "dismiss"), {"reason": ""})
    assertRedirects(response, list_url(), fetch_redirect_response=False)
    assert [str(m) for m in get_messages(response.wsgi_request)] == [
        "PSA rising: Say why the item needs no action."
    ]


def test_an_action_never_redirects_to_another_site(client, clinician, patient) -> None:
    item = raise_item(patient)
    client.force_login(clinician)
    response = client.post(action_url(item, "start"), {"next": "https://evil.example/"})
    assertRedirects(response, list_url(), fetch_redirect_response=False)


def test_an_administrator_takes_and_clears_an_item_that_has_no_team(client, patient) -> None:
    root = UserFactory(username="root", is_superuser=True, is_staff=True)
    item = raise_item(None, kind=Kind.UNMATCHED_MESSAGE, title="Held message")
    raise_item(patient, title="A team's item")
    client.force_login(root)
    assert titles(client.get(list_url())) == ["Held message"]
    response = client.post(action_url(item, "assign"), {"assignee": root.pk}, headers=HTMX)
    assertContains(response, "Assigned to you.")
    response = client.post(
        action_url(item, "complete"), {"outcome": "no_action_needed"}, headers=HTMX
    )
    assertContains(response, "Done:</strong> No action needed")
    item.refresh_from_db()
    assert (item.assignee, item.closed_by) == (root, root)


# ---------------------------------------------------------------------------
# In bulk
# ---------------------------------------------------------------------------
def bulk(client, items, action: str, htmx: bool = True, **data: str):
    payload = {"items": [str(i.public_id) for i in items], "action": action, **data}
    return client.post(reverse("worklists:bulk"), payload, headers=HTMX if htmx else {})


def test_bulk_assign_to_me_assigns_each_item_with_its_own_event(client, clinician, patient) -> None:
    first, second, untouched = (raise_item(patient) for _ in range(3))
    client.force_login(clinician)
    response = bulk(client, [first, second], "assign_me")
    assertContains(response, "2 items assigned to you.")
    # Each changed row comes back to be swapped in by its id.
    for item in (first, second):
        assertContains(response, f'<tr id="item-{item.public_id}"')
    assertContains(response, 'hx-swap-oob="outerHTML"', count=2)
    for item in (first, second):
        item.refresh_from_db()
        assert item.assignee == clinician
        [event] = events(item, "assigned")
        assert event.actor == clinician
    untouched.refresh_from_db()
    assert untouched.assignee is None


def test_bulk_complete_needs_an_outcome_from_the_list(client, clinician, patient) -> None:
    items = [raise_item(patient) for _ in range(2)]
    client.force_login(clinician)
    refused = bulk(client, items, "complete", outcome="")
    assertContains(refused, "Choose what was done (the outcome).")
    refused = bulk(client, items, "complete", outcome="made_up")
    assertContains(refused, "Choose an outcome from the list")
    assert not WorkItemEvent.objects.filter(action="completed").exists()
    response = bulk(client, items, "complete", outcome="no_action_needed", note="Reviewed")
    assertContains(response, "2 items completed.")
    for item in items:
        item.refresh_from_db()
        assert (item.status, item.outcome, item.outcome_note) == (
            Status.DONE,
            "no_action_needed",
            "Reviewed",
        )
        assert events(item, "completed")[0].actor == clinician


def test_bulk_dismiss_needs_a_reason(client, clinician, patient) -> None:
    items = [raise_item(patient) for _ in range(2)]
    client.force_login(clinician)
    assertContains(bulk(client, items, "dismiss", reason=" "), "Say why the items need no action.")
    response = bulk(client, items, "dismiss", reason="Raised twice")
    assertContains(response, "2 items dismissed.")
    for item in items:
        item.refresh_from_db()
        assert item.status == Status.DISMISSED
        assert events(item, "dismissed")[0].actor == clinician


def test_bulk_reports_each_refused_item_and_does_the_others(
    client, clinician, patient, other_patient
) -> None:
    fine = raise_item(patient, title="Fine one")
    closed = raise_item(patient, title="Closed one")
    services.work_item_dismiss(item=closed, actor=clinician, reason="Duplicate")
    theirs = raise_item(other_patient, title="Their one")
    client.force_login(clinician)
    response = bulk(client, [fine, closed, theirs], "complete", outcome="advice_given")
    assertContains(response, "1 item completed.")
    assertContains(response, "Closed one: This work item is already dismissed")
    assertContains(response, "1 ticked item could not be found in your teams.")
    assertNotContains(response, "Their one")
    fine.refresh_from_db()
    theirs.refresh_from_db()
    assert fine.status == Status.DONE and theirs.status == Status.OPEN


def test_bulk_without_javascript_redirects_back_with_messages(client, clinician, patient) -> None:
    items = [raise_item(patient) for _ in range(2)]
    client.force_login(clinician)
    back = list_url(show="team")
    response = bulk(client, items, "assign_me", htmx=False, next=back)
    assertRedirects(response, back, fetch_redirect_response=False)
    assert [str(m) for m in get_messages(response.wsgi_request)] == ["2 items assigned to you."]


def test_bulk_with_nothing_ticked_says_so(client, clinician) -> None:
    client.force_login(clinician)
    response = bulk(client, [], "assign_me")
    assertContains(response, "Tick at least one item.")


# ---------------------------------------------------------------------------
# The caseload
# ---------------------------------------------------------------------------
def start_plan(patient, clinician, anchor: dt.date = dt.date(2026, 1, 10)) -> FollowUpPlan:
    pathway = Pathway.objects.get(code="prostate-post-prostatectomy")
    return plan_services.plan_start(
        patient=patient, pathway=pathway, anchor_date=anchor, actor=clinician
    )


def set_next_due(plan: FollowUpPlan, day: dt.date | None) -> None:
    PlanTest.objects.filter(plan=plan).update(next_due_date=day)


def caseload_names(response) -> list[str]:
    return re.findall(
        r'<tr class="caseload-row">\s*<th scope="row"><a href="[^"]+">([^<]+)</a>',
        response.content.decode(),
    )


def test_the_caseload_shows_plan_last_result_next_due_items_and_pkb(
    client, clinician, team
) -> None:
    patient = PatientFactory(
        teams=[team], given_name="Arthur", family_name="Dent", nhs_number="9434765919"
    )
    plan = start_plan(patient, clinician)
    set_next_due(plan, dt.date(2026, 12, 3))
    older = ResultFactory(patient=patient, observed_at=NOW - dt.timedelta(days=90))
    ObservationFactory(result=older, value_text="0.02", value_numeric=Decimal("0.02"))
    newer = ResultFactory(patient=patient, observed_at=NOW - dt.timedelta(days=10))
    ObservationFactory(result=newer, value_text="0.04", value_numeric=Decimal("0.04"))
    # A test the plan does not follow is not its last result.
    other = ResultFactory(patient=patient, observed_at=NOW - dt.timedelta(days=1))
    ObservationFactory(result=other, code="HB", name="Haemoglobin", value_text="130")
    raise_item(patient)
    raise_item(patient)
    Enrolment.objects.create(patient=patient, team=team, opted_in_by=clinician)
    client.force_login(clinician)
    response = client.get(reverse("worklists:caseload"))
    row = response.content.decode().split('<tr class="caseload-row">')[1].split("</tr>")[0]
    assert "DENT, Arthur" in row and "943 476 5919" in row
    assert "Prostate cancer after radical prostatectomy from 10-Jan-2026" in row
    assert "PSA 0.04 ug/L" in row and "10-Nov-2026" in row
    assert "03-Dec-2026" in row
    assert "<td>2</td>" in row
    assert "<td>Shared</td>" in row


def test_the_caseload_lists_only_my_teams_patients_with_an_open_plan(
    client, clinician, other_team_clinician, team, other_team
) -> None:
    followed = PatientFactory(teams=[team], family_name="Followed")
    paused = PatientFactory(teams=[team], family_name="Paused")
    ended = PatientFactory(teams=[team], family_name="Ended")
    PatientFactory(teams=[team], family_name="Planless")
    theirs = PatientFactory(teams=[other_team], family_name="Theirs")
    start_plan(followed, clinician)
    plan_services.plan_pause(plan=start_plan(paused, clinician), actor=clinician, reason="Unwell")
    plan_services.plan_end(plan=start_plan(ended, clinician), actor=clinician, reason="Done")
    start_plan(theirs, other_team_clinician)
    client.force_login(clinician)
    response = client.get(reverse("worklists:caseload"))
    assert caseload_names(response) == [
        f"FOLLOWED, {followed.given_name} (Mr)",
        f"PAUSED, {paused.given_name} (Mr)",
    ]
    assertContains(response, "(paused)")
    assertContains(response, "<td>Not shared</td>", count=2)


def test_the_caseload_sorts_by_name_next_due_and_open_items(client, clinician, team) -> None:
    a = PatientFactory(teams=[team], family_name="Adams", given_name="Ann")
    b = PatientFactory(teams=[team], family_name="Brown", given_name="Bob")
    c = PatientFactory(teams=[team], family_name="Clark", given_name="Cy")
    set_next_due(start_plan(a, clinician), dt.date(2027, 3, 1))
    set_next_due(start_plan(b, clinician), None)
    set_next_due(start_plan(c, clinician), dt.date(2026, 12, 1))
    for _ in range(2):
        raise_item(b)
    raise_item(a)
    client.force_login(clinician)

    def order(sort: str) -> list[str]:
        response = client.get(reverse("worklists:caseload") + f"?sort={sort}")
        return [name.split(",")[0] for name in caseload_names(response)]

    assert order("name") == ["ADAMS", "BROWN", "CLARK"]
    assert order("-name") == ["CLARK", "BROWN", "ADAMS"]
    assert order("due") == ["CLARK", "ADAMS", "BROWN"]  # nothing due last
    assert order("-due") == ["ADAMS", "CLARK", "BROWN"]
    assert order("items") == ["CLARK", "ADAMS", "BROWN"]
    assert order("-items") == ["BROWN", "ADAMS", "CLARK"]
    assert order("nonsense") == ["ADAMS", "BROWN", "CLARK"]


def test_the_caseload_searches_by_name_nhs_number_and_mrn(client, clinician, team) -> None:
    dent = PatientFactory(teams=[team], family_name="Dent", nhs_number="9434765919", mrn="RXX0042")
    prefect = PatientFactory(teams=[team], family_name="Prefect")
    for patient in (dent, prefect):
        start_plan(patient, clinician)
    client.force_login(clinician)
    for query in ("dent", "943 476 5919", "RXX0042"):
        response = client.get(reverse("worklists:caseload"), {"q": query})
        assert [n.split(",")[0] for n in caseload_names(response)] == ["DENT"]


def test_the_caseload_takes_the_same_queries_for_one_patient_or_forty(
    client, clinician, team, django_assert_max_num_queries
) -> None:
    def add(count: int) -> None:
        for _ in range(count):
            patient = PatientFactory(teams=[team])
            start_plan(patient, clinician)
            result = ResultFactory(patient=patient)
            ObservationFactory(result=result)
            raise_item(patient)

    add(1)
    client.force_login(clinician)
    with django_assert_max_num_queries(50) as few:
        client.get(reverse("worklists:caseload"))
    add(39)
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get(reverse("worklists:caseload"))
    assert len(caseload_names(response)) == 40


# ---------------------------------------------------------------------------
# Alert yield
# ---------------------------------------------------------------------------
def test_the_alert_yield_is_for_team_admins(client, clinician, viewer, team_admin) -> None:
    for user in (clinician, viewer):
        client.force_login(user)
        assert client.get(reverse("worklists:yield")).status_code == 403
    client.force_login(team_admin)
    assert client.get(reverse("worklists:yield")).status_code == 200


def test_the_nav_links_to_the_alert_yield_for_team_admins_only(
    client, clinician, team_admin
) -> None:
    client.force_login(clinician)
    page = client.get(list_url())
    assertContains(page, reverse("worklists:caseload"))
    assertNotContains(page, reverse("worklists:yield"))
    client.force_login(team_admin)
    assertContains(client.get(list_url()), reverse("worklists:yield"), count=1)


def yield_rows(response, table: str) -> list[list[str]]:
    body = response.content.decode().split(f'class="table table-sm align-middle {table}"')[1]
    body = body.split("</tbody>")[0].split("<tbody>")[1]
    return [
        [
            re.sub(r"<[^>]+>", "", cell).strip()
            for cell in re.findall(r"<t[hd][^>]*>.*?</t[hd]>", row)
        ]
        for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)
    ]


def test_the_alert_yield_counts_items_raised_and_those_that_led_to_an_action(
    client, clinician, team_admin, patient, other_patient, now
) -> None:
    def breach(rule: str, target=patient):  # type: ignore[no-untyped-def]
        return raise_item(target, details={"rule": rule})

    # Before the period: not counted.
    now.move_to(NOW - dt.timedelta(days=120))
    services.work_item_complete(item=breach("PSA rise"), actor=clinician, outcome="advice_given")
    now.move_to(NOW - dt.timedelta(days=10))
    psa = [breach("PSA rise") for _ in range(4)]
    services.work_item_complete(item=psa[0], actor=clinician, outcome="contacted_patient")
    services.work_item_complete(item=psa[1], actor=clinician, outcome="repeat_test_requested")
    services.work_item_complete(item=psa[2], actor=clinician, outcome="no_action_needed")
    # psa[3] is still open.
    cea = breach("CEA above limit")
    services.work_item_dismiss(item=cea, actor=clinician, reason="Lab error")
    overdue = raise_item(patient, kind=Kind.OVERDUE_TEST)
    services.work_item_complete(item=overdue, actor=clinician, outcome="referred_to_gp")
    # Another team's items are not this admin's.
    breach("PSA rise", target=other_patient)
    now.move_to(NOW)

    client.force_login(team_admin)
    response = client.get(reverse("worklists:yield"))
    assert yield_rows(response, "yield-rules") == [
        ["CEA above limit", "Urology CNS team", "1", "0", "0", "1", "0%"],
        ["PSA rise", "Urology CNS team", "4", "1", "2", "1", "50%"],
    ]
    assert yield_rows(response, "yield-kinds") == [
        ["Overdue test", "Urology CNS team", "1", "0", "1", "0", "100%"],
    ]
    assertContains(response, '"raised": [1, 4]')
    assertContains(response, '"actioned": [0, 2]')
    assertContains(response, "vendor/chartjs-4.6.1/chart.umd.min.js")
    assertContains(response, "js/yield-chart.js")

    # A period that reaches back to the oldest item counts it too.
    wider = client.get(reverse("worklists:yield"), {"from": "2026-07-01", "to": "2026-11-20"})
    assert yield_rows(wider, "yield-rules")[1] == [
        "PSA rise",
        "Urology CNS team",
        "5",
        "1",
        "3",
        "1",
        "60%",
    ]


def test_an_outcome_that_stops_counting_as_an_action_changes_the_yield(
    client, team_admin, clinician, patient
) -> None:
    item = raise_item(patient, details={"rule": "PSA rise"})
    services.work_item_complete(item=item, actor=clinician, outcome="advice_given")
    Outcome.objects.filter(code="advice_given").update(counts_as_action=False)
    client.force_login(team_admin)
    response = client.get(reverse("worklists:yield"))
    assert yield_rows(response, "yield-rules")[0][4:] == ["0", "1", "0%"]


def test_an_invalid_period_falls_back_to_the_last_90_days(client, team_admin, patient) -> None:
    raise_item(patient, details={"rule": "PSA rise"})
    client.force_login(team_admin)
    response = client.get(reverse("worklists:yield"), {"from": "2026-12-01", "to": "2026-11-01"})
    assert response.status_code == 200
    assertContains(response, "The start of the period is after its end.")
    assertContains(response, "22-Aug-2026 to 20-Nov-2026")
    assert yield_rows(response, "yield-rules")[0][2] == "1"


def test_the_alert_yield_takes_the_same_queries_for_few_rules_or_many(
    client, team_admin, clinician, patient, django_assert_max_num_queries
) -> None:
    raise_item(patient, details={"rule": "rule 0"})
    client.force_login(team_admin)
    with django_assert_max_num_queries(50) as few:
        client.get(reverse("worklists:yield"))
    for n in range(1, 30):
        item = raise_item(patient, details={"rule": f"rule {n}"}, kind=list(Kind)[n % len(Kind)])
        services.work_item_complete(item=item, actor=clinician, outcome="advice_given")
    with django_assert_max_num_queries(len(few.captured_queries)):
        client.get(reverse("worklists:yield"))
