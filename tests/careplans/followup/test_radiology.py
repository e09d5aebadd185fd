"""Radiology reports and scheduled scans through the real filing path: an ORU^R01 from the
radiology system (CRIS) or an endoscopy system, received as over MLLP, filed, then monitored.

Sources: the clinical vocabulary's "Causes that are not alerts" (review cause
``radiology_report``: every new radiology report for a patient on a plan raises a "result to
review" item with the report's conclusion) and its colorectal-surveillance pathway (NICE NG151
1.8: CT chest/abdomen/pelvis at 12 and 24 months and colonoscopy at one year after surgery),
on the "Schedules (the grid)" semantics. The report is the shared inbound samples' CRIS
sample (tests/fixtures/hl7): MRI prostate of 12 Nov 2026, conclusion "no evidence of local
recurrence \\T\\ no nodal disease"."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
import time_machine

from careplans.followup import services as plan_services
from careplans.followup.services import monitoring
from careplans.models import FollowUpPlan, Pathway, PlanTest, ScheduleStep
from rms.inbound import receive
from rms.models import Result
from tests.factories import PatientFactory
from worklists.models import WorkItem

pytestmark = pytest.mark.django_db
LONDON = ZoneInfo("Europe/London")
Kind = WorkItem.Kind
SAMPLE_CONCLUSION = "no evidence of local recurrence & no nodal disease."


@pytest.fixture
def patient(team):
    """The patient of the sample messages (matched by NHS number, MRN, name and birth)."""
    return PatientFactory(
        nhs_number="9990000018",
        mrn="RXX1234567",
        family_name="Tester",
        date_of_birth=dt.date(1958, 2, 14),
        teams=[team],
    )


def report(
    *,
    control: str = "RAD0000501",
    fon: str = "RXX26R009911",
    service: str = "XMRPR^MRI Prostate^CRIS",
    status: str = "F",
    taken: str = "20261112101500",
    lines: tuple[str, ...] = (
        "Clinical details: rising PSA after radical prostatectomy.",
        "Findings: no local recurrence in the prostate bed. No pelvic lymphadenopathy.",
        "Conclusion: no evidence of local recurrence \\T\\ no nodal disease.",
    ),
    application: str = "CRIS",
    obx_code: str | None = None,
) -> bytes:
    """An ORU^R01 shaped as the CRIS sample (its defaults are the sample's own fields)."""
    code = obx_code or service
    segments = [
        f"MSH|^~\\&|{application}|RXX01|RMS|RXX|20261112160010||ORU^R01^ORU_R01|{control}|P|"
        "2.4|||AL|NE",
        "PID|1||9990000018^^^NHS^NH~RXX1234567^^^RXX^MR||TESTER^Alan^James^^Mr||19580214|M",
        f"ORC|RE|RAD55001|{fon}",
        f"OBR|1|RAD55001|{fon}|{service}|||{taken}|||||||||C123456^Surgeon^Sam^^^Mr||||||"
        f"20261112155900||MR|{status}",
    ]
    segments += [
        f"OBX|{n}|TX|{code}|{n}|{line}||||||{status}|||{taken}"
        for n, line in enumerate(lines, start=1)
    ]
    return ("\r".join(segments) + "\r").encode()


def start(patient, clinician, code="prostate-post-prostatectomy", anchor="2025-01-15"):
    return plan_services.plan_start(
        patient=patient,
        pathway=Pathway.objects.get(code=code),
        anchor_date=dt.date.fromisoformat(anchor),
        actor=clinician,
    )


def to_review(patient) -> list[WorkItem]:
    return list(WorkItem.objects.filter(patient=patient, kind=Kind.RESULT_TO_REVIEW).order_by("id"))


# --- every new radiology report is a result to review ----------------------------------------


def test_the_sample_report_raises_a_result_to_review_with_its_conclusion(patient, clinician, team):
    plan = start(patient, clinician)

    ack = receive(raw=report(), channel="mllp")

    assert b"MSA|AA|" in ack
    [item] = to_review(patient)
    assert item.team == team
    assert item.priority == WorkItem.Priority.NORMAL
    assert item.title == "New radiology report to review: MRI Prostate"
    assert f"Conclusion: {SAMPLE_CONCLUSION}" in item.explanation
    assert "12 Nov 2026" in item.explanation
    assert plan.pathway.name in item.explanation
    result = Result.objects.get(patient=patient)
    assert item.details["result"] == str(result.public_id)
    assert item.details["conclusion"] == SAMPLE_CONCLUSION


def test_a_report_waits_from_when_the_study_was_done_not_from_when_it_was_filed(patient, clinician):
    """The scan of 12 Nov 2026 10:15 (London, GMT) reported days later has been waiting for a
    clinician since the scan, which is what the worklist shows and orders by."""
    start(patient, clinician)
    receive(raw=report(taken="20261112101500"), channel="mllp")
    [item] = to_review(patient)
    assert item.waiting_since == dt.datetime(2026, 11, 12, 10, 15, tzinfo=dt.UTC)
    assert item.waiting_since < item.created_at


def test_the_same_report_filed_again_raises_nothing_more(patient, clinician):
    start(patient, clinician)
    receive(raw=report(), channel="mllp")
    receive(raw=report(control="RAD0000502"), channel="mllp")  # resent under a new control id

    assert len(to_review(patient)) == 1


def test_a_corrected_report_raises_a_new_item_saying_so(patient, clinician):
    start(patient, clinician)
    receive(raw=report(), channel="mllp")

    corrected = report(
        control="RAD0000503",
        status="C",
        lines=(
            "Clinical details: rising PSA after radical prostatectomy.",
            "Findings: 6 mm nodule at the left vesico-urethral anastomosis.",
            "Conclusion: suspicious for local recurrence; suggest PSMA PET-CT.",
        ),
    )
    receive(raw=corrected, channel="mllp")

    first, second = to_review(patient)
    assert first.status == WorkItem.Status.OPEN  # the first is not hidden
    assert second.title == "Corrected radiology report to review: MRI Prostate"
    assert "was corrected" in second.explanation
    assert "Conclusion: suspicious for local recurrence; suggest PSMA PET-CT." in (
        second.explanation
    )
    assert second.details["corrected"] is True


def test_a_preliminary_report_made_final_with_the_same_text_raises_nothing_more(patient, clinician):
    start(patient, clinician)
    receive(raw=report(status="P"), channel="mllp")
    receive(raw=report(control="RAD0000505", status="F"), channel="mllp")

    [item] = to_review(patient)
    assert item.title == "New radiology report to review: MRI Prostate"


def test_a_deleted_report_closes_its_item_saying_why(patient, clinician):
    start(patient, clinician)
    receive(raw=report(), channel="mllp")

    receive(raw=report(control="RAD0000504", status="D"), channel="mllp")

    [item] = to_review(patient)
    assert item.status == WorkItem.Status.DONE
    assert item.outcome == "Report withdrawn"


def test_a_team_that_switched_it_off_gets_no_item(patient, clinician, team):
    team.review_radiology_reports = False
    team.save()
    start(patient, clinician)

    receive(raw=report(), channel="mllp")

    assert to_review(patient) == []
    assert Result.objects.filter(patient=patient).count() == 1  # filed all the same


def test_teams_review_radiology_reports_unless_they_say_otherwise(team):
    assert team.review_radiology_reports is True


def test_a_patient_on_no_plan_gets_no_item(patient):
    receive(raw=report(), channel="mllp")
    assert to_review(patient) == []


def test_a_patient_whose_plan_is_paused_gets_no_item(patient, clinician):
    plan = start(patient, clinician)
    plan_services.plan_pause(plan=plan, actor=clinician, reason="Inpatient")

    receive(raw=report(), channel="mllp")

    assert to_review(patient) == []


def test_a_lab_report_is_not_a_radiology_report(patient, clinician):
    start(patient, clinician)
    receive(raw=report(application="WINPATH", service="BIOCHEM^Biochemistry"), channel="mllp")
    assert [i for i in to_review(patient) if i.dedupe_key.startswith("radiology:")] == []


# --- scheduled scans and endoscopies are due items ------------------------------------------


@pytest.fixture
def imaging_pathway():
    """Colorectal follow-up after surgery (NICE NG151 1.8, clinical vocabulary): CEA
    6-monthly for 3 years, CT chest/abdomen/pelvis at 12 and 24 months, colonoscopy at 12."""
    pathway = Pathway.objects.create(
        code="test-colorectal-imaging",
        name="Colorectal follow-up with imaging",
        tumour_site="colorectal",
        treatment="Surgery",
        description="NICE NG151 1.8",
    )
    for code, name, until, every in [
        ("CEA", "CEA", 36, 6),
        ("CT_CAP", "CT chest, abdomen and pelvis", 24, 12),
        ("COLONOSCOPY", "Colonoscopy", 12, 12),
    ]:
        ScheduleStep.objects.create(
            pathway=pathway,
            test_code=code,
            test_name=name,
            from_month=0,
            until_month=until,
            every_months=every,
        )
    return pathway


@pytest.fixture
def imaging_plan(patient, clinician, imaging_pathway) -> FollowUpPlan:
    """Started on the day of surgery, 10 Nov 2025: the grid's 12-month point is 10 Nov 2026."""
    with time_machine.travel(dt.datetime(2025, 11, 10, 12, tzinfo=LONDON), tick=False):
        return plan_services.plan_start(
            patient=patient,
            pathway=imaging_pathway,
            anchor_date=dt.date(2025, 11, 10),
            actor=clinician,
        )


def test_a_ct_report_counts_for_the_scheduled_ct_by_its_service_code(imaging_plan, patient):
    """The CT of 12 Nov 2026 (OBR-4 CT_CAP) counts for the 12-month point (10 Nov 2026): the
    next CT is due at 24 months, 10 Nov 2027. It also raises its result to review."""
    ct = PlanTest.objects.get(plan=imaging_plan, test_code="CT_CAP")
    assert ct.next_due_date == dt.date(2026, 11, 10)

    receive(
        raw=report(
            service="ct_cap^CT chest abdomen pelvis^CRIS",
            lines=("Findings: no lesion.", "Conclusion: No evidence of recurrence."),
        ),
        channel="mllp",
    )

    ct.refresh_from_db()
    assert ct.next_due_date == dt.date(2027, 11, 10)
    assert ct.last_result_at == dt.datetime(2026, 11, 12, 10, 15, tzinfo=LONDON)
    [item] = to_review(patient)
    assert "Conclusion: No evidence of recurrence." in item.explanation
    # The CEA is not done by a CT.
    cea = PlanTest.objects.get(plan=imaging_plan, test_code="CEA")
    assert cea.last_result_at is None


def test_an_endoscopy_report_counts_for_the_colonoscopy_by_its_observation_code(
    imaging_plan,
):
    """An endoscopy system's report (not radiology), one TX OBX with a line in each
    repetition, whose OBX-3 is COLONOSCOPY, on 20 Nov 2026: it counts for the 12-month
    point, the last of the colonoscopy's schedule, so nothing more is due."""
    scope = PlanTest.objects.get(plan=imaging_plan, test_code="COLONOSCOPY")
    assert scope.next_due_date == dt.date(2026, 11, 10)

    receive(
        raw=report(
            application="ENDOSOFT",
            control="END0000001",
            fon="END26-0042",
            service="ENDO^Lower GI endoscopy^ENDOSOFT",
            obx_code="COLONOSCOPY^Colonoscopy^L",
            taken="20261120091000",
            lines=("Extent: caecum.~Findings: anastomosis healthy.~Impression: normal.",),
        ),
        channel="mllp",
    )

    scope.refresh_from_db()
    assert scope.last_result_at == dt.datetime(2026, 11, 20, 9, 10, tzinfo=LONDON)
    assert scope.next_due_date is None


def test_an_overdue_scan_is_not_called_a_blood_test(imaging_plan, patient):
    """No CT by 10 Nov 2026 (+ 28 days' grace): the overdue item names the scan."""
    assert monitoring.overdue_scan(today=dt.date(2026, 12, 20)) >= 1

    [item] = WorkItem.objects.filter(
        patient=patient, kind=Kind.OVERDUE_TEST, title__startswith="CT"
    )
    assert item.title == "CT chest, abdomen and pelvis overdue"
    assert "blood" not in f"{item.title} {item.explanation}".lower()


def test_a_reminder_for_a_scan_is_not_for_a_blood_test(imaging_plan, patient, settings, mailoutbox):
    settings.MONITORING_REMINDER_DAYS = 7
    patient.email = "alan@example.org"
    patient.save()

    # 3 Nov 2026: CT and colonoscopy due on 10 Nov 2026 (the 12-month point).
    assert monitoring.reminders_send(today=dt.date(2026, 11, 3)) == 2
    bodies = {message.subject: message.body for message in mailoutbox}
    for body in bodies.values():
        assert "blood" not in body.lower()
        assert "phlebotomy" not in body.lower()
        assert "appointment" in body
    assert any(
        "CT chest, abdomen and pelvis is due on 10 November 2026" in b for b in bodies.values()
    )


def test_a_reminder_for_a_blood_test_still_says_so(imaging_plan, patient, settings, mailoutbox):
    settings.MONITORING_REMINDER_DAYS = 7
    patient.email = "alan@example.org"
    patient.save()

    # The CEA's first grid point: 6 months after 10 Nov 2025.
    assert monitoring.reminders_send(today=dt.date(2026, 5, 3)) == 1
    assert "Your next CEA blood test is due on 10 May 2026" in mailoutbox[0].body
