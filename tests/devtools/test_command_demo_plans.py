from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from careplans.models import FollowUpPlan
from worklists.models import WorkItem

pytestmark = pytest.mark.django_db


def test_demo_plans_puts_every_demo_patient_on_a_plan_and_raises_the_recurrences_once() -> None:
    call_command("load_demo", stdout=io.StringIO())
    call_command("demo_plans", stdout=io.StringIO())
    assert FollowUpPlan.objects.count() == 50
    breaches = WorkItem.objects.filter(kind=WorkItem.Kind.THRESHOLD_BREACH)
    assert breaches.exists()
    # Every breach belongs to one of the demo patients whose marker rises.
    assert {item.patient_id for item in breaches} <= set(
        FollowUpPlan.objects.values_list("patient_id", flat=True)
    )
    count = breaches.count()
    call_command("demo_plans", stdout=io.StringIO())
    assert FollowUpPlan.objects.count() == 50
    assert WorkItem.objects.filter(kind=WorkItem.Kind.THRESHOLD_BREACH).count() == count
