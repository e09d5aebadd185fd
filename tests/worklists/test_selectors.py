"""Who sees which work items, the filters, and a constant number of queries."""

from __future__ import annotations

import uuid

import pytest
from django.contrib.auth.models import AnonymousUser

from tests.factories import PatientFactory, UserFactory
from tests.worklists.helpers import raise_item
from worklists import selectors, services
from worklists.models import WorkItem

pytestmark = pytest.mark.django_db

Kind = WorkItem.Kind
Priority = WorkItem.Priority
Status = WorkItem.Status


@pytest.fixture
def superuser(db):
    return UserFactory(username="root", is_superuser=True, is_staff=True)


def test_a_member_sees_their_teams_items_only(patient, other_patient, clinician, viewer) -> None:
    ours = raise_item(patient)
    raise_item(other_patient)
    raise_item(None, kind=Kind.UNMATCHED_MESSAGE)
    for user in (clinician, viewer):
        assert list(selectors.work_item_list(user=user)) == [ours]


def test_items_with_no_team_are_for_superusers_only(patient, superuser) -> None:
    raise_item(patient)  # the superuser is no member of the patient's team
    unmatched = raise_item(None, kind=Kind.UNMATCHED_MESSAGE)
    assert list(selectors.work_item_list(user=superuser)) == [unmatched]
    superuser.is_active = False
    assert list(selectors.work_item_list(user=superuser)) == []


def test_an_anonymous_user_sees_nothing(patient) -> None:
    raise_item(patient)
    assert list(selectors.work_item_list(user=AnonymousUser())) == []


def test_items_come_most_urgent_first_then_oldest_first(patient, clinician) -> None:
    normal_old = raise_item(patient, priority=Priority.NORMAL)
    urgent = raise_item(patient, priority=Priority.URGENT)
    normal_new = raise_item(patient, priority=Priority.NORMAL)
    high = raise_item(patient, priority=Priority.HIGH)
    assert list(selectors.work_item_list(user=clinician)) == [
        urgent,
        high,
        normal_old,
        normal_new,
    ]


def test_the_filters_narrow_the_list(patient, clinician, team_admin) -> None:
    breach = raise_item(patient, priority=Priority.HIGH)
    overdue = raise_item(patient, kind=Kind.OVERDUE_TEST)
    done = raise_item(patient)
    services.work_item_complete(item=done, actor=clinician, outcome="Seen")
    services.work_item_start(item=overdue, actor=team_admin)

    def listed(**filters) -> list[WorkItem]:
        return list(selectors.work_item_list(user=clinician, **filters))

    assert listed(kind=Kind.OVERDUE_TEST) == [overdue]
    assert listed(status=selectors.ACTIVE) == [breach, overdue]
    assert listed(status=Status.DONE) == [done]
    assert listed(status=Status.IN_PROGRESS) == [overdue]
    assert listed(priority=Priority.HIGH) == [breach]
    assert listed(assignee=team_admin) == [overdue]
    assert listed(mine=True) == []
    assert list(selectors.work_item_list(user=team_admin, mine=True)) == [overdue]
    assert listed(team_code="uro") == [breach, overdue, done]
    assert listed(team_code="CRC") == []


def test_the_list_costs_the_same_queries_for_one_item_or_many(
    patient, team, clinician, django_assert_num_queries
) -> None:
    def read() -> None:
        for item in selectors.work_item_list(user=clinician):
            _ = (item.patient and item.patient.public_id, item.team and item.team.code)
            _ = item.assignee and item.assignee.username

    services.work_item_start(item=raise_item(patient), actor=clinician)
    with django_assert_num_queries(1):
        read()
    for _ in range(5):
        services.work_item_start(item=raise_item(PatientFactory(teams=[team])), actor=clinician)
    with django_assert_num_queries(1):
        read()


def test_getting_one_item_outside_the_scope_does_not_exist(
    patient, other_patient, clinician
) -> None:
    ours = raise_item(patient)
    theirs = raise_item(other_patient)
    got = selectors.work_item_get(user=clinician, public_id=str(ours.public_id))
    assert got == ours
    for public_id in (theirs.public_id, uuid.uuid4(), "not-a-uuid"):
        with pytest.raises(WorkItem.DoesNotExist):
            selectors.work_item_get(user=clinician, public_id=public_id)


def test_one_item_comes_with_its_events_in_two_queries(
    patient, clinician, django_assert_num_queries
) -> None:
    item = raise_item(patient)
    services.work_item_start(item=item, actor=clinician)
    services.work_item_complete(item=item, actor=clinician, outcome="Seen")
    with django_assert_num_queries(2):
        got = selectors.work_item_get(user=clinician, public_id=item.public_id)
        history = [(e.action, e.actor.username) for e in got.events.all()]
    assert history == [
        ("created", "rms-system"),
        ("started", "clinician"),
        ("completed", "clinician"),
    ]
