from __future__ import annotations

import importlib
from datetime import date

import pytest
from django.apps import apps as global_apps

from careplans.followup.rules import validate
from careplans.followup.schedule import due_after
from careplans.models import CarePlanTemplate, Pathway, ScheduleStep

SEED = importlib.import_module("careplans.migrations.0002_seed_pathways")

CODES = {
    "prostate-post-prostatectomy",
    "prostate-post-radiotherapy",
    "prostate-active-surveillance",
    "colorectal-cea",
}


def _dues(pathway: Pathway, anchor: date, count: int, test: str = "") -> list[date]:
    steps = list(ScheduleStep.objects.filter(pathway=pathway))
    test = test or ("CEA" if pathway.code == "colorectal-cea" else "PSA")
    steps = [step for step in steps if step.test_code == test]
    dues: list[date] = []
    last = None
    for _ in range(count):
        due = due_after(steps, anchor=anchor, last=last)
        if due is None:
            break
        dues.append(due)
        last = due
    return dues


@pytest.mark.django_db
def test_the_four_published_pathways_are_seeded_with_their_stable_codes():
    assert set(Pathway.objects.values_list("code", flat=True)) >= CODES


@pytest.mark.django_db
@pytest.mark.parametrize("code", sorted(CODES))
def test_every_seeded_rule_is_accepted_by_the_rules(code):
    pathway = Pathway.objects.get(code=code)
    rules = list(pathway.rules.all())
    assert rules
    for rule in rules:
        validate(rule.rule_type, rule.params)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("code", "source"),
    [
        ("prostate-post-prostatectomy", "AUA"),
        ("prostate-post-prostatectomy", "EAU"),
        ("prostate-post-radiotherapy", "Phoenix"),
        ("prostate-active-surveillance", "NG131"),
        ("colorectal-cea", "NG151"),
    ],
)
def test_each_pathway_names_its_published_source(code, source):
    assert source in Pathway.objects.get(code=code).description


@pytest.mark.django_db
@pytest.mark.parametrize("code", ["prostate-post-prostatectomy", "prostate-post-radiotherapy"])
def test_the_post_treatment_psa_schedule_is_the_eau_one(code):
    dues = _dues(Pathway.objects.get(code=code), date(2024, 1, 10), 8)
    assert dues == [
        date(2024, 4, 10),  # 3 months
        date(2024, 7, 10),  # 6
        date(2025, 1, 10),  # 12
        date(2025, 7, 10),  # 18
        date(2026, 1, 10),  # 24
        date(2026, 7, 10),  # 30
        date(2027, 1, 10),  # 36
        date(2028, 1, 10),  # then yearly
    ]


@pytest.mark.django_db
def test_active_surveillance_is_3_monthly_in_year_1_then_6_monthly():
    dues = _dues(Pathway.objects.get(code="prostate-active-surveillance"), date(2024, 1, 10), 6)
    assert dues == [
        date(2024, 4, 10),
        date(2024, 7, 10),
        date(2024, 10, 10),
        date(2025, 1, 10),
        date(2025, 7, 10),
        date(2026, 1, 10),
    ]


@pytest.mark.django_db
def test_cea_is_6_monthly_to_3_years_then_yearly_to_5_years_then_ends():
    dues = _dues(Pathway.objects.get(code="colorectal-cea"), date(2024, 1, 10), 20)
    assert dues == [
        *(date(2024 + m // 12, 1 + m % 12, 10) for m in range(6, 37, 6)),
        date(2028, 1, 10),
        date(2029, 1, 10),
    ]


@pytest.mark.django_db
def test_the_post_prostatectomy_rules_are_the_aua_limit_rises_and_doubling_time():
    rules = {r.code: r for r in Pathway.objects.get(code="prostate-post-prostatectomy").rules.all()}
    # AUA 2007 (Cookson et al.): PSA >= 0.2 ng/mL confirmed by a second >= 0.2.
    assert rules["bcr_post_rp"].params == {
        "threshold": "0.2",
        "confirmations": 2,
        "repeat_after_days": 42,
        "units": "ug/L",
    }
    # EAU: persistent PSA is >= 0.1 ng/mL 4 to 8 weeks after surgery.
    assert rules["psa_persistence"].params == {
        "threshold": "0.1",
        "units": "ug/L",
        "from_day": 28,
        "until_day": 56,
    }
    assert rules["psa_consecutive_rises"].params["count"] == 3
    # EAU BCR risk groups: PSA-DT of 1 year or less.
    assert rules["psa_doubling_time"].params["max_months"] == 12


@pytest.mark.django_db
def test_seeding_again_leaves_existing_pathways_and_their_edits_alone():
    pathway = Pathway.objects.get(code="colorectal-cea")
    pathway.name = "Edited by the team"
    pathway.save()
    steps = ScheduleStep.objects.count()

    SEED.seed(global_apps, None)

    pathway.refresh_from_db()
    assert pathway.name == "Edited by the team"
    assert ScheduleStep.objects.count() == steps
    assert Pathway.objects.filter(code__in=CODES).count() == 4


@pytest.mark.django_db
def test_seeding_an_empty_database_creates_each_pathway_once():
    # The seeded care plan templates hold on to their pathways (PROTECT): remove them first.
    CarePlanTemplate.objects.filter(pathway__code__in=CODES).delete()
    Pathway.objects.filter(code__in=CODES).delete()

    SEED.seed(global_apps, None)
    SEED.seed(global_apps, None)

    assert Pathway.objects.filter(code__in=CODES).count() == 4
    assert ScheduleStep.objects.filter(pathway__code="prostate-post-prostatectomy").count() == 3
