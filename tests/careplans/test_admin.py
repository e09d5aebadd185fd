"""Django admin: pathways (with their schedule and rules inline) are edited by superusers and
team admins; patients' plans are read-only and scoped to the user's teams."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from pytest_django.asserts import assertContains, assertNotContains

from careplans.followup import services
from careplans.models import FollowUpPlan, Pathway, Rule, ScheduleStep
from rms.models import AccessEvent, Role
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db

PATHWAY_PERMISSIONS = [
    f"{action}_{model}"
    for model in ("pathway", "schedulestep", "rule", "followupplan", "plantest", "planchange")
    for action in ("view", "add", "change", "delete")
]


def _staff(team, username: str, role: str):
    user = UserFactory(username=username, is_staff=True)
    MembershipFactory(user=user, team=team, role=role)
    user.user_permissions.set(Permission.objects.filter(codename__in=PATHWAY_PERMISSIONS))
    return user


@pytest.fixture
def staff_admin(team):
    return _staff(team, "staffadmin", Role.TEAM_ADMIN)


@pytest.fixture
def staff_clinician(team):
    return _staff(team, "staffclinician", Role.CLINICIAN)


def pathway_url(pathway: Pathway) -> str:
    return reverse("admin:careplans_pathway_change", args=[pathway.pk])


def plan_url(plan: FollowUpPlan) -> str:
    return reverse("admin:careplans_followupplan_change", args=[plan.pk])


def pathway_post(pathway: Pathway, **rule_changes) -> dict[str, object]:
    """The change form of ``pathway`` as a browser posts it, with ``rule_changes`` applied to
    the rule of each named type (e.g. absolute_limit={"threshold": "0.3"})."""
    data: dict[str, object] = {
        "code": pathway.code,
        "name": pathway.name,
        "tumour_site": pathway.tumour_site,
        "treatment": pathway.treatment,
        "description": pathway.description,
        "active": "on",
    }
    steps = list(ScheduleStep.objects.filter(pathway=pathway).order_by("pk"))
    data.update(
        {
            "schedule-TOTAL_FORMS": len(steps),
            "schedule-INITIAL_FORMS": len(steps),
            "schedule-MIN_NUM_FORMS": 0,
            "schedule-MAX_NUM_FORMS": 1000,
        }
    )
    for i, step in enumerate(steps):
        prefix = f"schedule-{i}-"
        data.update(
            {
                f"{prefix}id": step.pk,
                f"{prefix}pathway": pathway.pk,
                f"{prefix}test_code": step.test_code,
                f"{prefix}test_name": step.test_name,
                f"{prefix}from_month": step.from_month,
                f"{prefix}until_month": "" if step.until_month is None else step.until_month,
                f"{prefix}every_months": step.every_months,
                f"{prefix}grace_days": step.grace_days,
            }
        )
    rules = list(Rule.objects.filter(pathway=pathway).order_by("pk"))
    data.update(
        {
            "rules-TOTAL_FORMS": len(rules),
            "rules-INITIAL_FORMS": len(rules),
            "rules-MIN_NUM_FORMS": 0,
            "rules-MAX_NUM_FORMS": 1000,
        }
    )
    for i, rule in enumerate(rules):
        prefix = f"rules-{i}-"
        params = {**rule.params, **rule_changes.get(rule.rule_type, {})}
        data.update(
            {
                f"{prefix}id": rule.pk,
                f"{prefix}pathway": pathway.pk,
                f"{prefix}name": rule.name,
                f"{prefix}test_code": rule.test_code,
                f"{prefix}rule_type": rule.rule_type,
                f"{prefix}params": json.dumps(params),
                f"{prefix}priority": rule.priority,
                f"{prefix}description": rule.description,
            }
        )
        if rule.active:
            data[f"{prefix}active"] = "on"
    return data


@pytest.fixture
def pathway() -> Pathway:
    return Pathway.objects.get(code="prostate-post-prostatectomy")


# --- pathways ------------------------------------------------------------------------------


def test_a_superuser_sees_a_pathway_with_its_schedule_and_rules(admin_client, pathway):
    response = admin_client.get(pathway_url(pathway))
    assertContains(response, "Prostate cancer after radical prostatectomy")
    assertContains(response, "PSA doubling time 12 months or less")
    assertContains(response, 'name="schedule-TOTAL_FORMS"')
    assertContains(response, 'name="_save"')


def test_a_team_admin_changes_a_rule_of_a_pathway(client, staff_admin, pathway):
    client.force_login(staff_admin)
    response = client.post(
        pathway_url(pathway), pathway_post(pathway, absolute_limit={"threshold": "0.3"})
    )
    assert response.status_code == 302, response.context["errors"] if response.context else ""
    rule = Rule.objects.get(pathway=pathway, code="bcr_post_rp")
    assert rule.params["threshold"] == "0.3"


def test_a_rule_whose_values_the_rules_refuse_is_not_saved(client, staff_admin, pathway):
    client.force_login(staff_admin)
    response = client.post(
        pathway_url(pathway), pathway_post(pathway, absolute_limit={"confirmations": 0})
    )
    assert response.status_code == 200
    assertContains(response, "confirmations: must be at least 1")
    rule = Rule.objects.get(pathway=pathway, code="bcr_post_rp")
    assert rule.params["confirmations"] == 2


def test_the_code_of_a_pathway_cannot_be_changed(client, staff_admin, pathway):
    client.force_login(staff_admin)
    data = pathway_post(pathway)
    data["code"] = "renamed"
    client.post(pathway_url(pathway), data)
    pathway.refresh_from_db()
    assert pathway.code == "prostate-post-prostatectomy"


def test_a_staff_clinician_who_is_not_a_team_admin_cannot_change_a_pathway(
    client, staff_clinician, pathway
):
    client.force_login(staff_clinician)
    response = client.get(pathway_url(pathway))
    assert response.status_code == 200  # may look
    assertNotContains(response, 'name="_save"')
    response = client.post(
        pathway_url(pathway), pathway_post(pathway, absolute_limit={"threshold": "9"})
    )
    assert response.status_code == 403
    assert Rule.objects.get(pathway=pathway, code="bcr_post_rp").params["threshold"] == "0.2"


def test_a_team_admin_without_the_django_permission_cannot_change_a_pathway(client, team, pathway):
    user = UserFactory(username="bare", is_staff=True)
    MembershipFactory(user=user, team=team, role=Role.TEAM_ADMIN)
    client.force_login(user)
    assert client.get(pathway_url(pathway)).status_code == 403


# --- plans ---------------------------------------------------------------------------------


@pytest.fixture
def plans(clinician, other_team_clinician, patient, other_patient, pathway):
    mine = services.plan_start(
        patient=patient, pathway=pathway, anchor_date=dt.date(2024, 5, 1), actor=clinician
    )
    theirs = services.plan_start(
        patient=other_patient,
        pathway=pathway,
        anchor_date=dt.date(2024, 5, 1),
        actor=other_team_clinician,
    )
    return mine, theirs


def test_a_staff_member_sees_only_their_teams_plans(client, staff_admin, plans):
    mine, theirs = plans
    client.force_login(staff_admin)
    response = client.get(reverse("admin:careplans_followupplan_changelist"))
    assertContains(response, plan_url(mine))
    assertNotContains(response, plan_url(theirs))
    assert client.get(plan_url(theirs)).status_code == 302  # admin: "does not exist"


def test_a_plan_is_read_only_with_its_history_and_opening_it_is_logged(
    client, staff_admin, plans, patient
):
    mine, _ = plans
    client.force_login(staff_admin)
    response = client.get(plan_url(mine))
    assert response.status_code == 200
    assertNotContains(response, 'name="_save"')
    assertContains(response, "started")
    assert AccessEvent.objects.filter(
        user=staff_admin, patient=patient, channel="admin", action="plan"
    ).exists()


def test_a_superuser_sees_every_plan(admin_client, plans):
    mine, theirs = plans
    response = admin_client.get(reverse("admin:careplans_followupplan_changelist"))
    assertContains(response, plan_url(mine))
    assertContains(response, plan_url(theirs))


def test_a_superuser_adds_a_pathway_with_a_step_and_a_rule(admin_client):
    data = {
        "code": "breast-local",
        "name": "Breast cancer: local protocol",
        "tumour_site": "breast",
        "treatment": "Surgery",
        "description": "Local protocol, agreed by the team.",
        "active": "on",
        "schedule-TOTAL_FORMS": 1,
        "schedule-INITIAL_FORMS": 0,
        "schedule-MIN_NUM_FORMS": 0,
        "schedule-MAX_NUM_FORMS": 1000,
        "schedule-0-test_code": "CA153",
        "schedule-0-test_name": "CA 15-3",
        "schedule-0-from_month": 0,
        "schedule-0-until_month": 60,
        "schedule-0-every_months": 6,
        "schedule-0-grace_days": 28,
        "rules-TOTAL_FORMS": 1,
        "rules-INITIAL_FORMS": 0,
        "rules-MIN_NUM_FORMS": 0,
        "rules-MAX_NUM_FORMS": 1000,
        "rules-0-name": "CA 15-3 above 30",
        "rules-0-test_code": "CA153",
        "rules-0-rule_type": "absolute_limit",
        "rules-0-params": json.dumps({"threshold": 30, "units": "kU/L"}),
        "rules-0-priority": 2,
        "rules-0-active": "on",
        "rules-0-description": "",
    }
    response = admin_client.post(reverse("admin:careplans_pathway_add"), data)
    assert response.status_code == 302
    pathway = Pathway.objects.get(code="breast-local")
    assert pathway.schedule.get().every_months == 6
    assert pathway.rules.get().params == {"threshold": 30, "units": "kU/L"}


def test_a_step_that_ends_before_it_starts_is_refused(admin_client, pathway):
    data = pathway_post(pathway)
    data["schedule-0-until_month"] = 0
    response = admin_client.post(pathway_url(pathway), data)
    assert response.status_code == 200
    assert ScheduleStep.objects.get(pk=data["schedule-0-id"]).until_month == 6
