"""``manage.py load_scale`` and the generator behind it (devtools.scale)."""

from __future__ import annotations

import datetime as dt
import io
import re

import pytest
import time_machine
from auditlog.models import LogEntry
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.db.models import Count
from django.test import Client, override_settings

from careplans.followup.rules import validate
from careplans.models import FollowUpPlan, Pathway, PlanTest, Rule, ScheduleStep
from devtools import scale
from rms import nhs_number, selectors
from rms.models import (
    Appointment,
    CaseloadEntry,
    Diagnosis,
    Document,
    Observation,
    Patient,
    Result,
    Team,
)
from tests.factories import PatientFactory
from worklists.models import WorkItem, WorkItemEvent

pytestmark = pytest.mark.django_db
TODAY = dt.date(2026, 3, 16)
TEAM_CODES = ["URO", "CRC", "BRS", "LNG"]


@pytest.fixture(autouse=True)
def today():
    with time_machine.travel(dt.datetime(2026, 3, 16, 12, 0, tzinfo=dt.UTC), tick=False):
        yield


def load(*args: str) -> str:
    out = io.StringIO()
    call_command("load_scale", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def loaded() -> str:
    return load("--patients", "30")


def test_it_loads_the_patients_spread_over_four_teams_and_prints_the_counts(loaded: str) -> None:
    assert scale.scale_patients().count() == 30
    assert Patient.objects.count() == 30
    per_team = dict(
        CaseloadEntry.objects.values_list("team__code").annotate(n=Count("id")).order_by()
    )
    assert per_team == {"URO": 8, "CRC": 8, "BRS": 7, "LNG": 7}
    assert sorted(Team.objects.values_list("code", flat=True)) == sorted(TEAM_CODES)
    assert Diagnosis.objects.count() == 30
    assert re.search(r"patients\s+30\n", loaded)
    assert re.search(rf"results\s+{Result.objects.count()}\n", loaded)
    assert re.search(rf"observations\s+{Observation.objects.count()}\n", loaded)
    assert "Elapsed:" in loaded


def test_the_history_is_about_twenty_to_thirty_results_a_patient(loaded: str) -> None:
    results = Result.objects.count() / 30
    observations = Observation.objects.count() / 30
    assert 18 <= results <= 32
    assert 40 <= observations <= 62
    assert not Result.objects.filter(observed_at__date__gt=TODAY).exists()
    assert Observation.objects.filter(code="PSA").exists()
    assert Observation.objects.filter(code="CEA").exists()
    assert (
        Observation.objects.filter(code="HB").count()
        == Result.objects.filter(service_code="FBC").count()
    )
    # Every patient has a few appointments, one of them booked ahead, and clinic letters.
    assert Appointment.objects.values("patient").distinct().count() == 30
    assert Appointment.objects.filter(status="booked", starts_at__date__gt=TODAY).count() == 30
    assert Document.objects.values("patient").distinct().count() == 30
    assert (
        not Observation.objects.values("result", "sequence").annotate(n=Count("id")).filter(n__gt=1)
    )


def test_every_nhs_number_is_valid_and_from_the_999_test_range(loaded: str) -> None:
    numbers = [n or "" for n in Patient.objects.values_list("nhs_number", flat=True)]
    assert len(set(numbers)) == 30
    assert all(nhs_number.is_valid(n) for n in numbers)
    assert all("9993000000" <= n < "9998000000" for n in numbers)
    assert sorted(Patient.objects.values_list("mrn", flat=True)) == [
        f"SCALE{i:07d}" for i in range(1, 31)
    ]


def test_the_numbers_are_deterministic_and_continue_where_a_run_stopped() -> None:
    first = scale.scale_nhs_numbers(0, 12)
    assert scale.scale_nhs_numbers(5, 7) == first[5:]
    assert all(nhs_number.is_valid(n) for n in first)
    # 999 300 006 has no valid check digit: it is skipped, not given a wrong one.
    assert not any(n.startswith("999300006") for n in first)


def test_every_patient_is_on_one_open_caseload(loaded: str) -> None:
    for patient in Patient.objects.all():
        entries = list(patient.caseload_entries.all())
        assert len(entries) == 1
        assert entries[0].ended_on is None


def test_every_patient_has_an_active_plan_copied_from_their_teams_pathway(loaded: str) -> None:
    for patient in Patient.objects.all():
        plan = FollowUpPlan.objects.get(patient=patient)
        team = patient.caseload_entries.get().team
        assert plan.status == FollowUpPlan.Status.ACTIVE
        assert plan.team == team
        assert plan.pathway.tumour_site == team.tumour_site
        assert plan.anchor_date < TODAY
        assert plan.started_at.date() > plan.anchor_date
        # A synthetic history is of the pathway's main test (PSA, CEA): the plan has that
        # test's steps and active rules, as the pathway gives them.
        plan_test = PlanTest.objects.get(plan=plan)
        main = plan_test.test_code
        pathway_steps = plan.pathway.schedule.filter(test_code=main).values_list(
            "test_code", "from_month", "until_month", "every_months"
        )
        plan_steps = ScheduleStep.objects.filter(plan=plan).values_list(
            "test_code", "from_month", "until_month", "every_months"
        )
        assert sorted(plan_steps) == sorted(pathway_steps)
        # Copied as plan_start copies them, down to each rule's code.
        fields = ("name", "code", "params", "priority", "description")
        assert sorted(Rule.objects.filter(plan=plan).values_list(*fields)) == sorted(
            plan.pathway.rules.filter(active=True, test_code=main).values_list(*fields)
        )
        assert plan_test.last_result_at is not None
        assert plan.changes.get().action == "started"
    # The due dates are set (a colorectal plan past its five years of CEA has none left).
    assert PlanTest.objects.filter(next_due_date__isnull=False).count() >= 25


def test_breast_and_lung_plans_use_synthetic_pathways_no_clinician_is_offered(
    loaded: str,
) -> None:
    for code in ("scale-breast-bloods", "scale-lung-bloods"):
        pathway = Pathway.objects.get(code=code)
        assert not pathway.active
        assert "not a clinical protocol" in pathway.description
        rule = pathway.rules.get()
        validate(rule.rule_type, rule.params)
        assert pathway.plans.count() == 7
    assert Pathway.objects.get(code="prostate-post-prostatectomy").active


def test_each_clinician_sees_only_their_teams_patients(loaded: str) -> None:
    seen: set[int] = set()
    for code in TEAM_CODES:
        clinician = User.objects.get(username=f"scale.{code.lower()}")
        visible = set(selectors.patient_list(user=clinician).values_list("pk", flat=True))
        on_caseload = set(
            CaseloadEntry.objects.filter(team__code=code).values_list("patient_id", flat=True)
        )
        assert visible == on_caseload
        assert visible
        assert not visible & seen
        seen |= visible
    assert len(seen) == 30


def test_the_clinicians_log_in_with_the_printed_password(loaded: str) -> None:
    password = re.search(r"password (\S+):", loaded)
    assert password is not None
    assert "scale.uro, scale.crc, scale.brs, scale.lng" in loaded
    assert Client().login(username="scale.uro", password=password.group(1))
    assert not Client().login(username="scale.uro", password="wrong")


def test_about_one_patient_in_twenty_has_an_open_work_item_of_their_team() -> None:
    load("--patients", "200", "--seed", "2")

    items = list(WorkItem.objects.select_related("patient", "team"))
    assert 4 <= len(items) <= 20
    assert {item.kind for item in items} == {"threshold_breach", "overdue_test"}
    assert len({item.priority for item in items}) >= 2
    assert len({item.created_at.date() for item in items}) >= 3
    for item in items:
        assert item.status == WorkItem.Status.OPEN
        assert item.patient is not None
        assert item.team == item.patient.caseload_entries.get().team
        assert item.created_at.date() <= TODAY
        assert item.events.get().action == "created"
    assert WorkItemEvent.objects.count() == len(items)
    for item in WorkItem.objects.filter(kind="overdue_test"):
        plan_test = PlanTest.objects.get(plan__patient=item.patient)
        assert plan_test.overdue_raised_for == plan_test.next_due_date
        assert plan_test.next_due_date is not None
        assert plan_test.next_due_date + dt.timedelta(days=plan_test.grace_days) < TODAY
        assert item.dedupe_key == f"overdue:{plan_test.pk}:{plan_test.next_due_date}"
    for item in WorkItem.objects.filter(kind="threshold_breach"):
        assert item.team.code in ("URO", "CRC")
        assert (
            item.source
            == f"rule:{Rule.objects.get(plan__patient=item.patient, name=item.title).pk}"
        )


def test_it_sends_no_signals_so_nothing_is_audited(loaded: str) -> None:
    # Teams and logins go through the services; the patients' rows are bulk inserts.
    assert not LogEntry.objects.filter(content_type__model="patient").exists()
    assert not LogEntry.objects.filter(content_type__model="result").exists()


def test_it_refuses_to_run_twice_without_append(loaded: str) -> None:
    with pytest.raises(CommandError, match="--append"):
        load("--patients", "5")
    assert Patient.objects.count() == 30


def test_append_adds_the_next_patients_with_new_numbers(loaded: str) -> None:
    numbers = set(Patient.objects.values_list("nhs_number", flat=True))

    out = load("--patients", "10", "--append")

    assert "they keep their password" in out
    assert Patient.objects.count() == 40
    added = set(Patient.objects.values_list("nhs_number", flat=True)) - numbers
    assert len(added) == 10
    assert Patient.objects.filter(mrn="SCALE0000040").exists()
    assert User.objects.filter(username__startswith="scale.").count() == 4


def test_it_leaves_other_patients_and_existing_teams_alone(team: Team) -> None:
    other = PatientFactory(teams=[team])

    load("--patients", "8", "--teams", "2")

    assert Team.objects.get(code="URO") == team
    assert sorted(Team.objects.values_list("code", flat=True)) == ["CRC", "URO"]
    assert scale.scale_patients().count() == 8
    assert Patient.objects.count() == 9
    assert not FollowUpPlan.objects.filter(patient=other).exists()


@pytest.mark.parametrize(
    "args",
    [["--patients", "0"], ["--patients", "5", "--teams", "5"], ["--patients", "5", "--years", "0"]],
)
def test_it_refuses_bad_arguments(args: list[str]) -> None:
    with pytest.raises(CommandError):
        load(*args)
    assert not Patient.objects.exists()


@override_settings(PRODUCTION=True)
def test_it_refuses_to_run_in_production() -> None:
    with pytest.raises(CommandError, match="production"):
        load("--patients", "5")
    assert not Patient.objects.exists()
