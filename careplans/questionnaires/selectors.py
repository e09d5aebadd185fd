"""Reads of questionnaires, requests and responses. The patient passed in has already been
opened in the user's scope (``rms.access.patient_for_request``); a response or request is found
only through its patient, so another team's rows are never reached by id alone."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from django.db.models import QuerySet

from careplans.followup.charts import ChartPoint, SeverityBand, ThresholdLine, TrendChart
from careplans.models import Questionnaire, QuestionnaireRequest, QuestionnaireResponse
from rms.models import Patient


def questionnaire_list(*, active_only: bool = True) -> QuerySet[Questionnaire]:
    rows = Questionnaire.objects.all()
    if active_only:
        rows = rows.filter(active=True)
    return rows.order_by("title", "-version")


def questionnaire_get(*, code: str) -> Questionnaire:
    """The newest active version of the questionnaire with ``code``; raises DoesNotExist."""
    found = questionnaire_list().filter(code=code).order_by("-created_at", "-id").first()
    if found is None:
        raise Questionnaire.DoesNotExist
    return found


def response_list(*, patient: Patient) -> QuerySet[QuestionnaireResponse]:
    return (
        QuestionnaireResponse.objects.filter(patient=patient)
        .select_related("questionnaire", "entered_by", "request")
        .order_by("-authored_at", "-id")
    )


def response_get(*, patient: Patient, public_id: uuid.UUID | str) -> QuestionnaireResponse:
    return response_list(patient=patient).get(public_id=public_id)


def request_list(*, patient: Patient) -> QuerySet[QuestionnaireRequest]:
    return (
        QuestionnaireRequest.objects.filter(patient=patient)
        .select_related("questionnaire", "requested_by", "team")
        .order_by("-requested_at", "-id")
    )


def latest_scores(*, patient: Patient) -> list[QuestionnaireResponse]:
    """The newest response to each questionnaire the patient has answered."""
    newest: dict[int, QuestionnaireResponse] = {}
    for response in response_list(patient=patient):
        newest.setdefault(response.questionnaire_id, response)
    return sorted(newest.values(), key=lambda r: r.questionnaire.title)


# The severity bands of the instruments' total scores, as their papers give them, keyed by
# (questionnaire code, score code). Shaded behind the chart so a clinician reads "moderate"
# without recalling the cut-offs.
SEVERITY_BANDS: dict[tuple[str, str], tuple[tuple[str, int, int], ...]] = {
    # Kroenke K, Spitzer RL, Williams JBW. The PHQ-9: validity of a brief depression severity
    # measure. J Gen Intern Med 2001;16:606-13 (table 3: 5, 10, 15, 20).
    ("phq-9", "total"): (
        ("Minimal", 0, 4),
        ("Mild", 5, 9),
        ("Moderate", 10, 14),
        ("Moderately severe", 15, 19),
        ("Severe", 20, 27),
    ),
    # Spitzer RL, Kroenke K, Williams JBW, Löwe B. A brief measure for assessing generalized
    # anxiety disorder: the GAD-7. Arch Intern Med 2006;166:1092-7 (cut-points 5, 10, 15).
    ("gad-7", "total"): (
        ("Minimal", 0, 4),
        ("Mild", 5, 9),
        ("Moderate", 10, 14),
        ("Severe", 15, 21),
    ),
}


def severity_bands(*, questionnaire_code: str, score_code: str) -> tuple[SeverityBand, ...]:
    """The instrument's severity bands for a score, lowest first; () when it has none."""
    rows = SEVERITY_BANDS.get((questionnaire_code.casefold(), score_code.casefold()), ())
    return tuple(SeverityBand(label, Decimal(low), Decimal(high)) for label, low, high in rows)


def severity_of(*, questionnaire_code: str, score_code: str, value: Any) -> str:
    """The band a score falls in ("Moderate"), "" when the instrument has no bands or the
    score is missing."""
    if value is None:
        return ""
    number = Decimal(str(value))
    bands = severity_bands(questionnaire_code=questionnaire_code, score_code=score_code)
    return next((band.label for band in bands if band.low <= number <= band.high), "")


def scores_in_words(response: QuestionnaireResponse) -> list[dict[str, Any]]:
    """A response's scores as the review lists them: label, value, and its severity band."""
    code = response.questionnaire.code
    return [
        {
            "label": score.get("label", score_code),
            "value": score.get("value"),
            "severity": severity_of(
                questionnaire_code=code, score_code=score_code, value=score.get("value")
            ),
        }
        for score_code, score in (response.scores or {}).items()
    ]


def score_charts(*, patient: Patient) -> list[TrendChart]:
    """One trend chart per score of each questionnaire answered, oldest to newest, with the
    score's alert thresholds drawn as lines (the same drawing as the test charts)."""
    by_score: dict[tuple[int, str], list[ChartPoint]] = {}
    questionnaires: dict[int, Questionnaire] = {}
    for response in reversed(list(response_list(patient=patient))):
        questionnaires[response.questionnaire_id] = response.questionnaire
        for code, score in (response.scores or {}).items():
            if score.get("value") is None:
                continue
            value = Decimal(str(score["value"]))
            by_score.setdefault((response.questionnaire_id, code), []).append(
                ChartPoint(
                    at=response.authored_at, value=value, comparator="", units="", text=str(value)
                )
            )
    charts = []
    for (questionnaire_id, code), points in by_score.items():
        questionnaire = questionnaires[questionnaire_id]
        definition: dict[str, Any] = next(
            (s for s in questionnaire.scoring.get("scores", []) if s["code"] == code), {}
        )
        lines = tuple(
            ThresholdLine(
                label=f"Alert at {rule['op'].replace('>=', '≥')} {rule['value']}",
                value=Decimal(str(rule["value"])),
                rule=rule["label"],
                rule_type="questionnaire",
            )
            for rule in questionnaire.scoring.get("alerts", [])
            if rule.get("score") == code
        )
        charts.append(
            TrendChart(
                code=f"{questionnaire.code}-{code}",
                name=definition.get("label", code),
                units="score",
                log_scale=False,
                points=tuple(points),
                thresholds=lines,
                # The instrument's own range, never one fitted to this patient's scores.
                y_min=Decimal(0) if definition.get("max") is not None else None,
                y_max=(
                    Decimal(str(definition["max"])) if definition.get("max") is not None else None
                ),
                bands=severity_bands(questionnaire_code=questionnaire.code, score_code=code),
            )
        )
    return sorted(charts, key=lambda c: c.name)
