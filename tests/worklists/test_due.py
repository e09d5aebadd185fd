"""Due dates by priority, "waiting" from when the result was taken, and the worklist's order
(a self-harm answer above everything)."""

from __future__ import annotations

import datetime as dt
import importlib

import pytest
import time_machine
from django.apps import apps as django_apps

from worklists import selectors
from worklists.due import add_working_days, due_by_priority, waiting_since
from worklists.models import WorkItem

from .helpers import raise_item

Priority = WorkItem.Priority
FRIDAY = dt.date(2026, 11, 20)
NOW = dt.datetime(2026, 11, 20, 10, 0, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def on_a_friday_morning():  # type: ignore[no-untyped-def]
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def test_an_urgent_item_is_due_the_same_day() -> None:
    """Urgent means today: a PSA rise that meets the biochemical-recurrence definition or a
    self-harm answer is not left for tomorrow's list."""
    assert due_by_priority(Priority.URGENT, raised_on=FRIDAY) == FRIDAY


def test_a_high_item_is_due_two_working_days_later_skipping_the_weekend() -> None:
    # Friday + 2 working days: Monday, Tuesday.
    assert due_by_priority(Priority.HIGH, raised_on=FRIDAY) == dt.date(2026, 11, 24)
    # Raised on a Saturday: counted from the Monday after.
    assert due_by_priority(Priority.HIGH, raised_on=dt.date(2026, 11, 21)) == dt.date(2026, 11, 25)
    assert add_working_days(dt.date(2026, 11, 18), 2) == FRIDAY


def test_normal_and_low_items_are_due_after_their_settings_days(settings) -> None:  # type: ignore[no-untyped-def]
    assert due_by_priority(Priority.NORMAL, raised_on=FRIDAY) == dt.date(2026, 11, 27)
    assert due_by_priority(Priority.LOW, raised_on=FRIDAY) == dt.date(2026, 12, 18)
    settings.WORKLIST_DUE_DAYS_NORMAL = 3
    assert due_by_priority(Priority.NORMAL, raised_on=FRIDAY) == dt.date(2026, 11, 23)


def test_an_item_raised_without_a_due_date_is_due_by_its_priority(patient) -> None:  # type: ignore[no-untyped-def]
    assert raise_item(patient, priority=Priority.URGENT).due_date == FRIDAY
    assert raise_item(patient, priority=Priority.HIGH).due_date == dt.date(2026, 11, 24)


def test_a_raisers_own_due_date_stands(patient) -> None:  # type: ignore[no-untyped-def]
    """A repeat test asked for by a date (six weeks for a first PSA over 0.2, AUA 2007) is
    due on that date, not the priority's."""
    repeat_by = dt.date(2027, 1, 1)
    item = raise_item(patient, priority=Priority.NORMAL, due_date=repeat_by)
    assert item.due_date == repeat_by


def test_waiting_counts_from_when_the_sample_was_taken() -> None:
    taken = dt.datetime(2026, 11, 16, 9, 0, tzinfo=dt.UTC)
    arrived = dt.datetime(2026, 11, 19, 22, 0, tzinfo=dt.UTC)
    assert waiting_since(observed_at=taken, arrived_at=arrived) == taken
    # Taken time unknown, or after the arrival (a clock or typing error): the arrival.
    assert waiting_since(observed_at=None, arrived_at=arrived) == arrived
    later = dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.UTC)
    assert waiting_since(observed_at=later, arrived_at=arrived) == arrived
    assert waiting_since(observed_at=taken, arrived_at=None) == taken


def test_an_item_waits_from_its_cause_and_never_from_the_future(patient) -> None:  # type: ignore[no-untyped-def]
    taken = dt.datetime(2026, 11, 16, 9, 0, tzinfo=dt.UTC)
    assert raise_item(patient, waiting_since=taken).waiting_since == taken
    assert raise_item(patient).waiting_since == NOW
    ahead = NOW + dt.timedelta(hours=5)
    assert raise_item(patient, waiting_since=ahead).waiting_since == NOW


def test_the_worklist_puts_a_self_harm_answer_first_then_priority_then_the_longest_waiting(
    patient, clinician
) -> None:  # type: ignore[no-untyped-def]
    """PHQ-9 item 9 answered above "Not at all" needs a clinician the same day whatever the
    total (Kroenke, Spitzer, Williams, J Gen Intern Med 2001;16:606-613; NICE NG225 on
    assessing self-harm without delay): it sorts above an urgent PSA breach raised earlier.
    Among the rest, the most urgent first, then the result taken longest ago, even when its
    item was raised later (a late-filed result has waited since it was taken)."""
    week_ago = NOW - dt.timedelta(days=7)
    urgent = raise_item(patient, title="urgent", priority=Priority.URGENT)
    high_new = raise_item(patient, title="high, taken today", priority=Priority.HIGH)
    high_old = raise_item(
        patient, title="high, taken a week ago", priority=Priority.HIGH, waiting_since=week_ago
    )
    self_harm = raise_item(
        patient,
        title="self-harm",
        kind=WorkItem.Kind.QUESTIONNAIRE_ALERT,
        priority=Priority.HIGH,
        risk_of_self_harm=True,
    )
    order = list(selectors.work_item_list(user=clinician, status=selectors.ACTIVE))
    assert order == [self_harm, urgent, high_old, high_new]


def test_items_raised_before_the_change_are_given_a_wait_a_due_date_and_the_self_harm_mark(
    patient,
) -> None:  # type: ignore[no-untyped-def]
    """The data migration: an open item from before waits from its creation and is due by its
    priority from the day it was raised; an open PHQ-9 alert on item 9 sorts first."""
    migration = importlib.import_module("worklists.migrations.0006_fill_waiting_since")
    high = raise_item(patient, priority=Priority.HIGH)
    alert = raise_item(
        patient,
        kind=WorkItem.Kind.QUESTIONNAIRE_ALERT,
        priority=Priority.URGENT,
        details={
            "questionnaire": "phq-9",
            "fired": [{"label": "Thoughts of self-harm", "item": "9"}],
        },
    )
    total_only = raise_item(
        patient,
        kind=WorkItem.Kind.QUESTIONNAIRE_ALERT,
        details={"questionnaire": "phq-9", "fired": [{"score": "total", "value": 17}]},
    )
    WorkItem.objects.update(waiting_since=None, due_date=None, risk_of_self_harm=False)

    migration.fill(django_apps, None)

    for item in (high, alert, total_only):
        item.refresh_from_db()
        assert item.waiting_since == item.created_at
    assert high.due_date == dt.date(2026, 11, 24)
    assert alert.due_date == FRIDAY
    assert (alert.risk_of_self_harm, total_only.risk_of_self_harm) == (True, False)
