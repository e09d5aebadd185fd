"""``manage.py load_demo`` and the demo plan behind it (devtools.demo)."""

from __future__ import annotations

import datetime as dt
from io import StringIO

import pytest
from auditlog.models import LogEntry
from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models import Count, Max, Min
from django.test import Client, override_settings
from django.utils import timezone

from devtools import demo
from devtools.demo.history import RP, RT
from devtools.demo.plans import PatientPlan
from rms import nhs_number, selectors
from rms.models import (
    Appointment,
    CaseloadEntry,
    Diagnosis,
    Document,
    Membership,
    Observation,
    Patient,
    Result,
    Team,
)

ALL_MODELS = (
    Team,
    User,
    Membership,
    Patient,
    CaseloadEntry,
    Diagnosis,
    Result,
    Observation,
    Appointment,
    Document,
    LogEntry,
)
ANCHOR = dt.date(2026, 3, 16)


def load() -> str:
    out = StringIO()
    call_command("load_demo", stdout=out)
    return out.getvalue()


def counts() -> dict[str, int]:
    return {model.__name__: model._default_manager.count() for model in ALL_MODELS}


@pytest.fixture
def loaded(db: None) -> str:
    return load()


def test_running_it_twice_changes_nothing_and_creates_no_duplicates(loaded: str) -> None:
    assert "patients         50 / 50" in loaded
    assert "http://127.0.0.1:8000/" in loaded
    assert demo.DEMO_PASSWORD in loaded
    for user in demo.USERS:
        assert user.username in loaded
    before = counts()
    patients_updated = dict(Patient.objects.values_list("pk", "updated_at"))
    passwords = dict(User.objects.values_list("username", "password"))

    out = load()

    assert counts() == before
    assert dict(Patient.objects.values_list("pk", "updated_at")) == patients_updated
    assert dict(User.objects.values_list("username", "password")) == passwords
    for name in ("patients", "results", "observations", "appointments", "documents"):
        assert f"{name:<13}     0 / " in out
    assert Team.objects.filter(code__in=["URO", "CRC"]).count() == 2
    assert Patient.objects.values("nhs_number").distinct().count() == Patient.objects.count()
    assert not Diagnosis.objects.values("patient").annotate(n=Count("id")).filter(n__gt=1)
    assert not Membership.objects.values("user", "team").annotate(n=Count("id")).filter(n__gt=1)
    assert not (
        Observation.objects.values("result", "sequence").annotate(n=Count("id")).filter(n__gt=1)
    )


def test_it_puts_the_demo_back_when_a_run_was_partly_undone(loaded: str) -> None:
    before = counts()
    Result.objects.filter(filler_order_number__startswith="DEMO-001-").delete()
    Document.objects.filter(document_number__startswith="DEMO-002-").delete()
    User.objects.filter(username="cns.uro").update(password="!")

    load()

    counts_now = counts()
    # The change log gained the deletions above and the re-created rows; nothing else differs.
    del counts_now["LogEntry"], before["LogEntry"]
    assert counts_now == before
    assert Client().login(username="cns.uro", password=demo.DEMO_PASSWORD)


def test_it_uses_an_existing_team_with_the_same_code(team: Team) -> None:
    load()

    assert Team.objects.filter(code="URO").get() == team
    assert Patient.objects.filter(caseload_entries__team=team).count() == 28


def test_the_demo_users_log_in_and_each_sees_only_their_teams_patients(loaded: str) -> None:
    for spec in demo.USERS:
        assert Client().login(username=spec.username, password=demo.DEMO_PASSWORD), spec.username

    admin = User.objects.get(username="admin")
    assert admin.is_superuser
    assert admin.is_staff

    uro = set(Patient.objects.filter(caseload_entries__team__code="URO"))
    crc = set(Patient.objects.filter(caseload_entries__team__code="CRC"))
    assert uro
    assert crc
    assert not uro & crc

    for username in ("cns.uro", "onc.uro", "viewer.uro"):
        user = User.objects.get(username=username)
        assert set(selectors.patient_list(user=user)) == uro, username
    assert set(selectors.patient_list(user=User.objects.get(username="cns.crc"))) == crc
    # Superusers see nothing in the product without a team.
    assert not selectors.patient_list(user=User.objects.get(username="admin")).exists()


def test_every_demo_nhs_number_is_valid_and_a_few_are_unverified(loaded: str) -> None:
    numbers = list(Patient.objects.values_list("nhs_number", flat=True))
    assert len(numbers) == 50
    assert all(nhs_number.is_valid(n) for n in numbers)
    assert all(n.startswith("999") for n in numbers)
    statuses = list(Patient.objects.values_list("nhs_number_status", flat=True))
    assert 0 < statuses.count("02") < statuses.count("01")
    assert 0 < Patient.objects.exclude(email="").count() < 50


def test_each_patient_has_two_to_five_years_of_history(loaded: str) -> None:
    spans = Patient.objects.annotate(
        first=Min("results__observed_at"), last=Max("results__observed_at")
    )
    for patient in spans:
        years = (patient.last - patient.first).days / 365.25
        assert 2 <= years <= 5, years

    for patient in Patient.objects.all():
        assert patient.diagnoses.count() == 1
        booked = patient.appointments.filter(status=Appointment.Status.BOOKED)
        assert booked.get().starts_at > timezone.now()
        assert patient.appointments.filter(status=Appointment.Status.ATTENDED).exists()
        assert patient.documents.filter(document_type=Document.DocumentType.CLINIC_LETTER)
    assert Appointment.objects.filter(status=Appointment.Status.CANCELLED).exists()
    assert Appointment.objects.filter(status=Appointment.Status.DID_NOT_ATTEND).exists()


def test_results_look_like_what_the_lab_and_radiology_send(loaded: str) -> None:
    assert set(Result.objects.values_list("source_system", "category").distinct()) == {
        ("WINPATH", "lab"),
        ("CRIS", "radiology"),
    }
    undetectable = Observation.objects.filter(code="PSA", comparator="<")
    assert undetectable.exists()
    assert set(undetectable.values_list("value_text", flat=True)) == {"<0.01"}
    assert Observation.objects.filter(abnormal_flag="H").exists()
    assert Observation.objects.filter(abnormal_flag="L").exists()
    assert not Observation.objects.filter(units="", value_type="NM").exists()
    report = Result.objects.filter(category="radiology").first()
    assert report is not None
    assert "\n" in report.report_text
    assert "Conclusion:" in report.report_text


def test_it_refuses_to_run_in_production(db: None) -> None:
    with override_settings(PRODUCTION=True), pytest.raises(CommandError, match="production"):
        load()

    assert not User.objects.filter(username="admin").exists()


# ---------------------------------------------------------------------------
# The plan itself (no database)
# ---------------------------------------------------------------------------


def test_the_plan_is_the_same_on_every_run() -> None:
    assert demo.build_plan(ANCHOR) == demo.build_plan(ANCHOR)


def _psa_values(plan: PatientPlan) -> list[float]:
    return [
        float(obs.value_numeric or 0)
        for result in plan.results
        if result.service_code == "PSA"
        for obs in result.observations
    ]


def test_some_psa_after_prostatectomy_rises_past_the_recurrence_threshold() -> None:
    plans = [p for p in demo.build_plan(ANCHOR) if p.pathway == RP]
    rising = [p for p in plans if _psa_values(p)[-1] >= 0.2]
    assert 2 <= len(rising) <= 4
    for plan in plans:
        if plan not in rising:
            assert max(_psa_values(plan)[1:]) <= 0.03


def test_psa_after_radiotherapy_falls_to_a_nadir_and_a_couple_rise_two_above_it() -> None:
    plans = [p for p in demo.build_plan(ANCHOR) if p.pathway == RT]
    recurrences = 0
    for plan in plans:
        values = _psa_values(plan)
        nadir = min(values[1:])
        assert nadir < values[0] / 5
        if values[-1] > nadir + 2:
            recurrences += 1
    assert recurrences == 2


def test_cea_after_colorectal_surgery_is_mostly_under_five() -> None:
    plans = [p for p in demo.build_plan(ANCHOR) if p.team_code == "CRC"]
    latest = []
    for plan in plans:
        cea = [r for r in plan.results if r.service_code == "CEA"]
        last = max(cea, key=lambda r: r.observed_at)
        latest.append(float(last.observations[0].value_numeric or 0))

    assert len(latest) == 22
    assert sum(value > 5 for value in latest) == 2


def test_it_prints_the_address_the_demo_is_served_at(db: None) -> None:
    """The demo tells the truth: `make demo PORT=8790` prints that port, not the default's."""
    out = StringIO()
    call_command("load_demo", "--url", "http://127.0.0.1:8790", stdout=out)
    printed = out.getvalue()
    assert "Open http://127.0.0.1:8790/ and log in" in printed
    assert "http://127.0.0.1:8790/admin/" in printed
    assert ":8000" not in printed
