"""Django admin of the worklists: who sees which items, read-only pages, and the actions."""

from __future__ import annotations

import pytest
from django.contrib.admin import helpers
from django.contrib.auth.models import Permission
from django.urls import reverse
from pytest_django.asserts import assertContains, assertNotContains

from rms.models import AccessEvent, Role
from tests.factories import MembershipFactory, UserFactory
from tests.worklists.helpers import raise_item
from worklists import services
from worklists.models import WorkItem, WorkItemEvent

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:worklists_workitem_changelist")
Kind = WorkItem.Kind
Status = WorkItem.Status


def change_url(item: WorkItem) -> str:
    return reverse("admin:worklists_workitem_change", args=[item.pk])


def _staff(username: str, team, role: str):
    """A staff user (not a superuser) with the model permissions an administrator grants."""
    user = UserFactory(username=username, is_staff=True)
    MembershipFactory(user=user, team=team, role=role)
    user.user_permissions.set(
        Permission.objects.filter(
            content_type__app_label="worklists",
            codename__in=["view_workitem", "change_workitem"],
        )
    )
    return user


@pytest.fixture
def staff(team):
    return _staff("staff", team, Role.TEAM_ADMIN)


@pytest.fixture
def staff_viewer(team):
    return _staff("staffviewer", team, Role.VIEWER)


@pytest.fixture
def items(patient, other_patient) -> dict[str, WorkItem]:
    return {
        "ours": raise_item(patient, title="Our PSA breach"),
        "theirs": raise_item(other_patient, title="Their CEA breach"),
        "unmatched": raise_item(None, kind=Kind.UNMATCHED_MESSAGE, title="Held ORU message"),
    }


def run_action(client, action: str, objects) -> object:
    return client.post(
        CHANGELIST,
        {
            "action": action,
            helpers.ACTION_CHECKBOX_NAME: [str(obj.pk) for obj in objects],
            "select_across": "0",
            "index": "0",
        },
        follow=True,
    )


def test_a_superuser_sees_every_item_including_those_with_no_team(admin_client, items) -> None:
    response = admin_client.get(CHANGELIST)
    for item in items.values():
        assertContains(response, change_url(item))


def test_staff_see_only_their_teams_items(client, staff, items) -> None:
    client.force_login(staff)
    response = client.get(CHANGELIST)
    assertContains(response, change_url(items["ours"]))
    assertNotContains(response, change_url(items["theirs"]))
    assertNotContains(response, change_url(items["unmatched"]))
    assert client.get(change_url(items["theirs"])).status_code == 302  # "does not exist"
    assert client.get(change_url(items["unmatched"])).status_code == 302


def test_the_team_filter_names_only_the_staff_members_teams(client, staff, items) -> None:
    client.force_login(staff)
    response = client.get(CHANGELIST)
    assertContains(response, "Urology CNS team")
    assertNotContains(response, "Colorectal CNS team")


def test_the_list_searches_titles_and_filters_by_kind(admin_client, items) -> None:
    response = admin_client.get(CHANGELIST, {"q": "CEA"})
    assertContains(response, change_url(items["theirs"]))
    assertNotContains(response, change_url(items["ours"]))
    response = admin_client.get(CHANGELIST, {"kind__exact": "unmatched_message"})
    assertContains(response, change_url(items["unmatched"]))
    assertNotContains(response, change_url(items["ours"]))


def test_an_item_is_read_only_with_its_events_and_opening_it_is_logged(
    client, staff, clinician, items, patient
) -> None:
    services.work_item_start(item=items["ours"], actor=clinician)
    client.force_login(staff)
    response = client.get(change_url(items["ours"]))
    assert response.status_code == 200
    assert list(response.context["adminform"].form.fields) == []
    assertContains(response, "started")
    assertContains(response, str(patient.public_id))
    assertNotContains(response, patient.nhs_number)
    event = AccessEvent.objects.get(channel="admin")
    assert (event.user, event.patient, event.action) == (staff, patient, "work item")


def test_nobody_adds_or_deletes_items_here(admin_client, items) -> None:
    assert admin_client.get(reverse("admin:worklists_workitem_add")).status_code == 403
    delete = reverse("admin:worklists_workitem_delete", args=[items["ours"].pk])
    assert admin_client.get(delete).status_code == 403


def test_assign_to_me_gives_the_item_to_the_administrator(client, staff, items) -> None:
    client.force_login(staff)
    response = run_action(client, "assign_to_me", [items["ours"]])
    assertContains(response, "1 item assigned to me")
    items["ours"].refresh_from_db()
    assert items["ours"].assignee == staff
    event = WorkItemEvent.objects.filter(work_item=items["ours"]).last()
    assert (event.action, event.actor, event.assignee) == ("assigned", staff, staff)


def test_complete_closes_the_item_as_needing_no_action(client, staff, items) -> None:
    client.force_login(staff)
    run_action(client, "complete_no_action_needed", [items["ours"]])
    items["ours"].refresh_from_db()
    assert (items["ours"].status, items["ours"].outcome, items["ours"].closed_by) == (
        Status.DONE,
        "no_action_needed",
        staff,
    )


def test_the_actions_cannot_reach_another_teams_item(client, staff, items) -> None:
    client.force_login(staff)
    run_action(client, "complete_no_action_needed", [items["theirs"], items["unmatched"]])
    assert set(WorkItem.objects.values_list("status", flat=True)) == {Status.OPEN}


def test_a_viewer_on_staff_is_refused_by_the_service(client, staff_viewer, items) -> None:
    client.force_login(staff_viewer)
    response = run_action(client, "complete_no_action_needed", [items["ours"]])
    assertContains(response, "only a clinician or team admin")
    items["ours"].refresh_from_db()
    assert items["ours"].status == Status.OPEN


def test_a_superuser_completes_an_item_with_no_team(admin_client, items) -> None:
    run_action(admin_client, "complete_no_action_needed", [items["unmatched"]])
    items["unmatched"].refresh_from_db()
    assert items["unmatched"].status == Status.DONE
