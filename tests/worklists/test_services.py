"""Work item services: each transition and its event, repeats, and who may act."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from rms.services import system_user
from tests.factories import PatientFactory, TeamFactory, UserFactory
from tests.worklists.helpers import ExampleKey
from worklists import services
from worklists.models import WorkItem, WorkItemEvent

pytestmark = pytest.mark.django_db

Status = WorkItem.Status
Kind = WorkItem.Kind
Priority = WorkItem.Priority


def raise_item(patient=None, *, key: str = "rule:1:result:1", **overrides):
    values = {
        "kind": Kind.THRESHOLD_BREACH,
        "key": ExampleKey(key),
        "title": "PSA above 0.2 ug/L",
        "explanation": "PSA 0.24 ug/L on 10 Nov 2026 is above the limit of 0.2 ug/L.",
        "source": "rule:1",
        "actor": system_user(),
        "patient": patient,
        **overrides,
    }
    return services.work_item_raise(**values)


@pytest.fixture
def item(patient) -> WorkItem:
    return raise_item(patient)[0]


def events(item: WorkItem) -> list[tuple[str, str, str]]:
    return list(
        WorkItemEvent.objects.filter(work_item=item)
        .order_by("at", "id")
        .values_list("action", "from_status", "to_status")
    )


# --- raise -----------------------------------------------------------------------------------


def test_raising_creates_an_open_item_owned_by_the_patients_team_with_a_created_event(
    patient, team
) -> None:
    item, created = raise_item(patient, due_date=dt.date(2026, 12, 1), details={"value": "0.24"})
    assert created
    item.refresh_from_db()
    assert (item.status, item.team, item.patient, item.priority) == (
        Status.OPEN,
        team,
        patient,
        Priority.NORMAL,
    )
    assert item.created_by == system_user()
    assert item.due_date == dt.date(2026, 12, 1)
    assert item.details == {"value": "0.24"}
    assert events(item) == [("created", "", "open")]
    assert WorkItemEvent.objects.get(work_item=item).actor == system_user()


def test_raising_the_same_cause_twice_makes_one_item_and_one_event(patient) -> None:
    first, created_first = raise_item(patient)
    second, created_second = raise_item(patient, title="Another title")
    assert (created_first, created_second) == (True, False)
    assert first.pk == second.pk
    assert second.title == "PSA above 0.2 ug/L"
    assert WorkItem.objects.count() == 1
    assert WorkItemEvent.objects.count() == 1


def test_raising_a_closed_cause_again_does_not_reopen_it(item, clinician) -> None:
    services.work_item_complete(item=item, actor=clinician, outcome="PSA repeated")
    again, created = raise_item(item.patient)
    assert not created
    assert again.pk == item.pk
    assert again.status == Status.DONE
    assert WorkItem.objects.count() == 1


def test_an_explicit_team_wins_over_the_patients_team(patient, other_team) -> None:
    item, _ = raise_item(patient, team=other_team)
    assert item.team == other_team


def test_a_patient_on_no_open_caseload_gives_an_item_with_no_team() -> None:
    item, _ = raise_item(PatientFactory())
    assert item.team is None


def test_a_patient_on_two_teams_belongs_to_the_first_team_by_name() -> None:
    zeta = TeamFactory(code="ZZZ", name="Zeta team")
    alpha = TeamFactory(code="AAA", name="Alpha team")
    item, _ = raise_item(PatientFactory(teams=[zeta, alpha]))
    assert item.team == alpha


def test_a_long_title_is_cut_to_fit_rather_than_refused(patient) -> None:
    item, _ = raise_item(patient, title="PSA " * 100)
    assert len(item.title) == 200
    assert item.title.endswith("…")


def test_an_unknown_kind_is_refused_and_nothing_is_saved(patient) -> None:
    with pytest.raises(ValidationError) as excinfo:
        raise_item(patient, kind="gossip")
    assert "kind" in excinfo.value.message_dict
    assert not WorkItem.objects.exists()
    assert not WorkItemEvent.objects.exists()


def test_a_blank_cause_key_is_refused(patient) -> None:
    with pytest.raises(ValidationError):
        raise_item(patient, key="  ")


# --- assign ----------------------------------------------------------------------------------


def test_assigning_records_who_gave_it_to_whom(item, clinician, team_admin) -> None:
    item = services.work_item_assign(item=item, assignee=team_admin, actor=clinician)
    assert item.assignee == team_admin
    event = WorkItemEvent.objects.filter(work_item=item).last()
    assert (event.action, event.actor, event.assignee) == ("assigned", clinician, team_admin)


def test_assigning_to_the_same_person_again_is_a_no_op(item, clinician) -> None:
    services.work_item_assign(item=item, assignee=clinician, actor=clinician)
    services.work_item_assign(item=item, assignee=clinician, actor=clinician)
    assert [e[0] for e in events(item)] == ["created", "assigned"]


def test_unassigning_is_recorded(item, clinician) -> None:
    services.work_item_assign(item=item, assignee=clinician, actor=clinician)
    item = services.work_item_assign(item=item, assignee=None, actor=clinician)
    assert item.assignee is None
    assert [e[0] for e in events(item)] == ["created", "assigned", "unassigned"]


def test_an_item_cannot_be_given_to_someone_outside_its_team(
    item, clinician, other_team_clinician, viewer
) -> None:
    for outsider in (other_team_clinician, viewer):
        with pytest.raises(ValidationError) as excinfo:
            services.work_item_assign(item=item, assignee=outsider, actor=clinician)
        assert "assignee" in excinfo.value.message_dict
    item.refresh_from_db()
    assert item.assignee is None


def test_a_closed_item_cannot_be_reassigned(item, clinician, team_admin) -> None:
    services.work_item_complete(item=item, actor=clinician, outcome="Seen in clinic")
    with pytest.raises(ValidationError, match="already done"):
        services.work_item_assign(item=item, assignee=team_admin, actor=clinician)


# --- start -----------------------------------------------------------------------------------


def test_starting_moves_an_open_item_to_in_progress_and_gives_it_to_the_starter(
    item, clinician
) -> None:
    item = services.work_item_start(item=item, actor=clinician)
    assert (item.status, item.assignee) == (Status.IN_PROGRESS, clinician)
    assert events(item)[-1] == ("started", "open", "in_progress")
    assert WorkItemEvent.objects.filter(work_item=item).last().assignee == clinician


def test_starting_keeps_an_existing_assignee(item, clinician, team_admin) -> None:
    services.work_item_assign(item=item, assignee=team_admin, actor=clinician)
    item = services.work_item_start(item=item, actor=clinician)
    assert item.assignee == team_admin


def test_starting_twice_is_a_no_op(item, clinician) -> None:
    services.work_item_start(item=item, actor=clinician)
    services.work_item_start(item=item, actor=clinician)
    assert [e[0] for e in events(item)] == ["created", "started"]


def test_a_dismissed_item_cannot_be_started(item, clinician) -> None:
    services.work_item_dismiss(item=item, actor=clinician, reason="Duplicate of a phone call")
    with pytest.raises(ValidationError, match="already dismissed"):
        services.work_item_start(item=item, actor=clinician)


# --- complete --------------------------------------------------------------------------------


def test_completing_closes_the_item_with_its_outcome_and_who_closed_it(item, clinician) -> None:
    services.work_item_start(item=item, actor=clinician)
    returned = services.work_item_complete(
        item=item, actor=clinician, outcome="PSA repeated", note="Repeat in 4 weeks"
    )
    for copy in (returned, item):  # the caller's instance is brought up to date too
        assert (copy.status, copy.outcome, copy.outcome_note, copy.closed_by) == (
            Status.DONE,
            "PSA repeated",
            "Repeat in 4 weeks",
            clinician,
        )
        assert copy.closed_at is not None
    assert events(item)[-1] == ("completed", "in_progress", "done")
    assert WorkItemEvent.objects.filter(work_item=item).last().note == (
        "PSA repeated: Repeat in 4 weeks"
    )


def test_completing_needs_an_outcome(item, clinician) -> None:
    with pytest.raises(ValidationError) as excinfo:
        services.work_item_complete(item=item, actor=clinician, outcome="  ")
    assert "outcome" in excinfo.value.message_dict
    item.refresh_from_db()
    assert item.status == Status.OPEN


def test_completing_twice_is_a_no_op(item, clinician) -> None:
    services.work_item_complete(item=item, actor=clinician, outcome="PSA repeated")
    services.work_item_complete(item=item, actor=clinician, outcome="Something else")
    item.refresh_from_db()
    assert item.outcome == "PSA repeated"
    assert [e[0] for e in events(item)] == ["created", "completed"]


def test_a_dismissed_item_cannot_be_completed(item, clinician) -> None:
    services.work_item_dismiss(item=item, actor=clinician, reason="Known, already acted on")
    with pytest.raises(ValidationError, match="already dismissed"):
        services.work_item_complete(item=item, actor=clinician, outcome="PSA repeated")


# --- dismiss ---------------------------------------------------------------------------------


def test_dismissing_keeps_the_reason_as_the_outcome_note(item, team_admin) -> None:
    item = services.work_item_dismiss(item=item, actor=team_admin, reason="Lab sample error")
    assert (item.status, item.outcome, item.outcome_note, item.closed_by) == (
        Status.DISMISSED,
        "Dismissed",
        "Lab sample error",
        team_admin,
    )
    assert events(item)[-1] == ("dismissed", "open", "dismissed")


def test_dismissing_needs_a_reason(item, clinician) -> None:
    with pytest.raises(ValidationError) as excinfo:
        services.work_item_dismiss(item=item, actor=clinician, reason="")
    assert "reason" in excinfo.value.message_dict


def test_dismissing_twice_is_a_no_op_and_a_done_item_cannot_be_dismissed(
    item, clinician, patient
) -> None:
    services.work_item_dismiss(item=item, actor=clinician, reason="Lab sample error")
    services.work_item_dismiss(item=item, actor=clinician, reason="Again")
    assert [e[0] for e in events(item)] == ["created", "dismissed"]

    done, _ = raise_item(patient, key="rule:1:result:2")
    services.work_item_complete(item=done, actor=clinician, outcome="PSA repeated")
    with pytest.raises(ValidationError, match="already done"):
        services.work_item_dismiss(item=done, actor=clinician, reason="Changed my mind")


# --- who may act -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "act",
    [
        lambda item, user: services.work_item_assign(item=item, assignee=None, actor=user),
        lambda item, user: services.work_item_start(item=item, actor=user),
        lambda item, user: services.work_item_complete(item=item, actor=user, outcome="Done"),
        lambda item, user: services.work_item_dismiss(item=item, actor=user, reason="No"),
    ],
    ids=["assign", "start", "complete", "dismiss"],
)
@pytest.mark.parametrize("who", ["viewer", "other_team_clinician", "superuser"])
def test_it_refuses_a_viewer_a_clinician_of_another_team_and_a_superuser_outside_the_team(
    item, request, act, who
) -> None:
    user = (
        UserFactory(username="root", is_superuser=True, is_staff=True)
        if who == "superuser"
        else request.getfixturevalue(who)
    )
    with pytest.raises(PermissionDenied):
        act(item, user)
    item.refresh_from_db()
    assert (item.status, item.assignee) == (Status.OPEN, None)
    assert [e[0] for e in events(item)] == ["created"]


def test_it_refuses_a_former_member_whose_account_is_disabled(item, clinician) -> None:
    clinician.is_active = False
    clinician.save()
    with pytest.raises(PermissionDenied):
        services.work_item_start(item=item, actor=clinician)


def test_an_item_with_no_team_is_for_an_active_superuser_only(clinician) -> None:
    item, _ = raise_item(key="inbound:1:1", kind=Kind.UNMATCHED_MESSAGE)
    assert item.team is None
    with pytest.raises(PermissionDenied):
        services.work_item_start(item=item, actor=clinician)
    admin = UserFactory(username="root", is_superuser=True, is_staff=True)
    item = services.work_item_start(item=item, actor=admin)
    assert (item.status, item.assignee) == (Status.IN_PROGRESS, admin)


def test_a_team_admin_of_the_team_may_act(item, team_admin) -> None:
    item = services.work_item_start(item=item, actor=team_admin)
    assert item.status == Status.IN_PROGRESS


# --- closed by the system --------------------------------------------------------------------


def test_the_system_closes_an_active_item_whose_cause_went_away(item, clinician) -> None:
    services.work_item_start(item=item, actor=clinician)
    system = system_user()
    closed = services.work_item_close_by_system(
        item=item, actor=system, outcome="Breach removed by a correction", note="Result 12"
    )
    assert closed
    assert (item.status, item.outcome, item.outcome_note, item.closed_by) == (
        Status.DONE,
        "Breach removed by a correction",
        "Result 12",
        system,
    )
    assert events(item)[-1] == ("closed_by_system", "in_progress", "done")


@pytest.mark.parametrize("closing", ["complete", "dismiss"])
def test_the_system_leaves_a_closed_item_as_a_person_closed_it(item, clinician, closing) -> None:
    if closing == "complete":
        services.work_item_complete(item=item, actor=clinician, outcome="Seen in clinic")
    else:
        services.work_item_dismiss(item=item, actor=clinician, reason="Lab sample error")
    before = WorkItem.objects.values().get(pk=item.pk)
    closed = services.work_item_close_by_system(
        item=item, actor=system_user(), outcome="Breach removed", note="Correction"
    )
    assert not closed
    assert WorkItem.objects.values().get(pk=item.pk) == before
    assert events(item)[-1][0] in {"completed", "dismissed"}


def test_closing_by_the_system_twice_closes_once(item) -> None:
    system = system_user()
    assert services.work_item_close_by_system(item=item, actor=system, outcome="Gone", note="")
    assert not services.work_item_close_by_system(item=item, actor=system, outcome="Gone", note="")
    assert [e[0] for e in events(item)] == ["created", "closed_by_system"]


def test_the_monitoring_engine_finds_only_the_active_items_of_its_prefix(
    patient, clinician
) -> None:
    a, _ = raise_item(patient, key="rule:7:a")
    b, _ = raise_item(patient, key="rule:7:b")
    raise_item(patient, key="rule:70:a")
    raise_item(patient, key="rule:8:a")
    services.work_item_complete(item=b, actor=clinician, outcome="Seen")
    assert list(services.work_items_active_for(cause=ExampleKey.scope("rule:7:"))) == [a]
    with pytest.raises(ValueError, match="non-empty"):
        ExampleKey.scope("")
