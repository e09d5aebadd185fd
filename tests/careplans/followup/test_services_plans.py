from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
import time_machine
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from careplans.followup import services
from careplans.models import FollowUpPlan, Pathway, PlanChange, PlanTest, Rule, ScheduleStep
from rms.models import Observation, Result
from tests.factories import ObservationFactory, ResultFactory, TeamFactory

TODAY = dt.date(2025, 3, 15)


@pytest.fixture(autouse=True)
def today():
    with time_machine.travel(dt.datetime(2025, 3, 15, 12, 0, tzinfo=dt.UTC), tick=False):
        yield


def _result(patient, day: dt.date, *, code: str = "PSA", value: str = "0.05", **kwargs):
    at = dt.datetime.combine(day, dt.time(9, 30), tzinfo=dt.UTC)
    result = ResultFactory(patient=patient, observed_at=at, **kwargs.pop("result", {}))
    return ObservationFactory(
        result=result, code=code, value_text=value, value_numeric=Decimal(value), **kwargs
    )


def _pathway(code: str = "prostate-post-prostatectomy") -> Pathway:
    return Pathway.objects.get(code=code)


def _start(patient, actor, *, anchor=dt.date(2024, 9, 1), code="prostate-post-prostatectomy"):
    return services.plan_start(
        patient=patient, pathway=_pathway(code), anchor_date=anchor, actor=actor
    )


# --- plan_start ----------------------------------------------------------------------------


def test_it_copies_the_pathways_schedule_and_rules_onto_the_plan(patient, clinician):
    plan = _start(patient, clinician)

    pathway = _pathway()
    assert plan.status == FollowUpPlan.Status.ACTIVE
    assert plan.team.code == "URO"
    assert plan.started_by == clinician
    copied = [
        (s.test_code, s.from_month, s.until_month, s.every_months) for s in plan.schedule.all()
    ]
    template = [
        (s.test_code, s.from_month, s.until_month, s.every_months) for s in pathway.schedule.all()
    ]
    assert copied == template
    assert sorted((r.rule_type, str(r.params)) for r in plan.rules.all()) == sorted(
        (r.rule_type, str(r.params)) for r in pathway.rules.all()
    )
    assert all(s.pathway_id is None for s in plan.schedule.all())
    assert all(r.pathway_id is None for r in plan.rules.all())
    # The template keeps its own rows.
    assert pathway.schedule.count() == 3


def test_it_makes_the_first_test_due_one_interval_after_the_anchor(patient, clinician):
    plan = _start(patient, clinician, anchor=dt.date(2025, 1, 20))

    test = plan.tests.get()
    assert (test.test_code, test.next_due_date, test.last_result_at) == (
        "PSA",
        dt.date(2025, 4, 20),
        None,
    )


def test_it_counts_from_the_latest_result_since_the_anchor_matching_the_code_in_any_case(
    patient, clinician
):
    _result(patient, dt.date(2024, 8, 1))  # before the anchor: ignored
    latest = _result(patient, dt.date(2024, 12, 2), code="psa")

    plan = _start(patient, clinician, anchor=dt.date(2024, 9, 1))

    test = plan.tests.get()
    assert test.last_result_at == latest.observed_at
    # The EAU grid (3, 6, 12 months...): the result of 2 Dec 2024 counts for the 3-month
    # point (1 Dec 2024), so the test is next due at 6 months, not 3 months after the day it
    # was taken.
    assert test.next_due_date == dt.date(2025, 3, 1)


def test_it_ignores_results_that_do_not_count(patient, clinician):
    _result(patient, dt.date(2024, 12, 2), result={"status": Result.Status.CANCELLED})
    _result(patient, dt.date(2024, 12, 3), status=Observation.Status.DELETED)
    _result(patient, dt.date(2024, 12, 4), superseded_at=timezone.now())

    plan = _start(patient, clinician, anchor=dt.date(2024, 9, 1))

    # As with no result: the first grid point on or after the plan's start (15 Mar 2025) is
    # 12 months. Any of these counted would make it 6 months (1 Mar 2025).
    assert plan.tests.get().next_due_date == dt.date(2025, 9, 1)


def test_a_value_that_cannot_be_read_still_counts_as_the_test_done(patient, clinician):
    """Clinical vocabulary: a value that cannot be read as a number ("haemolysed", "see
    comment") is sent for review, and the test still counts as done for the schedule. The
    PSA of 2 Dec 2024 is the 3-month test (1 Dec 2024): next due at 6 months, 1 Mar 2025."""
    text = _result(patient, dt.date(2024, 12, 2))
    Observation.objects.filter(pk=text.pk).update(
        value_numeric=None, value_text="Haemolysed", value_type="TX"
    )

    plan = _start(patient, clinician, anchor=dt.date(2024, 9, 1))

    plan_test = plan.tests.get()
    assert plan_test.next_due_date == dt.date(2025, 3, 1)
    assert plan_test.last_result_at == text.observed_at


def test_it_records_who_started_the_plan_and_from_what(patient, clinician):
    plan = _start(patient, clinician)

    change = PlanChange.objects.get(plan=plan)
    assert (change.action, change.actor) == ("started", clinician)
    assert change.details["pathway"] == "prostate-post-prostatectomy"
    assert change.details["anchor_date"] == "2024-09-01"
    assert len(change.details["schedule"]) == 3
    # AUA recurrence, EAU persistence, rises and doubling time.
    assert len(change.details["rules"]) == 4


def test_starting_the_same_pathway_again_returns_the_open_plan(patient, clinician, team_admin):
    first = _start(patient, clinician)
    second = _start(patient, team_admin, anchor=dt.date(2024, 10, 1))

    assert second.pk == first.pk
    assert FollowUpPlan.objects.filter(patient=patient).count() == 1
    assert PlanChange.objects.filter(plan=first).count() == 1


def test_a_patient_can_follow_two_pathways(patient, clinician):
    _start(patient, clinician)
    _start(patient, clinician, code="colorectal-cea")

    assert FollowUpPlan.objects.filter(patient=patient).count() == 2


def test_a_new_plan_can_start_once_the_old_one_has_ended(patient, clinician):
    old = _start(patient, clinician)
    services.plan_end(plan=old, actor=clinician, reason="Restaging")

    new = _start(patient, clinician, anchor=dt.date(2025, 2, 1))

    assert new.pk != old.pk


def test_it_refuses_a_viewer(patient, viewer):
    with pytest.raises(PermissionDenied):
        _start(patient, viewer)
    assert not FollowUpPlan.objects.exists()


def test_it_refuses_a_clinician_from_another_team(patient, other_team_clinician):
    with pytest.raises(PermissionDenied):
        _start(patient, other_team_clinician)


@pytest.mark.parametrize(
    ("anchor", "words"),
    [(dt.date(2025, 3, 16), "future"), (dt.date(1995, 3, 14), "30 years")],
)
def test_it_refuses_an_anchor_date_in_the_future_or_too_long_ago(patient, clinician, anchor, words):
    with pytest.raises(ValidationError) as caught:
        _start(patient, clinician, anchor=anchor)
    assert words in caught.value.message_dict["anchor_date"][0]
    assert not FollowUpPlan.objects.exists()


def test_it_accepts_an_anchor_of_today(patient, clinician):
    assert _start(patient, clinician, anchor=TODAY).anchor_date == TODAY


def test_it_refuses_a_pathway_no_longer_offered(patient, clinician):
    Pathway.objects.filter(code="colorectal-cea").update(active=False)
    with pytest.raises(ValidationError) as caught:
        _start(patient, clinician, code="colorectal-cea")
    assert "pathway" in caught.value.message_dict


def test_it_refuses_a_team_the_clinician_does_not_write_for(patient, clinician):
    with pytest.raises(ValidationError) as caught:
        services.plan_start(
            patient=patient,
            pathway=_pathway(),
            anchor_date=dt.date(2024, 9, 1),
            actor=clinician,
            team=TeamFactory(code="ELSEWHERE"),
        )
    assert "team" in caught.value.message_dict


# --- pause, resume, end --------------------------------------------------------------------


def test_pausing_resuming_and_ending_are_each_recorded_with_the_reason(patient, clinician):
    plan = _start(patient, clinician)

    plan = services.plan_pause(plan=plan, actor=clinician, reason="Patient in hospital")
    assert plan.status == FollowUpPlan.Status.PAUSED
    plan = services.plan_resume(plan=plan, actor=clinician, reason="Home again")
    assert plan.status == FollowUpPlan.Status.ACTIVE
    plan = services.plan_end(plan=plan, actor=clinician, reason="Discharged to GP")
    assert plan.status == FollowUpPlan.Status.ENDED
    assert plan.ended_at is not None

    changes = list(plan.changes.values_list("action", "reason", "actor"))
    assert changes == [
        ("started", "", clinician.pk),
        ("paused", "Patient in hospital", clinician.pk),
        ("resumed", "Home again", clinician.pk),
        ("ended", "Discharged to GP", clinician.pk),
    ]


def test_repeating_a_status_change_changes_nothing(patient, clinician):
    plan = _start(patient, clinician)
    services.plan_pause(plan=plan, actor=clinician, reason="Away")
    services.plan_pause(plan=plan, actor=clinician, reason="Away")
    services.plan_resume(plan=plan, actor=clinician, reason="Back")
    services.plan_resume(plan=plan, actor=clinician, reason="Back")
    services.plan_end(plan=plan, actor=clinician, reason="Done")
    services.plan_end(plan=plan, actor=clinician, reason="Done")

    assert plan.changes.count() == 4


def test_ending_a_plan_leaves_its_tests_without_a_due_date(patient, clinician):
    plan = _start(patient, clinician)
    services.plan_end(plan=plan, actor=clinician, reason="Discharged")

    assert plan.tests.get().next_due_date is None


def test_an_ended_plan_cannot_be_paused_or_resumed(patient, clinician):
    plan = _start(patient, clinician)
    services.plan_end(plan=plan, actor=clinician, reason="Discharged")

    for service in (services.plan_pause, services.plan_resume):
        with pytest.raises(ValidationError) as caught:
            service(plan=plan, actor=clinician, reason="Why not")
        assert "status" in caught.value.message_dict


def test_a_status_change_needs_a_reason(patient, clinician):
    plan = _start(patient, clinician)
    with pytest.raises(ValidationError) as caught:
        services.plan_pause(plan=plan, actor=clinician, reason="  ")
    assert "reason" in caught.value.message_dict
    plan.refresh_from_db()
    assert plan.status == FollowUpPlan.Status.ACTIVE


def test_a_viewer_cannot_pause_a_plan(patient, clinician, viewer):
    plan = _start(patient, clinician)
    with pytest.raises(PermissionDenied):
        services.plan_pause(plan=plan, actor=viewer, reason="Away")


def test_resuming_recomputes_the_due_dates_from_results_that_arrived_meanwhile(patient, clinician):
    plan = _start(patient, clinician, anchor=dt.date(2024, 9, 1))
    services.plan_pause(plan=plan, actor=clinician, reason="Away")
    _result(patient, dt.date(2025, 3, 1))

    services.plan_resume(plan=plan, actor=clinician, reason="Back")

    assert plan.tests.get().next_due_date == dt.date(2025, 9, 1)


# --- customisations ------------------------------------------------------------------------


def test_changing_an_interval_recomputes_the_due_date_and_is_recorded(patient, clinician):
    plan = _start(patient, clinician, anchor=dt.date(2025, 1, 20))
    step = plan.schedule.get(from_month=0)

    services.plan_set_interval(
        plan=plan, step=step, every_months=2, actor=clinician, reason="Anxious patient"
    )

    step.refresh_from_db()
    assert step.every_months == 2
    assert plan.tests.get().next_due_date == dt.date(2025, 3, 20)
    change = plan.changes.get(action="interval_changed")
    assert change.reason == "Anxious patient"
    assert change.details["every_months"] == {"before": 3, "after": 2}
    assert change.details["from_month"] == 0
    # The pathway template is untouched.
    assert _pathway().schedule.get(from_month=0).every_months == 3


def test_setting_the_same_interval_again_records_nothing(patient, clinician):
    plan = _start(patient, clinician)
    step = plan.schedule.get(from_month=0)

    services.plan_set_interval(plan=plan, step=step, every_months=3, actor=clinician, reason="Same")

    assert not plan.changes.filter(action="interval_changed").exists()


@pytest.mark.parametrize("months", [0, 121, "3", True])
def test_it_refuses_an_interval_out_of_range(patient, clinician, months):
    plan = _start(patient, clinician)
    with pytest.raises(ValidationError) as caught:
        services.plan_set_interval(
            plan=plan, step=plan.schedule.first(), every_months=months, actor=clinician, reason="x"
        )
    assert "every_months" in caught.value.message_dict


def test_it_refuses_a_step_of_another_plan_or_of_a_pathway(patient, clinician):
    plan = _start(patient, clinician)
    other = _start(patient, clinician, code="colorectal-cea")
    for step in (other.schedule.first(), _pathway().schedule.first()):
        with pytest.raises(ValidationError) as caught:
            services.plan_set_interval(
                plan=plan, step=step, every_months=4, actor=clinician, reason="x"
            )
        assert "step" in caught.value.message_dict


def test_changing_a_rule_value_is_checked_and_recorded(patient, clinician):
    plan = _start(patient, clinician)
    rule = plan.rules.get(code="bcr_post_rp")
    new = {**rule.params, "threshold": "0.1"}

    services.plan_set_rule_params(
        plan=plan, rule=rule, params=new, actor=clinician, reason="High-risk pathology"
    )

    rule.refresh_from_db()
    assert rule.params["threshold"] == "0.1"
    change = plan.changes.get(action="rule_changed")
    assert change.details["params"]["before"]["threshold"] == "0.2"
    assert change.details["params"]["after"]["threshold"] == "0.1"
    assert _pathway().rules.get(code="bcr_post_rp").params["threshold"] == "0.2"


def test_a_bad_rule_value_is_refused_naming_the_parameter(patient, clinician):
    plan = _start(patient, clinician)
    rule = plan.rules.get(code="bcr_post_rp")

    with pytest.raises(ValidationError) as caught:
        services.plan_set_rule_params(
            plan=plan,
            rule=rule,
            params={**rule.params, "confirmations": 0},
            actor=clinician,
            reason="x",
        )

    error = caught.value.error_dict["params"][0]
    assert error.code == "confirmations"
    assert "confirmations" in error.message
    rule.refresh_from_db()
    assert rule.params["confirmations"] == 2
    assert not plan.changes.filter(action="rule_changed").exists()


def test_an_unknown_rule_parameter_is_refused(patient, clinician):
    plan = _start(patient, clinician)
    rule = plan.rules.get(code="bcr_post_rp")
    with pytest.raises(ValidationError) as caught:
        services.plan_set_rule_params(
            plan=plan, rule=rule, params={**rule.params, "limit": 1}, actor=clinician, reason="x"
        )
    assert caught.value.error_dict["params"][0].code == "limit"


def test_a_viewer_cannot_change_a_rule(patient, clinician, viewer):
    plan = _start(patient, clinician)
    rule = plan.rules.first()
    with pytest.raises(PermissionDenied):
        services.plan_set_rule_params(
            plan=plan, rule=rule, params=rule.params, actor=viewer, reason="x"
        )


def test_adding_a_test_schedules_it_from_now_and_records_it(patient, clinician):
    plan = _start(patient, clinician, anchor=dt.date(2023, 3, 1))

    plan_test = services.plan_add_test(
        plan=plan,
        test_code="TESTO",
        test_name="Testosterone",
        every_months=6,
        actor=clinician,
        reason="On hormone therapy",
    )

    # Two years after the anchor: first due six months from this month, not long overdue.
    assert plan_test.next_due_date == dt.date(2025, 9, 1)
    step = ScheduleStep.objects.get(plan=plan, test_code="TESTO")
    assert (step.from_month, step.until_month, step.every_months) == (24, None, 6)
    change = plan.changes.get(action="test_added")
    assert change.details["test_code"] == "TESTO"
    assert change.reason == "On hormone therapy"


def test_adding_a_test_already_in_the_plan_is_refused(patient, clinician):
    plan = _start(patient, clinician)
    with pytest.raises(ValidationError) as caught:
        services.plan_add_test(
            plan=plan, test_code="psa", test_name="PSA", every_months=1, actor=clinician, reason="x"
        )
    assert "test_code" in caught.value.message_dict


def test_an_ended_plan_cannot_be_customised(patient, clinician):
    plan = _start(patient, clinician)
    services.plan_end(plan=plan, actor=clinician, reason="Done")
    with pytest.raises(ValidationError) as caught:
        services.plan_set_interval(
            plan=plan, step=plan.schedule.first(), every_months=4, actor=clinician, reason="x"
        )
    assert "status" in caught.value.message_dict


# --- plan_test_refresh ---------------------------------------------------------------------


def test_refreshing_a_test_moves_its_due_date_after_a_new_result(patient, clinician):
    plan = _start(patient, clinician, anchor=dt.date(2025, 1, 20))
    plan_test = plan.tests.get()
    assert plan_test.next_due_date == dt.date(2025, 4, 20)

    # 10 Mar 2025 is nearer the 3-month point (20 Apr, 41 days) than the anchor (49 days):
    # it counts for 3 months, and the test is next due at 6.
    observation = _result(patient, dt.date(2025, 3, 10))
    services.plan_test_refresh(plan_test=plan_test)

    plan_test.refresh_from_db()
    assert plan_test.next_due_date == dt.date(2025, 7, 20)
    assert plan_test.last_result_at == observation.observed_at


def test_refreshing_after_a_deleted_result_goes_back_to_the_one_before(patient, clinician):
    _result(patient, dt.date(2024, 12, 1))
    late = _result(patient, dt.date(2025, 3, 10))
    plan = _start(patient, clinician, anchor=dt.date(2024, 9, 1))
    Result.objects.filter(pk=late.result_id).update(status=Result.Status.DELETED)

    plan_test = services.plan_test_refresh(plan_test=PlanTest.objects.get(plan=plan))

    assert plan_test.next_due_date == dt.date(2025, 3, 1)


def test_rules_copied_to_a_plan_do_not_change_with_the_template(patient, clinician):
    plan = _start(patient, clinician)
    Rule.objects.filter(
        pathway__code="prostate-post-prostatectomy", rule_type="doubling_time"
    ).update(params={"max_months": 6, "units": "ug/L"})

    assert plan.rules.get(rule_type="doubling_time").params["max_months"] == 12


# --- plan_test_confirm_by (awaiting confirmation) ------------------------------------------
# Clinical vocabulary, "Awaiting confirmation": the test's next due date becomes
# min(grid due date, repeat_by) until the confirming value arrives. AUA 2007 (Cookson et al.,
# J Urol 2007;177:540-545): PSA >= 0.2 ng/mL confirmed by a second value; repeat_by = the
# first value's date + 6 weeks. Plan from surgery on 20 Jan 2025, started 15 Mar 2025: the
# EAU grid points are 20 Apr (3 months), 20 Jul (6), 20 Jan 2026 (12).


def test_awaiting_confirmation_brings_the_next_due_date_forward(patient, clinician):
    """A PSA of 0.25 on 10 Mar 2025 counts for the 3-month point (41 days before it, 49
    after surgery): the grid says 6 months (20 Jul 2025). The AUA repeat is due 6 weeks after
    it: 10 Mar + 42 days = 21 Apr 2025, the sooner of the two."""
    _result(patient, dt.date(2025, 3, 10), value="0.25")
    plan = _start(patient, clinician, anchor=dt.date(2025, 1, 20))
    assert plan.tests.get().next_due_date == dt.date(2025, 7, 20)

    plan_test = services.plan_test_confirm_by(
        plan=plan, test_code="PSA", repeat_by=dt.date(2025, 4, 21)
    )

    plan_test = PlanTest.objects.get(pk=plan_test.pk)
    assert (plan_test.confirm_by, plan_test.next_due_date) == (
        dt.date(2025, 4, 21),
        dt.date(2025, 4, 21),
    )
    # Refreshing again (another result of another test, a re-run) keeps the wait.
    services.plan_test_refresh(plan_test=plan_test)
    plan_test.refresh_from_db()
    assert plan_test.next_due_date == dt.date(2025, 4, 21)


def test_the_repeat_ends_the_wait_and_the_grid_date_is_due_again(patient, clinician):
    """The repeat taken on 14 Apr 2025 (whatever its value) ends the wait: it counts for the
    3-month point (20 Apr), so the 6-month one (20 Jul 2025) is next due."""
    _result(patient, dt.date(2025, 3, 10), value="0.25")
    plan = _start(patient, clinician, anchor=dt.date(2025, 1, 20))
    plan_test = services.plan_test_confirm_by(
        plan=plan, test_code="psa", repeat_by=dt.date(2025, 4, 21)
    )

    _result(patient, dt.date(2025, 4, 14), value="0.15")
    services.plan_test_refresh(plan_test=plan_test)

    plan_test.refresh_from_db()
    assert (plan_test.confirm_by, plan_test.next_due_date) == (None, dt.date(2025, 7, 20))


def test_a_second_report_of_the_same_sample_does_not_end_the_wait(patient, clinician):
    """Clinical vocabulary: two results with the same collection time are one sample; they
    do not confirm each other, so the repeat is still awaited."""
    _result(patient, dt.date(2025, 3, 10), value="0.25")
    plan = _start(patient, clinician, anchor=dt.date(2025, 1, 20))
    plan_test = services.plan_test_confirm_by(
        plan=plan, test_code="PSA", repeat_by=dt.date(2025, 4, 21)
    )

    _result(patient, dt.date(2025, 3, 10), value="0.26")  # the same specimen, reported again
    services.plan_test_refresh(plan_test=plan_test)

    plan_test.refresh_from_db()
    assert (plan_test.confirm_by, plan_test.next_due_date) == (
        dt.date(2025, 4, 21),
        dt.date(2025, 4, 21),
    )


def test_a_repeat_by_date_after_the_grid_date_leaves_the_grid_date(patient, clinician):
    """min(grid, repeat_by): with the 3-month test due on 20 Apr 2025, a repeat asked for by
    1 May 2025 does not put it back."""
    plan = _start(patient, clinician, anchor=dt.date(2025, 1, 20))

    plan_test = services.plan_test_confirm_by(
        plan=plan, test_code="PSA", repeat_by=dt.date(2025, 5, 1)
    )

    assert (plan_test.confirm_by, plan_test.next_due_date) == (
        dt.date(2025, 5, 1),
        dt.date(2025, 4, 20),
    )


def test_clearing_the_wait_puts_the_grid_date_back(patient, clinician):
    _result(patient, dt.date(2025, 3, 10), value="0.25")
    plan = _start(patient, clinician, anchor=dt.date(2025, 1, 20))
    services.plan_test_confirm_by(plan=plan, test_code="PSA", repeat_by=dt.date(2025, 4, 21))

    plan_test = services.plan_test_confirm_by(plan=plan, test_code="PSA", repeat_by=None)

    assert (plan_test.confirm_by, plan_test.next_due_date) == (None, dt.date(2025, 7, 20))


def test_a_test_the_plan_does_not_schedule_is_left_alone(patient, clinician):
    plan = _start(patient, clinician, anchor=dt.date(2025, 1, 20))

    assert (
        services.plan_test_confirm_by(plan=plan, test_code="CEA", repeat_by=dt.date(2025, 4, 1))
        is None
    )
    assert plan.tests.get().confirm_by is None


def test_a_repeat_by_that_is_not_a_date_is_refused(patient, clinician):
    plan = _start(patient, clinician, anchor=dt.date(2025, 1, 20))
    with pytest.raises(ValidationError) as caught:
        services.plan_test_confirm_by(
            plan=plan, test_code="PSA", repeat_by=dt.datetime(2025, 4, 1, tzinfo=dt.UTC)
        )
    assert "repeat_by" in caught.value.message_dict
    assert plan.tests.get().confirm_by is None


def test_an_ended_plan_asks_for_no_repeat(patient, clinician):
    plan = _start(patient, clinician, anchor=dt.date(2025, 1, 20))
    services.plan_test_confirm_by(plan=plan, test_code="PSA", repeat_by=dt.date(2025, 4, 1))

    services.plan_end(plan=plan, actor=clinician, reason="Discharged")

    plan_test = plan.tests.get()
    assert (plan_test.confirm_by, plan_test.next_due_date) == (None, None)
