"""When a work item is due, and from when it has been waiting.

An item's due date follows its priority, counted from the day it is raised: urgent the same
day, high within ``WORKLIST_DUE_WORKING_DAYS_HIGH`` working days (Monday to Friday; bank
holidays are not known here), normal within ``WORKLIST_DUE_DAYS_NORMAL`` days, low within
``WORKLIST_DUE_DAYS_LOW`` days (settings, from the environment). A raiser that knows a
clinical deadline of its own (a repeat test by a date, a release date) passes it, and that
date stands.

"Waiting" is counted from when the cause happened for the patient (the result was taken),
not from when the system noticed it: a sample taken on Friday and filed on Monday has waited
three days when the item is raised.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings

from worklists.models import WorkItem

Priority = WorkItem.Priority


def add_working_days(day: dt.date, days: int) -> dt.date:
    """``days`` working days (Monday to Friday) after ``day``; a weekend day counts from the
    Monday after it."""
    while day.weekday() >= 5:
        day += dt.timedelta(days=1)
    left = days
    while left > 0:
        day += dt.timedelta(days=1)
        if day.weekday() < 5:
            left -= 1
    return day


def due_by_priority(priority: int, *, raised_on: dt.date) -> dt.date:
    """The day an item of ``priority`` raised on ``raised_on`` is due."""
    if priority <= Priority.URGENT:
        return raised_on
    if priority == Priority.HIGH:
        return add_working_days(raised_on, settings.WORKLIST_DUE_WORKING_DAYS_HIGH)
    if priority == Priority.NORMAL:
        return raised_on + dt.timedelta(days=settings.WORKLIST_DUE_DAYS_NORMAL)
    return raised_on + dt.timedelta(days=settings.WORKLIST_DUE_DAYS_LOW)


def waiting_since(
    *, observed_at: dt.datetime | None, arrived_at: dt.datetime | None
) -> dt.datetime | None:
    """From when a result's item has been waiting: the time the sample was taken, or the
    time the result arrived when the taken time is unknown or later than its arrival (a
    sender's clock or a typing error; a result cannot be taken after it arrived)."""
    if observed_at is None:
        return arrived_at
    if arrived_at is not None and observed_at > arrived_at:
        return arrived_at
    return observed_at
