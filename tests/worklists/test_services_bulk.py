"""Raising many work items at once: the same outcome as raising them one by one."""

from __future__ import annotations

import pytest
from auditlog.models import LogEntry

from rms.services import system_user
from tests.worklists.helpers import ExampleKey
from worklists import services
from worklists.models import WorkItem, WorkItemEvent

pytestmark = pytest.mark.django_db


def spec(patient, team, key: str) -> dict[str, object]:
    return {
        "kind": WorkItem.Kind.OVERDUE_TEST,
        "key": ExampleKey(key),
        "title": "PSA overdue",
        "explanation": "  PSA was due and has not arrived.  ",
        "source": "plan_test:1",
        "patient": patient,
        "team": team,
    }


def test_raises_each_new_cause_once_with_its_event_and_audit_entry(patient, team):
    actor = system_user()
    services.work_item_raise(actor=actor, **spec(patient, team, "overdue:1"))  # type: ignore[arg-type]
    created = services.work_items_raise(
        items=[spec(patient, team, key) for key in ("overdue:1", "overdue:2", "overdue:3")],
        actor=actor,
    )
    assert created == 2
    fresh = WorkItem.objects.filter(dedupe_key__in=["overdue:2", "overdue:3"])
    assert fresh.count() == 2
    for item in fresh:
        assert item.explanation == "PSA was due and has not arrived."
        assert item.team == team and item.created_by == actor
        assert WorkItemEvent.objects.filter(work_item=item, action="created").count() == 1
        entry = LogEntry.objects.get_for_object(item).get()
        assert entry.action == LogEntry.Action.CREATE
        assert entry.changes["dedupe_key"] == ["None", item.dedupe_key]
    again = services.work_items_raise(items=[spec(patient, team, "overdue:2")], actor=actor)
    assert again == 0
    assert WorkItem.objects.filter(dedupe_key="overdue:2").count() == 1


def test_a_blank_cause_is_refused(patient, team):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        services.work_items_raise(items=[spec(patient, team, " ")], actor=system_user())
