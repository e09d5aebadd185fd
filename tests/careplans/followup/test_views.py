"""The follow-up plan pages: the patient's plans panel (and starting a plan) and one plan's
page (pause, resume, end; change an interval or a rule value; add a test)."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.contrib.messages import get_messages
from django.urls import reverse
from pytest_django.asserts import assertContains, assertNotContains, assertRedirects

from careplans.followup import services
from careplans.models import FollowUpPlan, Pathway, PlanChange, Rule, ScheduleStep
from rms.models import AccessEvent, Patient

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}


@pytest.fixture(autouse=True)
def today():
    with time_machine.travel(dt.datetime(2025, 3, 15, 12, 0, tzinfo=dt.UTC), tick=False):
        yield


def panel_url(patient: Patient) -> str:
    return reverse("careplans:patient_plans", args=[patient.public_id])


def start_url(patient: Patient) -> str:
    return reverse("careplans:plan_start", args=[patient.public_id])


def plan_url(plan: FollowUpPlan, name: str = "plan_detail") -> str:
    return reverse(f"careplans:{name}", args=[plan.patient.public_id, plan.public_id])


def started(patient, actor, code="prostate-post-prostatectomy") -> FollowUpPlan:
    return services.plan_start(
        patient=patient,
        pathway=Pathway.objects.get(code=code),
        anchor_date=dt.date(2025, 1, 20),
        actor=actor,
    )


def page_messages(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


# --- the panel -----------------------------------------------------------------------------


def test_the_patient_record_loads_the_panel_with_htmx_and_links_to_it_without(
    client, clinician, patient
):
    client.force_login(clinician)
    response = client.get(reverse("rms:patient_detail", args=[patient.public_id]))
    assertContains(response, f'hx-get="{panel_url(patient)}"')
    assertContains(response, f'<a href="{panel_url(patient)}">Follow-up plans</a>', html=True)


def test_a_clinician_sees_the_plans_with_next_dues_and_rules_in_words_and_the_start_form(
    client, clinician, patient
):
    started(patient, clinician)
    client.force_login(clinician)

    response = client.get(panel_url(patient))

    assertContains(response, "Prostate cancer after radical prostatectomy")
    assertContains(response, "20-Apr-2025")
    assertContains(response, "PSA at or above 0.2 ug/L on 2 separate samples in a row")
    assertContains(response, "PSA doubling time 12 months or less")
    assertContains(response, "every 3 months from treatment to 6 months")
    assertContains(response, "Start a follow-up plan")
    assertContains(response, f'hx-post="{start_url(patient)}"')
    assertContains(response, "<html")  # a page of its own without htmx
    event = AccessEvent.objects.get(action="plans")
    assert (event.user, event.outcome) == (clinician, "allowed")


def test_the_panel_shows_the_date_a_raised_value_must_be_repeated_by(client, clinician, patient):
    """Clinical vocabulary, "Awaiting confirmation": the clinician sees the repeat-by date
    (AUA 2007: a first PSA >= 0.2 repeated within 6 weeks)."""
    plan = started(patient, clinician)
    services.plan_test_confirm_by(plan=plan, test_code="PSA", repeat_by=dt.date(2025, 4, 2))
    client.force_login(clinician)

    response = client.get(panel_url(patient))

    assertContains(response, "repeat PSA by 2 Apr 2025")
    assertContains(response, "02-Apr-2025")  # the next due date, brought forward


def test_the_panel_shows_no_repeat_when_none_is_awaited(client, clinician, patient):
    started(patient, clinician)
    client.force_login(clinician)
    assertNotContains(client.get(panel_url(patient)), "repeat PSA by")


def test_with_htmx_the_panel_is_a_fragment(client, clinician, patient):
    client.force_login(clinician)
    response = client.get(panel_url(patient), headers=HTMX)
    assertContains(response, 'id="careplans-panel"')
    assertNotContains(response, "<html")


def test_a_viewer_sees_the_plans_but_no_form(client, clinician, viewer, patient):
    started(patient, clinician)
    client.force_login(viewer)
    response = client.get(panel_url(patient))
    assertContains(response, "Prostate cancer after radical prostatectomy")
    assertNotContains(response, "Start a follow-up plan")
    assertNotContains(response, "hx-post")


def test_a_clinician_of_another_team_gets_a_404_and_the_refusal_is_logged(
    client, other_team_clinician, patient
):
    client.force_login(other_team_clinician)
    assert client.get(panel_url(patient)).status_code == 404
    assert AccessEvent.objects.get().outcome == "denied"


def test_the_panel_sends_an_anonymous_user_to_log_in(client, patient):
    url = panel_url(patient)
    response = client.get(url)
    assertRedirects(response, f"{reverse('login')}?next={url}", fetch_redirect_response=False)


# --- starting a plan -----------------------------------------------------------------------


def test_a_clinician_starts_a_plan_and_comes_back_to_the_panel(client, clinician, patient):
    client.force_login(clinician)
    response = client.post(
        start_url(patient), {"pathway": "colorectal-cea", "anchor_date": "2025-01-20"}
    )
    assertRedirects(response, panel_url(patient), fetch_redirect_response=False)
    plan = FollowUpPlan.objects.get(patient=patient)
    assert (plan.pathway.code, plan.started_by) == ("colorectal-cea", clinician)
    assert page_messages(response) == [
        "Follow-up plan started: Colorectal cancer: CEA surveillance."
    ]


def test_with_htmx_starting_a_plan_answers_with_the_new_panel(client, clinician, patient):
    client.force_login(clinician)
    response = client.post(
        start_url(patient),
        {"pathway": "colorectal-cea", "anchor_date": "2025-01-20"},
        headers=HTMX,
    )
    assertContains(response, "Colorectal cancer: CEA surveillance")
    assertContains(response, "Follow-up plan started")
    assertContains(response, "20-Jul-2025")
    assertNotContains(response, "<html")


def test_a_future_anchor_date_is_shown_on_the_form(client, clinician, patient):
    client.force_login(clinician)
    response = client.post(
        start_url(patient),
        {"pathway": "colorectal-cea", "anchor_date": "2025-04-01"},
        headers=HTMX,
    )
    assertContains(response, "cannot be in the future")
    assert not FollowUpPlan.objects.exists()


def test_an_unknown_pathway_is_shown_on_the_form(client, clinician, patient):
    client.force_login(clinician)
    response = client.post(start_url(patient), {"pathway": "nope", "anchor_date": "2025-01-01"})
    assert response.status_code == 200
    assertContains(response, "Select a valid choice")
    assert not FollowUpPlan.objects.exists()


def test_a_viewer_cannot_start_a_plan(client, viewer, patient):
    client.force_login(viewer)
    response = client.post(
        start_url(patient), {"pathway": "colorectal-cea", "anchor_date": "2025-01-20"}
    )
    assert response.status_code == 403
    assert not FollowUpPlan.objects.exists()


def test_a_clinician_of_another_team_cannot_start_a_plan(client, other_team_clinician, patient):
    client.force_login(other_team_clinician)
    response = client.post(
        start_url(patient), {"pathway": "colorectal-cea", "anchor_date": "2025-01-20"}
    )
    assert response.status_code == 404
    assert not FollowUpPlan.objects.exists()


# --- one plan's page -----------------------------------------------------------------------


def test_a_clinician_sees_the_plan_with_its_forms_and_history(client, clinician, patient):
    plan = started(patient, clinician)
    client.force_login(clinician)

    response = client.get(plan_url(plan))

    assertContains(response, "Prostate cancer after radical prostatectomy")
    assertContains(response, "AUA")  # the pathway's source
    assertContains(response, "Pause plan")
    assertContains(response, "End plan")
    assertContains(response, "Change interval")
    assertContains(response, "Change rule")
    assertContains(response, "Add test")
    assertContains(response, "Pathway prostate-post-prostatectomy from 2025-01-20")


def test_a_viewer_sees_the_plan_without_forms(client, clinician, viewer, patient):
    plan = started(patient, clinician)
    client.force_login(viewer)
    response = client.get(plan_url(plan))
    assertContains(response, "Prostate cancer after radical prostatectomy")
    assertNotContains(response, '<form method="post" action="/plans/')
    assertNotContains(response, "Change interval")


def test_the_plan_page_is_a_404_for_another_team(client, clinician, other_team_clinician, patient):
    plan = started(patient, clinician)
    client.force_login(other_team_clinician)
    assert client.get(plan_url(plan)).status_code == 404


def test_a_plan_of_another_patient_is_a_404(client, clinician, team, patient):
    from tests.factories import PatientFactory

    plan = started(PatientFactory(teams=[team]), clinician)
    client.force_login(clinician)
    url = reverse("careplans:plan_detail", args=[patient.public_id, plan.public_id])
    assert client.get(url).status_code == 404


def test_an_ended_plan_has_no_forms(client, clinician, patient):
    plan = started(patient, clinician)
    services.plan_end(plan=plan, actor=clinician, reason="Discharged")
    client.force_login(clinician)
    response = client.get(plan_url(plan))
    assertContains(response, "Ended")
    assertContains(response, "Discharged")
    assertNotContains(response, "Change interval")


# --- pause, resume, end --------------------------------------------------------------------


def test_a_clinician_pauses_resumes_and_ends_a_plan_with_reasons(client, clinician, patient):
    plan = started(patient, clinician)
    client.force_login(clinician)

    response = client.post(plan_url(plan, "plan_pause"), {"pause-reason": "In hospital"})
    assertRedirects(response, plan_url(plan), fetch_redirect_response=False)
    client.post(plan_url(plan, "plan_resume"), {"resume-reason": "Home"})
    client.post(plan_url(plan, "plan_end"), {"end-reason": "Discharged to GP"})

    plan.refresh_from_db()
    assert plan.status == FollowUpPlan.Status.ENDED
    assert list(plan.changes.values_list("action", "reason")) == [
        ("started", ""),
        ("paused", "In hospital"),
        ("resumed", "Home"),
        ("ended", "Discharged to GP"),
    ]


def test_pausing_without_a_reason_shows_the_form_again(client, clinician, patient):
    plan = started(patient, clinician)
    client.force_login(clinician)
    response = client.post(plan_url(plan, "plan_pause"), {"pause-reason": ""})
    assert response.status_code == 200
    assertContains(response, "This field is required")
    plan.refresh_from_db()
    assert plan.status == FollowUpPlan.Status.ACTIVE


def test_resuming_an_ended_plan_says_why_not(client, clinician, patient):
    plan = started(patient, clinician)
    services.plan_end(plan=plan, actor=clinician, reason="Done")
    client.force_login(clinician)
    response = client.post(plan_url(plan, "plan_resume"), {"resume-reason": "Oops"})
    assertRedirects(response, plan_url(plan), fetch_redirect_response=False)
    assert "has ended" in page_messages(response)[0]


def test_a_viewer_cannot_pause_a_plan(client, clinician, viewer, patient):
    plan = started(patient, clinician)
    client.force_login(viewer)
    assert client.post(plan_url(plan, "plan_pause"), {"pause-reason": "x"}).status_code == 403
    plan.refresh_from_db()
    assert plan.status == FollowUpPlan.Status.ACTIVE


def test_another_team_cannot_end_a_plan(client, clinician, other_team_clinician, patient):
    plan = started(patient, clinician)
    client.force_login(other_team_clinician)
    assert client.post(plan_url(plan, "plan_end"), {"end-reason": "x"}).status_code == 404


# --- customising ---------------------------------------------------------------------------


def test_a_clinician_changes_an_interval_with_a_reason(client, clinician, patient):
    plan = started(patient, clinician)
    step = ScheduleStep.objects.get(plan=plan, from_month=0)
    client.force_login(clinician)

    response = client.post(
        plan_url(plan, "plan_interval"),
        {"step": step.pk, "every_months": 2, "reason": "Anxious patient"},
    )

    assertRedirects(response, plan_url(plan), fetch_redirect_response=False)
    step.refresh_from_db()
    assert step.every_months == 2
    assert plan.tests.get().next_due_date == dt.date(2025, 3, 20)
    assert PlanChange.objects.get(plan=plan, action="interval_changed").reason == "Anxious patient"


def test_an_interval_out_of_range_is_shown_on_the_form(client, clinician, patient):
    plan = started(patient, clinician)
    step = ScheduleStep.objects.get(plan=plan, from_month=0)
    client.force_login(clinician)
    response = client.post(
        plan_url(plan, "plan_interval"), {"step": step.pk, "every_months": 0, "reason": "x"}
    )
    assert response.status_code == 200
    assertContains(response, "greater than or equal to 1")
    step.refresh_from_db()
    assert step.every_months == 3


def test_a_step_of_the_pathway_cannot_be_changed_through_a_plan(client, clinician, patient):
    plan = started(patient, clinician)
    template_step = ScheduleStep.objects.get(pathway=plan.pathway, from_month=0)
    client.force_login(clinician)
    response = client.post(
        plan_url(plan, "plan_interval"),
        {"step": template_step.pk, "every_months": 1, "reason": "x"},
    )
    assertRedirects(response, plan_url(plan), fetch_redirect_response=False)
    template_step.refresh_from_db()
    assert template_step.every_months == 3


def test_a_viewer_cannot_change_an_interval(client, clinician, viewer, patient):
    plan = started(patient, clinician)
    step = ScheduleStep.objects.get(plan=plan, from_month=0)
    client.force_login(viewer)
    response = client.post(
        plan_url(plan, "plan_interval"), {"step": step.pk, "every_months": 1, "reason": "x"}
    )
    assert response.status_code == 403


def _rule_post(rule: Rule, **changes: str) -> dict[str, object]:
    data: dict[str, object] = {"rule": rule.pk, "reason": "High-risk pathology"}
    for name, value in rule.params.items():
        data[f"param_{name}"] = str(value)
    for name, value in changes.items():
        data[f"param_{name}"] = value
    return data


def test_a_clinician_changes_a_rule_value(client, clinician, patient):
    plan = started(patient, clinician)
    rule = Rule.objects.get(plan=plan, code="bcr_post_rp")
    client.force_login(clinician)

    response = client.post(plan_url(plan, "plan_rule"), _rule_post(rule, threshold="0.1"))

    assertRedirects(response, plan_url(plan), fetch_redirect_response=False)
    rule.refresh_from_db()
    assert rule.params == {
        "threshold": "0.1",
        "confirmations": 2,
        "repeat_after_days": 42,
        "units": "ug/L",
    }
    change = PlanChange.objects.get(plan=plan, action="rule_changed")
    assert change.reason == "High-risk pathology"


def test_a_bad_rule_value_is_shown_on_its_field(client, clinician, patient):
    plan = started(patient, clinician)
    rule = Rule.objects.get(plan=plan, code="bcr_post_rp")
    client.force_login(clinician)

    response = client.post(plan_url(plan, "plan_rule"), _rule_post(rule, confirmations="0"))

    assert response.status_code == 200
    assertContains(response, "confirmations: must be at least 1")
    rule.refresh_from_db()
    assert rule.params["confirmations"] == 2


def test_a_viewer_cannot_change_a_rule(client, clinician, viewer, patient):
    plan = started(patient, clinician)
    rule = Rule.objects.get(plan=plan, code="bcr_post_rp")
    client.force_login(viewer)
    response = client.post(plan_url(plan, "plan_rule"), _rule_post(rule, threshold="9"))
    assert response.status_code == 403


def test_a_clinician_adds_a_test(client, clinician, patient):
    plan = started(patient, clinician)
    client.force_login(clinician)
    response = client.post(
        plan_url(plan, "plan_add_test"),
        {
            "test_code": "TESTO",
            "test_name": "Testosterone",
            "every_months": 6,
            "reason": "On hormone therapy",
        },
    )
    assertRedirects(response, plan_url(plan), fetch_redirect_response=False)
    assert plan.tests.filter(test_code="TESTO").exists()


def test_adding_a_test_already_in_the_plan_is_shown_on_the_form(client, clinician, patient):
    plan = started(patient, clinician)
    client.force_login(clinician)
    response = client.post(
        plan_url(plan, "plan_add_test"),
        {"test_code": "PSA", "test_name": "PSA", "every_months": 6, "reason": "x"},
    )
    assert response.status_code == 200
    assertContains(response, "already in this plan")


def test_a_viewer_cannot_add_a_test(client, clinician, viewer, patient):
    plan = started(patient, clinician)
    client.force_login(viewer)
    response = client.post(
        plan_url(plan, "plan_add_test"),
        {"test_code": "TESTO", "test_name": "T", "every_months": 6, "reason": "x"},
    )
    assert response.status_code == 403
