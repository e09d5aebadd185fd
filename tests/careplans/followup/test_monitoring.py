"""Monitoring, in clinical scenarios written from the published definitions: results arriving
(through the services and through the HL7 feed) raise and close the right work items."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.conf import settings

from careplans.followup import services as plan_services
from careplans.followup.rules import evaluate
from careplans.followup.services import monitoring
from careplans.models import FollowUpPlan, Pathway, PlanTest, RaisedBreach
from careplans.tasks import overdue_scan
from rms import services
from rms.inbound import receive
from rms.services import ObservationInput, ResultInput
from tests.factories import PatientFactory
from worklists.models import WorkItem

pytestmark = pytest.mark.django_db
LONDON = ZoneInfo("Europe/London")
Kind = WorkItem.Kind


def at(day: str) -> dt.datetime:
    return dt.datetime.fromisoformat(day).replace(hour=9, tzinfo=LONDON)


def psa(
    patient,
    actor,
    day: str,
    value: str,
    *,
    fon: str | None = None,
    status: str = "final",
    units: str = "ug/L",
):
    taken = at(day)
    number = Decimal(value.lstrip("<"))
    return services.result_record(
        patient=patient,
        actor=actor,
        data=ResultInput(
            category="lab",
            source_system="WINPATH",
            filler_order_number=fon or f"PSA-{day}",
            observed_at=taken,
            status=status,
            service_code="PSA",
            service_name="Prostate specific antigen",
            observations=[
                ObservationInput(
                    code="PSA",
                    name="PSA",
                    value_type="NM",
                    value_text=value,
                    value_numeric=number,
                    comparator="<" if value.startswith("<") else "",
                    units=units,
                    observed_at=taken,
                )
            ],
        ),
    )


def start(patient, actor, code: str, anchor: str) -> FollowUpPlan:
    return plan_services.plan_start(
        patient=patient,
        pathway=Pathway.objects.get(code=code),
        anchor_date=dt.date.fromisoformat(anchor),
        actor=actor,
    )


def breaches(patient) -> list[WorkItem]:
    return list(WorkItem.objects.filter(patient=patient, kind=Kind.THRESHOLD_BREACH).order_by("id"))


def test_after_prostatectomy_one_psa_over_0_2_is_not_a_breach_until_confirmed(
    patient, clinician
) -> None:
    start(patient, clinician, "prostate-post-prostatectomy", "2025-01-15")
    psa(patient, clinician, "2025-04-20", "<0.01")
    psa(patient, clinician, "2025-10-20", "0.03")
    psa(patient, clinician, "2026-08-02", "0.21")
    assert breaches(patient) == []
    psa(patient, clinician, "2026-11-10", "0.24")
    [item] = breaches(patient)
    assert item.status == WorkItem.Status.OPEN
    assert item.team is not None and item.team.patients.filter(pk=patient.pk).exists()
    for words in ("0.24", "10 Nov 2026", "0.2", "0.21", "2 Aug 2026"):
        assert words in item.explanation
    # Evaluating again (another PSA above the line) never raises the same breach twice.
    psa(patient, clinician, "2027-02-10", "0.30")
    # 0.03, 0.21, 0.24, 0.30 is not three rises in a row: 0.21 to 0.24 is a step of 0.03, not
    # more than the 0.05 the rule counts as a rise (assay noise at low values).
    assert breaches(patient) == [item]


def test_low_values_near_the_detection_limit_do_not_make_a_doubling_time(
    patient, clinician
) -> None:
    start(patient, clinician, "prostate-post-prostatectomy", "2024-01-15")
    for day, value in [("2025-01-01", "0.02"), ("2025-02-15", "0.03"), ("2025-04-01", "0.05")]:
        psa(patient, clinician, day, value)
    assert breaches(patient) == []


def test_undetectable_psas_never_breach(patient, clinician) -> None:
    start(patient, clinician, "prostate-post-prostatectomy", "2025-01-15")
    for day in ("2025-04-20", "2025-07-20", "2025-10-20", "2026-01-20"):
        psa(patient, clinician, day, "<0.01")
    assert breaches(patient) == []


def test_after_radiotherapy_a_rise_of_2_above_the_nadir_is_a_breach(patient, clinician) -> None:
    start(patient, clinician, "prostate-post-radiotherapy", "2024-03-01")
    for day, value in [
        ("2024-06-01", "4.1"),
        ("2024-12-01", "1.9"),
        ("2025-06-01", "0.9"),
        ("2025-09-01", "0.5"),
        ("2026-03-01", "1.4"),
    ]:
        psa(patient, clinician, day, value)
    assert breaches(patient) == []
    psa(patient, clinician, "2026-09-01", "2.6")
    [item] = [b for b in breaches(patient) if "nadir" in b.explanation.lower()]
    assert "0.5" in item.explanation and "2.6" in item.explanation


def test_a_psa_doubling_in_about_three_months_is_raised(patient, clinician) -> None:
    # After prostatectomy the doubling time counts from the recurrence threshold (0.2).
    start(patient, clinician, "prostate-post-prostatectomy", "2024-01-15")
    for day, value in [
        ("2025-01-01", "0.20"),
        ("2025-02-15", "0.28"),
        ("2025-04-01", "0.40"),
        ("2025-05-16", "0.57"),
        ("2025-07-01", "0.80"),
    ]:
        psa(patient, clinician, day, value)
    doubling = [b for b in breaches(patient) if b.details.get("rule_type") == "doubling_time"]
    assert len(doubling) == 1
    months = float(doubling[0].details["finding"]["doubling_time_months"])
    assert 2.7 < months < 3.3


def test_a_correction_that_removes_the_breach_closes_the_item_with_that_reason(
    patient, clinician
) -> None:
    start(patient, clinician, "prostate-post-prostatectomy", "2025-01-15")
    psa(patient, clinician, "2026-08-02", "0.21")
    psa(patient, clinician, "2026-11-10", "0.24", fon="FON-NOV")
    [item] = breaches(patient)
    psa(patient, clinician, "2026-11-10", "0.15", fon="FON-NOV", status="corrected")
    item.refresh_from_db()
    assert item.status == WorkItem.Status.DONE
    assert item.outcome == "Breach removed by a correction"
    assert item.closed_by is not None and item.closed_at is not None


def test_a_deleted_result_that_made_the_breach_closes_it_too(patient, clinician) -> None:
    start(patient, clinician, "prostate-post-prostatectomy", "2025-01-15")
    psa(patient, clinician, "2026-08-02", "0.21", fon="FON-AUG")
    psa(patient, clinician, "2026-11-10", "0.24")
    [item] = breaches(patient)
    psa(patient, clinician, "2026-08-02", "0.21", fon="FON-AUG", status="deleted")
    item.refresh_from_db()
    assert item.status == WorkItem.Status.DONE


def test_a_later_lower_psa_does_not_close_a_breach(patient, clinician) -> None:
    start(patient, clinician, "prostate-post-prostatectomy", "2025-01-15")
    psa(patient, clinician, "2026-08-02", "0.21")
    psa(patient, clinician, "2026-11-10", "0.24")
    psa(patient, clinician, "2027-02-10", "0.05")
    [item] = breaches(patient)
    assert item.status == WorkItem.Status.OPEN


def test_a_paused_plan_raises_nothing(patient, clinician) -> None:
    plan = start(patient, clinician, "prostate-post-prostatectomy", "2025-01-15")
    plan_services.plan_pause(plan=plan, actor=clinician, reason="On holiday abroad")
    psa(patient, clinician, "2026-08-02", "0.21")
    psa(patient, clinician, "2026-11-10", "0.24")
    assert breaches(patient) == []
    assert monitoring.overdue_scan(today=dt.date(2030, 1, 1)) == 0


def test_a_result_in_units_that_cannot_be_compared_is_sent_for_review(patient, clinician) -> None:
    start(patient, clinician, "prostate-post-prostatectomy", "2025-01-15")
    psa(patient, clinician, "2026-08-02", "0.21", units="mmol/L")
    # One item for the one result, naming it; the rules still run on the rest of the series.
    [item] = WorkItem.objects.filter(patient=patient, kind=Kind.RESULT_TO_REVIEW)
    assert item.title == "PSA of 2 Aug 2026 could not be checked"
    assert "0.21 mmol/L" in item.explanation
    assert "set aside and the rest of the series was still checked" in item.explanation


CODES = {
    "absolute_limit": "bcr_post_rp",
    "doubling_time": "psa_doubling_time",
    "consecutive_rises": "psa_consecutive_rises",
}


def set_units(plan: FollowUpPlan, clinician, rule_type: str, **params) -> None:
    plan_services.plan_set_rule_params(
        plan=plan,
        rule=plan.rules.get(rule_type=rule_type, code=CODES[rule_type]),
        params=params,
        actor=clinician,
        reason="The lab reports in other units",
    )


def test_rules_in_different_units_each_judge_the_results_in_their_own(patient, clinician) -> None:
    # The rules of one result share one reading of the series: each must still convert it to
    # its own units, and find what it finds on the results alone.
    plan = start(patient, clinician, "prostate-post-prostatectomy", "2025-01-15")
    set_units(plan, clinician, "absolute_limit", threshold="200", confirmations=2, units="ng/L")
    # From 0.25 ng/mL (250 ng/L) up: the first result, 0.21, is left out of the fit.
    set_units(plan, clinician, "doubling_time", max_months=12, min_value="0.25", units="ng/mL")
    for day, value in [
        ("2026-02-01", "0.21"),
        ("2026-03-15", "0.28"),
        ("2026-05-01", "0.40"),
        ("2026-06-15", "0.57"),
    ]:
        psa(patient, clinician, day, value)
    raised = {
        entry["rule_type"]: (item, entry)
        for item in breaches(patient)
        for entry in item.details["rules"]
    }
    assert set(raised) == {"absolute_limit", "consecutive_rises", "doubling_time"}
    assert "200 ng/L" in raised["absolute_limit"][1]["explanation"]
    # The rises and the doubling time both first show on the 15 Jun result: one item.
    assert raised["consecutive_rises"][0] == raised["doubling_time"][0]
    # Each breach is the one its rule finds on the plain list of the patient's results.
    points = monitoring.points_for(patient, "PSA")
    for rule in plan.rules.exclude(code="psa_persistence"):
        finding = evaluate(rule.rule_type, points, rule.params)
        assert finding.breached
        assert raised[rule.rule_type][1]["key"] == finding.key
        assert RaisedBreach.objects.filter(rule=rule, key=finding.key).count() == 1
    fit = evaluate("doubling_time", points, plan.rules.get(code="psa_doubling_time").params)
    assert fit.details["points_used"] == 3 and fit.details["min_value"] == "0.25"
    fit = fit.details
    assert 2.7 < float(fit["doubling_time_months"]) < 3.3


def test_a_rule_in_units_that_cannot_be_compared_does_not_stop_the_others(
    patient, clinician
) -> None:
    plan = start(patient, clinician, "prostate-post-prostatectomy", "2025-01-15")
    set_units(plan, clinician, "consecutive_rises", count=3, units="mmol/L")
    psa(patient, clinician, "2026-08-02", "0.21")
    psa(patient, clinician, "2026-11-10", "0.24")
    # Each result the rule cannot read is set aside with its own item naming it.
    reviews = WorkItem.objects.filter(patient=patient, dedupe_key__startswith="units:").order_by(
        "id"
    )
    assert [review.title for review in reviews] == [
        "PSA of 2 Aug 2026 could not be checked",
        "PSA of 10 Nov 2026 could not be checked",
    ]
    assert "'ug/L' to 'mmol/L'" in reviews[0].explanation
    [item] = breaches(patient)
    assert item.details["rule_type"] == "absolute_limit"
    # The 0.21 awaited confirmation ("repeat by" item); the 0.24 confirmed it and closed it.
    [waiting] = WorkItem.objects.filter(patient=patient, dedupe_key__startswith="awaiting:")
    assert waiting.status == WorkItem.Status.DONE
    assert waiting.outcome == "Confirmed"


def test_a_missed_six_month_psa_is_raised_once_by_the_overdue_scan(patient, clinician) -> None:
    start(patient, clinician, "prostate-post-prostatectomy", "2025-01-15")
    psa(patient, clinician, "2025-04-15", "<0.01")  # the 3-month PSA arrived
    plan_test = PlanTest.objects.get(plan__patient=patient, test_code__iexact="PSA")
    assert plan_test.next_due_date == dt.date(2025, 7, 15)  # 6 months after treatment
    assert monitoring.overdue_scan(today=dt.date(2025, 8, 1)) == 0, "within the grace period"
    assert monitoring.overdue_scan(today=dt.date(2025, 9, 1)) == 1
    assert monitoring.overdue_scan(today=dt.date(2025, 9, 2)) == 0, "never twice"
    [item] = WorkItem.objects.filter(patient=patient, kind=Kind.OVERDUE_TEST)
    assert "15 Jul 2025" in item.explanation
    # The late PSA arrives: the next due date moves on, and a new miss is a new item.
    psa(patient, clinician, "2025-09-10", "<0.01")
    plan_test.refresh_from_db()
    assert plan_test.next_due_date > dt.date(2025, 9, 10)


def test_the_overdue_scan_runs_on_beat(settings) -> None:
    tasks = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert "careplans.tasks.overdue_scan" in tasks
    assert overdue_scan() == 0


def test_a_result_from_the_hl7_feed_raises_the_breach_on_its_own(team, clinician) -> None:
    patient = PatientFactory(
        nhs_number="9990000018",
        mrn="RXX1234567",
        family_name="Tester",
        date_of_birth=dt.date(1958, 2, 14),
        teams=[team],
    )
    start(patient, clinician, "prostate-post-prostatectomy", "2025-01-15")
    psa(patient, clinician, "2026-08-02", "0.21")
    from tests.rms.hl7.samples import sample_bytes

    ack = receive(raw=sample_bytes("oru_r01_psa.hl7"), channel="mllp")  # PSA 0.24 on 10 Nov 2026
    assert b"MSA|AA|" in ack
    [item] = breaches(patient)
    assert "0.24" in item.explanation
    # ...and the lab's correction to 0.21 keeps it (still ≥ 0.2, confirmed); a correction
    # to 0.15 removes it.
    corrected = sample_bytes("oru_r01_corrected.hl7").replace(b"||0.21|", b"||0.15|")
    receive(raw=corrected, channel="mllp")
    item.refresh_from_db()
    assert item.status == WorkItem.Status.DONE


def test_reminders_are_emailed_before_a_test_is_due(
    patient, clinician, settings, mailoutbox
) -> None:
    settings.MONITORING_REMINDER_DAYS = 7
    patient.email = "arthur@example.org"
    patient.save()
    # Started on the day of surgery: the first test is due at 3 months.
    with time_machine.travel(at("2025-01-15"), tick=False):
        start(patient, clinician, "prostate-post-prostatectomy", "2025-01-15")
    assert monitoring.reminders_send(today=dt.date(2025, 4, 8)) == 1  # due 15 Apr 2025
    assert monitoring.reminders_send(today=dt.date(2025, 4, 8)) == 0
    assert mailoutbox[0].to == ["arthur@example.org"]
    assert "15 April 2025" in mailoutbox[0].body


def test_settings_name_the_beat_interval() -> None:
    assert settings.MONITORING_OVERDUE_SCAN_INTERVAL_S >= 60


def test_salvage_radiotherapy_recorded_on_the_plan_starts_a_new_episode(
    patient, clinician, client
) -> None:
    """Phoenix (Roach et al. 2006) measures the rise from the nadir after the treatment being
    followed: after salvage radiotherapy the nadir before it no longer counts."""
    plan = start(patient, clinician, "prostate-post-radiotherapy", "2024-01-15")
    psa(patient, clinician, "2024-04-15", "0.1")
    psa(patient, clinician, "2025-01-15", "0.9")
    client.force_login(clinician)
    response = client.post(
        f"/plans/patients/{patient.public_id}/plans/{plan.public_id}/events/",
        {"kind": "salvage_radiotherapy", "on": "2025-02-01", "reason": "Salvage RT to bed"},
    )
    assert response.status_code == 302
    psa(patient, clinician, "2025-06-01", "0.6")
    psa(patient, clinician, "2025-12-01", "2.2")
    # Before the event the nadir would be 0.1 and 2.2 would breach (0.1 + 2 = 2.1); in the new
    # episode the nadir is 0.6 and the line 2.6.
    assert breaches(patient) == []
    psa(patient, clinician, "2026-03-01", "2.7")
    [item] = breaches(patient)
    assert "nadir of 0.6" in item.explanation
    assert plan.changes.filter(action="treatment_recorded").count() == 1


def test_a_viewer_cannot_record_a_treatment(patient, clinician, viewer, client) -> None:
    plan = start(patient, clinician, "prostate-post-radiotherapy", "2024-01-15")
    client.force_login(viewer)
    response = client.post(
        f"/plans/patients/{patient.public_id}/plans/{plan.public_id}/events/",
        {"kind": "salvage_radiotherapy", "on": "2025-02-01", "reason": "x"},
    )
    assert response.status_code == 403
    assert not plan.events.exists()
