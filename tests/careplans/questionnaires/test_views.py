"""Questionnaire pages, API and admin: a clinician enters answers by phone and sends a
questionnaire through PKB; viewers only read; another team's patient is a 404; an invalid
definition is refused in admin with the reason."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse
from pytest_django.asserts import assertContains

from careplans.models import Questionnaire, QuestionnaireRequest, QuestionnaireResponse
from careplans.questionnaires import selectors
from careplans.questionnaires import services as qs
from pkb_bridge import services as pkb_services
from worklists.models import WorkItem

pytestmark = pytest.mark.django_db

PHQ = ["LA6568-5", "LA6569-3", "LA6570-1", "LA6571-9"]


def phq9_post(values: list[int]) -> dict[str, str]:
    data = {f"item_{n}": PHQ[v] for n, v in enumerate(values, start=1)}
    data["authored_date"] = "2026-02-01"
    return data


def phq9_json(values: list[int]) -> dict:
    return {
        "resourceType": "QuestionnaireResponse",
        "status": "completed",
        "authored": "2026-02-01T10:00:00+00:00",
        "item": [
            {"linkId": str(n), "answer": [{"valueCoding": {"code": PHQ[v]}}]}
            for n, v in enumerate(values, start=1)
        ],
    }


def enter_url(patient, code: str = "phq-9") -> str:
    return reverse("questionnaires:enter", args=[patient.public_id, code])


# ---------------------------------------------------------------------------
# Pages
# ---------------------------------------------------------------------------
def test_a_clinician_enters_a_phq9_by_phone_and_an_alert_is_raised(client, clinician, patient):
    client.force_login(clinician)
    page = client.get(enter_url(patient))
    assert page.status_code == 200
    assert 'type="radio"' in page.content.decode()
    assert "Thoughts that you would be better off dead" in page.content.decode()
    response = client.post(enter_url(patient), phq9_post([3, 3, 2, 2, 2, 2, 2, 2, 1]))
    assert response.status_code == 302
    stored = QuestionnaireResponse.objects.get(patient=patient)
    assert stored.scores["total"]["value"] == 19
    assert stored.entered_by == clinician and stored.source == "clinician"
    item = WorkItem.objects.get(patient=patient, kind=WorkItem.Kind.QUESTIONNAIRE_ALERT)
    assert "PHQ-9 total 19 (≥ 15)" in item.explanation
    panel = client.get(reverse("questionnaires:patient", args=[patient.public_id]))
    assert "PHQ-9 total: <strong>19 / 27</strong>" in panel.content.decode()
    assert "trend-data-phq-9-total" in panel.content.decode()


def test_a_form_with_an_unanswered_required_item_is_refused(client, clinician, patient):
    client.force_login(clinician)
    data = phq9_post([0] * 9)
    del data["item_9"]
    response = client.post(enter_url(patient), data)
    assert response.status_code == 400
    assert not QuestionnaireResponse.objects.exists()


def test_a_viewer_reads_the_panel_but_cannot_enter_or_send(client, viewer, patient):
    client.force_login(viewer)
    panel = client.get(reverse("questionnaires:patient", args=[patient.public_id]))
    assert panel.status_code == 200
    assert "Send through PKB" not in panel.content.decode()
    assert client.get(enter_url(patient)).status_code == 403
    assert client.post(enter_url(patient), phq9_post([3] * 9)).status_code == 403
    send = client.post(
        reverse("questionnaires:send", args=[patient.public_id]),
        {"questionnaire": Questionnaire.objects.get(code="gad-7").pk},
    )
    assert send.status_code == 403
    assert not QuestionnaireResponse.objects.exists()
    assert not QuestionnaireRequest.objects.exists()


def test_another_teams_clinician_gets_404_everywhere(client, other_team_clinician, patient):
    stored = qs.record_response(
        patient=patient,
        questionnaire=Questionnaire.objects.get(code="phq-9"),
        response_json=phq9_json([0] * 9),
        source="pkb",
    )
    client.force_login(other_team_clinician)
    for url in (
        reverse("questionnaires:patient", args=[patient.public_id]),
        reverse("questionnaires:latest", args=[patient.public_id]),
        reverse("questionnaires:response", args=[patient.public_id, stored.public_id]),
        enter_url(patient),
    ):
        assert client.get(url).status_code == 404, url


def test_a_response_is_not_reached_through_another_patient(
    client, other_team_clinician, patient, other_patient
):
    stored = qs.record_response(
        patient=patient,
        questionnaire=Questionnaire.objects.get(code="phq-9"),
        response_json=phq9_json([0] * 9),
        source="pkb",
    )
    client.force_login(other_team_clinician)
    url = reverse("questionnaires:response", args=[other_patient.public_id, stored.public_id])
    assert client.get(url).status_code == 404


def test_anonymous_users_are_sent_to_log_in(client, patient):
    response = client.get(reverse("questionnaires:patient", args=[patient.public_id]))
    assert response.status_code == 302 and "login" in response["Location"]


def deliverable(patient, clinician) -> None:  # type: ignore[no-untyped-def]
    """The patient shared with PKB and the questionnaires known to PKB by id."""
    pkb_services.enrolment_opt_in(
        patient=patient, actor=clinician, attestation="Consented in clinic, paper form filed"
    )
    Questionnaire.objects.update(pkb_questionnaire_id="pkb-q")


def test_a_clinician_sends_a_questionnaire_through_pkb(client, clinician, patient):
    deliverable(patient, clinician)
    client.force_login(clinician)
    response = client.post(
        reverse("questionnaires:send", args=[patient.public_id]),
        {"questionnaire": Questionnaire.objects.get(code="gad-7").pk},
    )
    assert response.status_code == 302
    request = QuestionnaireRequest.objects.get(patient=patient)
    assert (request.status, request.channel, request.requested_by) == ("pending", "pkb", clinician)
    assert list(qs.pending_pkb_requests()) == [request]


def test_the_response_page_and_the_review_fragment_show_the_scores(client, clinician, patient):
    stored = qs.record_response(
        patient=patient,
        questionnaire=Questionnaire.objects.get(code="phq-9"),
        response_json=phq9_json([1] * 9),
        source="pkb",
    )
    client.force_login(clinician)
    page = client.get(
        reverse("questionnaires:response", args=[patient.public_id, stored.public_id])
    )
    assert page.status_code == 200 and "Several days" in page.content.decode()
    latest = client.get(reverse("questionnaires:latest", args=[patient.public_id]))
    # 9 is the top of Kroenke's "mild" (5-9).
    assert "PHQ-9 total <strong>9</strong> (mild)" in latest.content.decode()


# ---------------------------------------------------------------------------
# API
# ---------------------------------------------------------------------------
def responses_url(patient) -> str:
    return reverse("api:patient-questionnaire-responses", kwargs={"public_id": patient.public_id})


def requests_url(patient) -> str:
    return reverse("api:patient-questionnaire-requests", kwargs={"public_id": patient.public_id})


def test_the_api_lists_the_seeded_questionnaires(api_clinician):
    response = api_clinician.get(reverse("api:questionnaires"))
    assert response.status_code == 200
    assert {"phq-9", "gad-7", "epic-26", "hna-concerns"} <= {q["code"] for q in response.json()}


def test_the_api_records_a_response_and_lists_it(api_clinician, patient):
    body = {"questionnaire": "phq-9", "response": phq9_json([3] * 9)}
    created = api_clinician.post(responses_url(patient), body, format="json")
    assert created.status_code == 201, created.content
    assert created.json()["scores"]["total"]["value"] == 27
    listed = api_clinician.get(responses_url(patient))
    assert listed.json()["results"][0]["public_id"] == created.json()["public_id"]
    assert WorkItem.objects.filter(patient=patient).count() == 1


def test_the_api_refuses_an_invalid_response_with_the_reason(api_clinician, patient):
    bad = phq9_json([0] * 9)
    bad["item"][0]["answer"] = [{"valueCoding": {"code": "nope"}}]
    refused = api_clinician.post(
        responses_url(patient), {"questionnaire": "phq-9", "response": bad}, format="json"
    )
    assert refused.status_code == 400
    assert "'nope' is not one of its answer options" in json.dumps(refused.json())


def test_the_api_sends_a_request_and_lists_it(api_clinician, clinician, patient):
    deliverable(patient, clinician)
    created = api_clinician.post(requests_url(patient), {"questionnaire": "gad-7"}, format="json")
    assert created.status_code == 201
    assert created.json()["status"] == "pending"
    assert api_clinician.get(requests_url(patient)).json()["count"] == 1


def test_the_api_refuses_viewers_writes_and_other_teams(
    api_viewer, api_other_clinician, patient, client
):
    body = {"questionnaire": "phq-9", "response": phq9_json([0] * 9)}
    assert api_viewer.get(responses_url(patient)).status_code == 200
    assert api_viewer.post(responses_url(patient), body, format="json").status_code == 403
    assert api_viewer.post(requests_url(patient), {"questionnaire": "gad-7"}).status_code == 403
    assert api_other_clinician.get(responses_url(patient)).status_code == 404
    assert api_other_clinician.post(responses_url(patient), body, format="json").status_code == 404
    assert client.get(responses_url(patient)).status_code == 401
    assert not QuestionnaireResponse.objects.exists()


# ---------------------------------------------------------------------------
# Admin
# ---------------------------------------------------------------------------
def test_admin_refuses_invalid_questionnaire_json_with_the_reason(admin_client):
    phq9 = Questionnaire.objects.get(code="phq-9")
    url = reverse("admin:careplans_questionnaire_change", args=[phq9.pk])
    form = {
        "code": "phq-9",
        "version": "1",
        "title": "PHQ-9",
        "description": phq9.description,
        "active": "on",
        "pkb_questionnaire_id": "",
        "fhir": json.dumps({"resourceType": "Questionnaire", "item": []}),
        "scoring": json.dumps(phq9.scoring),
        "schedules-TOTAL_FORMS": "0",
        "schedules-INITIAL_FORMS": "0",
    }
    response = admin_client.post(url, form)
    assert response.status_code == 200
    assert "status: Value for the field" in response.content.decode()
    form["fhir"] = '{"resourceType": '
    response = admin_client.post(url, form)
    assert response.status_code == 200
    assert "Enter a valid JSON" in response.content.decode()
    form["fhir"] = json.dumps(phq9.fhir)
    form["pkb_questionnaire_id"] = "PKB-PHQ9"
    response = admin_client.post(url, form)
    assert response.status_code == 302, response.content.decode()[:3000]
    phq9.refresh_from_db()
    assert phq9.pkb_questionnaire_id == "PKB-PHQ9"


def test_score_charts_are_drawn_on_the_instruments_whole_range(client, clinician, patient):
    """PHQ-9 totals run from 0 to 27 (Kroenke, Spitzer and Williams, J Gen Intern Med
    2001;16:606-613): two totals of 9 and 11 are drawn on that range, not on an axis fitted to
    them that turns a two-point change into a cliff."""
    client.force_login(clinician)
    client.post(enter_url(patient), phq9_post([1, 1, 1, 1, 1, 1, 1, 1, 1]))
    client.post(enter_url(patient), phq9_post([2, 2, 1, 1, 1, 1, 1, 1, 1]))
    panel = client.get(reverse("questionnaires:patient", args=[patient.public_id]))

    [chart] = [c for c in panel.context["charts"] if c.code == "phq-9-total"]
    data = chart.as_data()
    assert [point["y"] for point in data["points"]] == [9.0, 11.0]
    assert (data["y_min"], data["y_max"]) == (0.0, 27.0)


def test_a_phq9_chart_shades_kroenkes_severity_bands_and_names_them(client, clinician, patient):
    """PHQ-9 severity (Kroenke, Spitzer and Williams 2001, table 3): 0-4 minimal, 5-9 mild,
    10-14 moderate, 15-19 moderately severe, 20-27 severe. Each band's edges sit half-way
    between whole scores, so a total of 10 is drawn inside "moderate", not on a line."""
    client.force_login(clinician)
    client.post(enter_url(patient), phq9_post([1, 1, 1, 1, 1, 1, 2, 2, 0]))
    panel = client.get(reverse("questionnaires:patient", args=[patient.public_id]))

    [chart] = [c for c in panel.context["charts"] if c.code == "phq-9-total"]
    assert chart.as_data()["bands"] == [
        {"label": "Minimal", "from": 0.0, "to": 4.5},
        {"label": "Mild", "from": 4.5, "to": 9.5},
        {"label": "Moderate", "from": 9.5, "to": 14.5},
        {"label": "Moderately severe", "from": 14.5, "to": 19.5},
        {"label": "Severe", "from": 19.5, "to": 27.0},
    ]
    [point] = chart.as_data()["points"]
    moderate = chart.as_data()["bands"][2]
    assert moderate["from"] < point["y"] == 10.0 < moderate["to"]
    assertContains(
        panel,
        "Severity bands: 0-4 minimal, 5-9 mild, 10-14 moderate, 15-19 moderately severe, "
        "20-27 severe (shaded on the chart)",
    )


def test_gad7_has_spitzers_four_bands_and_other_scores_have_none():
    """GAD-7 (Spitzer, Kroenke, Williams and Löwe 2006): 0-4 minimal, 5-9 mild, 10-14
    moderate, 15-21 severe."""
    bands = selectors.severity_bands(questionnaire_code="gad-7", score_code="total")
    assert [(b.label, int(b.low), int(b.high)) for b in bands] == [
        ("Minimal", 0, 4),
        ("Mild", 5, 9),
        ("Moderate", 10, 14),
        ("Severe", 15, 21),
    ]
    assert selectors.severity_bands(questionnaire_code="hna", score_code="total") == ()


def test_a_score_on_a_band_edge_falls_in_the_band_the_paper_gives_it():
    """PHQ-9 10 is "moderate" (10-14), 9 "mild", 20 "severe" (Kroenke 2001); GAD-7 15 is
    "severe" (15-21, Spitzer 2006)."""
    phq9 = {
        v: selectors.severity_of(questionnaire_code="phq-9", score_code="total", value=v)
        for v in (0, 4, 5, 9, 10, 19, 20, 27)
    }
    assert phq9 == {
        0: "Minimal",
        4: "Minimal",
        5: "Mild",
        9: "Mild",
        10: "Moderate",
        19: "Moderately severe",
        20: "Severe",
        27: "Severe",
    }
    assert selectors.severity_of(questionnaire_code="gad-7", score_code="total", value=15) == (
        "Severe"
    )
    assert selectors.severity_of(questionnaire_code="phq-9", score_code="total", value=None) == ""
