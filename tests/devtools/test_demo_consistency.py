"""The demo tells one story per patient: each patient's questionnaire scores and readings are
their own, and each clinic letter names the patient's own treatment (the pathway of their
plan) and quotes a marker value the patient's own record holds on that date."""

from __future__ import annotations

import datetime as dt
import html
import io
import re
from collections import defaultdict

import pytest
from django.core.management import call_command

from careplans.models import FollowUpPlan, QuestionnaireResponse
from devtools.demo.history import COLON, RECTUM, RP, RT, build_plan
from devtools.management.commands.demo_plans import PATHWAYS
from rms.models import Document, Result

ANCHOR = dt.date(2026, 3, 16)
# What a letter must say the patient was treated with, by the code of their plan's pathway.
TREATMENT_BY_PLAN = {
    "prostate-post-prostatectomy": "radical prostatectomy",
    "prostate-post-radiotherapy": "radical radiotherapy",
    "colorectal-cea": ("hemicolectomy", "anterior resection"),
}
LATEST = re.compile(r"most recent (PSA|CEA), on (\d{1,2} \w+ \d{4}), was ([<\d.]+) ug/L")


def _treatment_named(letter: str, plan_code: str) -> bool:
    wanted = TREATMENT_BY_PLAN[plan_code]
    return any(w in letter for w in ((wanted,) if isinstance(wanted, str) else wanted))


def test_every_letter_names_the_treatment_of_the_patients_plan_and_their_own_marker() -> None:
    for planned in build_plan(ANCHOR):
        plan_code = PATHWAYS[planned.pathway]
        marker = "PSA" if planned.pathway in (RP, RT) else "CEA"
        values_on = {
            (result.observed_at.date(), obs.value_text)
            for result in planned.results
            for obs in result.observations
            if obs.code == marker
        }
        assert planned.documents, planned.index
        for document in planned.documents:
            letter = html.unescape(document.content_html)
            assert _treatment_named(letter, plan_code), (planned.index, letter)
            quoted = LATEST.search(letter)
            if quoted is None:
                continue
            name, on, value = quoted.groups()
            assert name == marker
            day = dt.datetime.strptime(on, "%d %B %Y").date()  # noqa: DTZ007 (a calendar date)
            assert (day, value) in values_on, (planned.index, on, value)


def test_a_colorectal_letter_does_not_ask_about_the_prostate_and_the_other_way_round() -> None:
    for planned in build_plan(ANCHOR):
        for document in planned.documents:
            letter = html.unescape(document.content_html)
            if planned.pathway in (COLON, RECTUM):
                assert not {"urinary", "erectile", "radiotherapy"} & set(re.findall(r"\w+", letter))
            else:
                assert "abdominal pain" not in letter


@pytest.mark.django_db
def test_no_two_demo_patients_share_a_series_and_letters_match_their_plans(demo_settings) -> None:
    for command in ("load_demo", "demo_plans", "demo_care", "demo_patient_data"):
        call_command(command, stdout=io.StringIO())

    series: dict[tuple[str, str], dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    responses = QuestionnaireResponse.objects.select_related("questionnaire").order_by(
        "authored_at"
    )
    for response in responses:
        for score, value in sorted(response.scores.items()):
            key = (response.questionnaire.code, score)
            series[key][response.patient_id].append(value["value"])
    weights = Result.objects.filter(
        category=Result.Category.PATIENT, service_code="29463-7"
    ).order_by("observed_at")
    for result in weights.prefetch_related("observations"):
        for obs in result.observations.all():
            series[("weight", "kg")][result.patient_id].append(float(obs.value_numeric))

    phq9 = series[("phq-9", "total")]
    assert len(phq9) == 3, "three patients answer PHQ-9 in the demo"
    assert len(series[("weight", "kg")]) == 2
    for key, by_patient in series.items():
        seen = [tuple(values) for values in by_patient.values()]
        assert len(set(seen)) == len(seen), (key, seen)

    plans = {
        plan.patient_id: plan.pathway.code
        for plan in FollowUpPlan.objects.select_related("pathway").filter(status="active")
    }
    letters = Document.objects.filter(title__contains="clinic letter")
    assert letters.exists()
    for letter in letters:
        text = html.unescape(letter.content_html)
        assert _treatment_named(text, plans[letter.patient_id]), letter.title
