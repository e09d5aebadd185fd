"""Items raised before ``waiting_since`` existed wait from their creation (what the worklist
showed until now); an open PHQ-9 alert on item 9 (thoughts of self-harm) is marked so it
sorts above everything, as new ones are; an open item with no due date is given the one its
priority gives, counted from the day it was raised (the rule of ``worklists.due`` as it
stands at this migration, with the settings of the day)."""

from __future__ import annotations

from typing import Any

import datetime as dt

from django.conf import settings
from django.db import migrations
from django.db.models import F
from django.utils import timezone


def _due(priority: int, raised_on: dt.date) -> dt.date:
    if priority <= 1:  # urgent: the same day
        return raised_on
    if priority == 2:  # high: working days, Monday to Friday
        day, left = raised_on, settings.WORKLIST_DUE_WORKING_DAYS_HIGH
        while day.weekday() >= 5:
            day += dt.timedelta(days=1)
        while left > 0:
            day += dt.timedelta(days=1)
            left -= day.weekday() < 5
        return day
    days = settings.WORKLIST_DUE_DAYS_NORMAL if priority == 3 else settings.WORKLIST_DUE_DAYS_LOW
    return raised_on + dt.timedelta(days=days)


def fill(apps: Any, schema_editor: Any) -> None:
    WorkItem = apps.get_model("worklists", "WorkItem")
    WorkItem.objects.filter(waiting_since__isnull=True).update(waiting_since=F("created_at"))
    alerts = WorkItem.objects.filter(
        kind="questionnaire_alert",
        status__in=["open", "in_progress"],
        details__questionnaire="phq-9",
    )
    for item in alerts.iterator():
        fired = item.details.get("fired") or []
        if any(str(f.get("item")) == "9" for f in fired if isinstance(f, dict)):
            WorkItem.objects.filter(pk=item.pk).update(risk_of_self_harm=True)
    undated = WorkItem.objects.filter(status__in=["open", "in_progress"], due_date__isnull=True)
    for pk, priority, created_at in undated.values_list("pk", "priority", "created_at"):
        due = _due(priority, timezone.localdate(created_at))
        WorkItem.objects.filter(pk=pk).update(due_date=due)


class Migration(migrations.Migration):
    dependencies = [("worklists", "0005_waiting_since_self_harm")]

    operations = [migrations.RunPython(fill, migrations.RunPython.noop)]
