"""Items raised before ``waiting_since`` existed wait from their creation (what the worklist
showed until now); an open PHQ-9 alert on item 9 (thoughts of self-harm) is marked so it
sorts above everything, as new ones are."""

from __future__ import annotations

from typing import Any

from django.db import migrations
from django.db.models import F


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


class Migration(migrations.Migration):
    dependencies = [("worklists", "0005_waiting_since_self_harm_worklist_ui")]

    operations = [migrations.RunPython(fill, migrations.RunPython.noop)]
