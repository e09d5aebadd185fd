"""Questionnaires: definitions refused with the reason, the seeded instruments scored on known
answers, responses stored once and turned into one work item naming what fired, requests
for the PKB bridge, and the pathways' schedules."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from careplans.followup import services as plan_services
from careplans.models import (
    Pathway,
    Questionnaire,
    QuestionnaireRequest,
    QuestionnaireResponse,
)
from careplans.questionnaires import services as qs
from careplans.tasks import questionnaire_schedule
from pkb_bridge import services as pkb_services
from tests.factories import PatientFactory
from worklists.models import WorkItem

pytestmark = pytest.mark.django_db


def seeded(code: str) -> Questionnaire:
    return Questionnaire.objects.get(code=code)


def response(answers: dict[str, Any], *, authored: str = "2026-03-02T10:00:00+00:00") -> dict:
    """A FHIR QuestionnaireResponse: a str answer is a coding code, an int a valueInteger."""
    items = []
    for link, value in answers.items():
        answer = (
            {"valueInteger": value} if isinstance(value, int) else {"valueCoding": {"code": value}}
        )
        items.append({"linkId": link, "answer": [answer]})
    return {
        "resourceType": "QuestionnaireResponse",
        "status": "completed",
        "authored": authored,
        "item": items,
    }


PHQ = ["LA6568-5", "LA6569-3", "LA6570-1", "LA6571-9"]  # 0, 1, 2, 3


def phq9(values: list[int]) -> dict:
    return response({str(n): PHQ[v] for n, v in enumerate(values, start=1)})


# ---------------------------------------------------------------------------
# Definitions
# ---------------------------------------------------------------------------
def test_it_refuses_text_that_is_not_json_with_the_reason() -> None:
    with pytest.raises(ValidationError, match="not valid JSON"):
        qs.validate_questionnaire_json('{"resourceType": "Questionnaire",')


def test_it_refuses_an_invalid_fhir_questionnaire_naming_the_field() -> None:
    bad = {"resourceType": "Questionnaire", "status": "not-a-status", "item": []}
    with pytest.raises(ValidationError, match=r"status: must be one of"):
        qs.validate_questionnaire_json(bad)
    with pytest.raises(ValidationError, match=r"status: Value for the field 'status' is required"):
        qs.validate_questionnaire_json({"resourceType": "Questionnaire"})
    wrong_type = {
        "resourceType": "Questionnaire",
        "status": "active",
        "item": [{"linkId": "1", "type": "choice", "answerOption": "nope"}],
    }
    with pytest.raises(ValidationError, match=r"item\.0\.answerOption"):
        qs.validate_questionnaire_json(wrong_type)


def test_it_refuses_another_resource_type() -> None:
    with pytest.raises(ValidationError, match="expected 'Questionnaire'"):
        qs.validate_questionnaire_json({"resourceType": "Patient"})


def test_it_accepts_every_seeded_questionnaire_and_its_scoring() -> None:
    assert set(Questionnaire.objects.values_list("code", flat=True)) >= {
        "phq-9",
        "gad-7",
        "epic-26",
        "hna-concerns",
    }
    for questionnaire in Questionnaire.objects.all():
        qs.validate_questionnaire_json(questionnaire.fhir)
        qs.validate_scoring_json(questionnaire.scoring, questionnaire.fhir)
        assert "licence" in questionnaire.description.lower() or "licen" in (
            questionnaire.description.lower()
        )


def test_it_refuses_a_scoring_rule_on_an_unknown_item() -> None:
    fhir = seeded("phq-9").fhir
    scoring = {"scores": [], "alerts": [{"item": "99", "op": ">=", "value": 1,
                                         "priority": "high", "label": "x"}]}  # fmt: skip
    with pytest.raises(ValidationError, match="no item with linkId '99'"):
        qs.validate_scoring_json(scoring, fhir)


def test_questionnaire_save_refuses_invalid_json_and_saves_nothing() -> None:
    with pytest.raises(ValidationError):
        qs.questionnaire_save(
            code="x", version="1", title="X", description="d", fhir="{", scoring={}
        )
    assert not Questionnaire.objects.filter(code="x").exists()


# ---------------------------------------------------------------------------
# Scoring of the seeded instruments on known answers
# ---------------------------------------------------------------------------
def test_phq9_total_is_the_sum_of_items_1_to_9(patient, clinician) -> None:
    stored = qs.record_response(
        patient=patient,
        questionnaire=seeded("phq-9"),
        response_json=phq9([1, 2, 3, 0, 1, 2, 3, 0, 0]),
        source="clinician",
        actor=clinician,
    )
    assert stored.scores["total"]["value"] == 12
    assert stored.alerts == []
    assert not WorkItem.objects.filter(patient=patient).exists()


def test_gad7_total_is_the_sum_of_its_seven_items(patient, clinician) -> None:
    answers = {str(n): PHQ[v] for n, v in enumerate([3, 3, 2, 2, 2, 1, 3], start=1)}
    stored = qs.record_response(
        patient=patient,
        questionnaire=seeded("gad-7"),
        response_json=response(answers),
        source="clinician",
        actor=clinician,
    )
    assert stored.scores["total"]["value"] == 16
    item = WorkItem.objects.get(patient=patient)
    assert item.priority == WorkItem.Priority.HIGH
    assert "GAD-7 total 16 (≥ 15)" in item.explanation


EPIC_ANSWERS = {
    # urinary incontinence: 100, 67, 67, 75 -> 77.25 -> 77.3
    "1": "rarely", "2": "occasional", "3": "one", "4a": "very-small",
    # irritative/obstructive: 100, 100, 50, 25 -> 68.75 -> 68.8
    "4b": "no-problem", "4c": "no-problem", "4d": "small", "4e": "moderate",
    "5": "small",
    # bowel: 100 x5, 75 -> 95.8
    "6a": "no-problem", "6b": "no-problem", "6c": "no-problem", "6d": "no-problem",
    "6e": "no-problem", "7": "very-small",
    # sexual: 25, 50, 33, 25, 25, 0 -> 26.3
    "8a": "poor", "8b": "fair", "9": "not-firm", "10": "less-than-half", "11": "poor",
    "12": "big",
    # hormonal: only 3 of 5 answered -> not computed (more than 20% missing)
    "13a": "big", "13b": "no-problem", "13c": "small",
}  # fmt: skip


def test_epic26_domains_are_the_mean_of_their_0_to_100_item_scores(patient, clinician) -> None:
    stored = qs.record_response(
        patient=patient,
        questionnaire=seeded("epic-26"),
        response_json=response(EPIC_ANSWERS),
        source="clinician",
        actor=clinician,
    )
    values = {code: score["value"] for code, score in stored.scores.items()}
    assert values == {
        "urinary_incontinence": 77.3,
        "urinary_irritative": 68.8,
        "bowel": 95.8,
        "sexual": 26.3,
        "hormonal": None,
    }
    assert stored.scores["hormonal"]["answered"] == 3


def test_hna_scores_distress_and_concerns_and_alerts_on_a_concern_of_7(patient, clinician) -> None:
    answers = {"distress": 3, "physical": 8, "emotional": 2, "practical": 0, "family": 1,
               "spiritual": 0}  # fmt: skip
    stored = qs.record_response(
        patient=patient,
        questionnaire=seeded("hna-concerns"),
        response_json=response(answers),
        source="clinician",
        actor=clinician,
    )
    assert stored.scores["distress"]["value"] == 3
    assert stored.scores["concerns"]["value"] == 11
    item = WorkItem.objects.get(patient=patient)
    assert item.priority == WorkItem.Priority.HIGH
    assert "item physical" in item.explanation and "answered '8' (≥ 7)" in item.explanation
    assert "Distress" not in item.explanation.split("Alerts:")[0]


# ---------------------------------------------------------------------------
# Alerts
# ---------------------------------------------------------------------------
def test_a_phq9_over_threshold_raises_one_work_item_naming_the_answers(patient, clinician) -> None:
    stored = qs.record_response(
        patient=patient,
        questionnaire=seeded("phq-9"),
        response_json=phq9([2, 2, 2, 2, 2, 2, 2, 2, 1]),
        source="clinician",
        actor=clinician,
    )
    items = WorkItem.objects.filter(patient=patient)
    assert items.count() == 1
    item = items.get()
    assert item.kind == WorkItem.Kind.QUESTIONNAIRE_ALERT
    assert item.priority == WorkItem.Priority.URGENT  # the highest of the rules that fired
    assert "PHQ-9 total 17 (≥ 15)" in item.explanation
    assert (
        "item 9 'Thoughts that you would be better off dead or of hurting…' answered "
        "'Several days' (≥ 1)"
    ) in item.explanation
    assert item.details["response"] == str(stored.public_id)
    assert len(stored.alerts) == 2


def test_an_invalid_response_is_refused_with_the_reason(patient, clinician) -> None:
    with pytest.raises(ValidationError, match="'nine' is not one of its answer options"):
        qs.record_response(
            patient=patient,
            questionnaire=seeded("phq-9"),
            response_json=response({**{str(n): PHQ[0] for n in range(1, 10)}, "9": "nine"}),
            source="clinician",
            actor=clinician,
        )
    with pytest.raises(ValidationError, match="Required items not answered: 9"):
        qs.record_response(
            patient=patient,
            questionnaire=seeded("phq-9"),
            response_json=response({str(n): PHQ[0] for n in range(1, 9)}),
            source="clinician",
            actor=clinician,
        )
    with pytest.raises(ValidationError, match="only a completed response"):
        qs.record_response(
            patient=patient,
            questionnaire=seeded("phq-9"),
            response_json={"resourceType": "QuestionnaireResponse", "status": "nonsense"},
            source="pkb",
        )
    with pytest.raises(ValidationError, match=r"Not a valid FHIR QuestionnaireResponse: item"):
        qs.record_response(
            patient=patient,
            questionnaire=seeded("phq-9"),
            response_json={
                "resourceType": "QuestionnaireResponse",
                "status": "completed",
                "item": {"linkId": "1"},
            },
            source="pkb",
        )
    assert not QuestionnaireResponse.objects.exists()


def test_a_viewer_cannot_enter_a_response(patient, viewer) -> None:
    with pytest.raises(PermissionDenied):
        qs.record_response(
            patient=patient,
            questionnaire=seeded("phq-9"),
            response_json=phq9([0] * 9),
            source="clinician",
            actor=viewer,
        )


# ---------------------------------------------------------------------------
# Responses from PKB and requests
# ---------------------------------------------------------------------------
def deliverable(patient, clinician) -> None:  # type: ignore[no-untyped-def]
    """The patient shared with PKB and the questionnaires known to PKB by id."""
    pkb_services.enrolment_opt_in(
        patient=patient, actor=clinician, attestation="Consented in clinic, paper form filed"
    )
    Questionnaire.objects.update(pkb_questionnaire_id="pkb-q")


def test_the_same_pkb_response_arriving_twice_is_stored_once(patient, clinician) -> None:
    deliverable(patient, clinician)
    request = qs.request_create(patient=patient, questionnaire=seeded("phq-9"), actor=clinician)
    qs.mark_request_sent(request, external_id="pkb-q-1")
    kwargs: dict[str, Any] = {
        "patient": patient,
        "questionnaire": seeded("phq-9"),
        "response_json": phq9([3] * 9),
        "source": "pkb",
        "request": request,
        "external_id": "pkb-r-1",
    }
    first = qs.record_response(**kwargs)
    second = qs.record_response(**kwargs)
    assert first.pk == second.pk
    assert QuestionnaireResponse.objects.count() == 1
    assert WorkItem.objects.filter(patient=patient).count() == 1
    request.refresh_from_db()
    assert request.status == QuestionnaireRequest.Status.COMPLETED
    assert first.team == request.team and first.entered_by is None


def test_pending_requests_and_their_delivery_outcomes(patient, clinician) -> None:
    deliverable(patient, clinician)
    request = qs.request_create(patient=patient, questionnaire=seeded("gad-7"), actor=clinician)
    by_phone = qs.request_create(
        patient=patient, questionnaire=seeded("gad-7"), actor=clinician, channel="clinician"
    )
    assert list(qs.pending_pkb_requests()) == [request]
    assert by_phone not in qs.pending_pkb_requests()
    qs.mark_request_failed(request, error="timeout", permanent=False)
    request.refresh_from_db()
    assert (request.status, request.attempts, request.last_error) == ("pending", 1, "timeout")
    qs.mark_request_failed(request, error="unknown patient", permanent=True)
    assert (request.status, request.attempts) == ("failed", 2)
    assert list(qs.pending_pkb_requests()) == []
    again = qs.request_create(patient=patient, questionnaire=seeded("gad-7"), actor=clinician)
    qs.mark_request_sent(again, external_id="pkb-77")
    again.refresh_from_db()
    assert (again.status, again.external_id) == ("sent", "pkb-77")
    assert again.sent_at is not None


def test_a_clinician_of_another_team_cannot_request(patient, other_team_clinician) -> None:
    with pytest.raises(PermissionDenied):
        qs.request_create(
            patient=patient, questionnaire=seeded("phq-9"), actor=other_team_clinician
        )


# ---------------------------------------------------------------------------
# Schedules
# ---------------------------------------------------------------------------
def test_the_schedule_task_creates_each_due_request_once(patient, clinician, time_machine) -> None:
    time_machine.move_to(dt.datetime(2026, 1, 20, 9, tzinfo=dt.UTC))
    pathway = Pathway.objects.get(code="prostate-post-prostatectomy")
    plan = plan_services.plan_start(
        patient=patient,
        pathway=pathway,
        anchor_date=dt.date(2025, 1, 10),
        actor=clinician,
    )
    # Not shared with PKB: PKB could not deliver a request, so none is made (nor failed later).
    assert questionnaire_schedule() == 0
    deliverable(patient, clinician)
    assert questionnaire_schedule() == 2
    assert questionnaire_schedule() == 0
    made = {
        (r.questionnaire.code, r.due_date, r.channel, r.status, r.requested_by)
        for r in QuestionnaireRequest.objects.filter(plan=plan)
    }
    assert made == {
        # EPIC-26 every 6 months from month 6: month 12 is the latest due.
        ("epic-26", dt.date(2026, 1, 10), "pkb", "pending", None),
        # HNA at start and every 12 months: month 12.
        ("hna-concerns", dt.date(2026, 1, 10), "pkb", "pending", None),
    }


def test_a_self_harm_answer_marks_its_work_item_to_sort_first(patient, team, clinician) -> None:
    """PHQ-9 item 9 ("thoughts that you would be better off dead or of hurting yourself")
    answered above 0 needs a clinician's assessment the same day whatever the total score
    (Kroenke K et al., J Gen Intern Med 2001;16:606-613; NICE NG225): the item is urgent and
    marked to sort above everything. A high total alone is not."""
    qs.record_response(
        patient=patient,
        questionnaire=seeded("phq-9"),
        response_json=phq9([0, 0, 0, 0, 0, 0, 0, 0, 1]),
        source="clinician",
        actor=clinician,
    )
    item = WorkItem.objects.get(patient=patient)
    assert (item.priority, item.risk_of_self_harm) == (WorkItem.Priority.URGENT, True)
    assert item.due_date == timezone.localdate(item.created_at)
    # Waiting since the patient answered, not since the response was filed.
    assert item.waiting_since == dt.datetime(2026, 3, 2, 10, 0, tzinfo=dt.UTC)

    other = PatientFactory(teams=[team])
    qs.record_response(
        patient=other,
        questionnaire=seeded("phq-9"),
        response_json=phq9([3, 3, 3, 3, 3, 0, 0, 0, 0]),
        source="clinician",
        actor=clinician,
    )
    assert WorkItem.objects.get(patient=other).risk_of_self_harm is False
