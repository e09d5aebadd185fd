"""``manage.py plan_start``: start a follow-up plan from the command line, as a named user."""

from __future__ import annotations

import datetime as dt
import io

import pytest
import time_machine
from django.core.management import CommandError, call_command

from careplans.models import FollowUpPlan, PlanChange

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def today():
    with time_machine.travel(dt.datetime(2025, 3, 15, 12, 0, tzinfo=dt.UTC), tick=False):
        yield


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("plan_start", *args, stdout=out)
    return out.getvalue()


def args(patient, *, user="clinician", pathway="prostate-post-radiotherapy", anchor="2024-11-04"):
    number = patient.nhs_number
    spaced = f"{number[:3]} {number[3:6]} {number[6:]}"
    return (
        "--nhs-number",
        spaced,
        "--pathway",
        pathway,
        "--anchor-date",
        anchor,
        "--user",
        user,
    )


def test_it_starts_a_plan_as_the_named_clinician(patient, clinician):
    out = run(*args(patient))

    plan = FollowUpPlan.objects.get(patient=patient)
    assert plan.pathway.code == "prostate-post-radiotherapy"
    assert plan.anchor_date == dt.date(2024, 11, 4)
    assert plan.started_by == clinician
    assert PlanChange.objects.get(plan=plan).actor == clinician
    assert str(plan.public_id) in out
    # Started on 15 Mar 2025, after the 3-month point (4 Feb): first due at 6 months.
    assert "PSA 2025-05-04" in out
    # No patient identifiers in output that ends up in logs.
    assert patient.nhs_number not in out


def test_running_it_again_changes_nothing(patient, clinician):
    run(*args(patient))
    out = run(*args(patient))

    assert FollowUpPlan.objects.filter(patient=patient).count() == 1
    assert "already follows" in out


def test_it_requires_a_user(patient, clinician):
    with pytest.raises(CommandError):
        call_command(
            "plan_start",
            "--nhs-number",
            patient.nhs_number,
            "--pathway",
            "colorectal-cea",
            "--anchor-date",
            "2024-11-04",
        )


def test_it_refuses_a_viewer(patient, viewer):
    with pytest.raises(CommandError, match="clinician or team admin"):
        run(*args(patient, user="viewer"))
    assert not FollowUpPlan.objects.exists()


def test_it_does_not_find_another_teams_patient(other_patient, clinician):
    with pytest.raises(CommandError, match="No patient"):
        run(*args(other_patient))


def test_it_refuses_an_unknown_user(patient):
    with pytest.raises(CommandError, match="No active user"):
        run(*args(patient, user="nobody"))


def test_it_refuses_an_unknown_pathway_and_lists_the_offered_ones(patient, clinician):
    with pytest.raises(CommandError, match="colorectal-cea"):
        run(*args(patient, pathway="lung-ct"))


@pytest.mark.parametrize(
    ("anchor", "words"), [("2025-13-01", "YYYY-MM-DD"), ("2026-01-01", "future")]
)
def test_it_refuses_a_bad_anchor_date(patient, clinician, anchor, words):
    with pytest.raises(CommandError, match=words):
        run(*args(patient, anchor=anchor))


def test_it_refuses_an_invalid_nhs_number(clinician):
    with pytest.raises(CommandError):
        call_command(
            "plan_start",
            "--nhs-number",
            "1234567890",
            "--pathway",
            "colorectal-cea",
            "--anchor-date",
            "2024-11-04",
            "--user",
            "clinician",
        )
