"""Trend charts: the values of each test, the plan's limits as lines, the nadir marked, PSA on a
log scale; and the fragment the patient record loads."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest
import time_machine
from django.urls import reverse
from pytest_django.asserts import assertContains, assertNotContains

from careplans.followup import services
from careplans.followup.charts import TrendChart, patient_charts
from careplans.models import FollowUpPlan, Pathway
from rms.models import AccessEvent, Patient
from tests.factories import ObservationFactory, PatientFactory, ResultFactory

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}


@pytest.fixture(autouse=True)
def today():
    with time_machine.travel(dt.datetime(2025, 3, 15, 12, 0, tzinfo=dt.UTC), tick=False):
        yield


def _at(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(9, 30), tzinfo=dt.UTC)


def _value(patient, day: dt.date, value: str, *, code="PSA", units="ug/L", comparator=""):
    result = ResultFactory(patient=patient, observed_at=_at(day))
    return ObservationFactory(
        result=result,
        code=code,
        name=code,
        value_text=f"{comparator}{value}",
        value_numeric=Decimal(value),
        comparator=comparator,
        units=units,
    )


def _start(patient, actor, code: str, anchor: dt.date) -> FollowUpPlan:
    return services.plan_start(
        patient=patient, pathway=Pathway.objects.get(code=code), anchor_date=anchor, actor=actor
    )


def _chart(patient, code: str = "PSA") -> TrendChart:
    charts = {chart.code.upper(): chart for chart in patient_charts(patient=patient)}
    return charts[code]


def charts_url(patient: Patient) -> str:
    return reverse("charts:patient_charts", args=[patient.public_id])


# --- chart data ----------------------------------------------------------------------------


def test_an_absolute_limit_is_a_threshold_line_and_psa_is_on_a_log_scale(patient, clinician):
    _start(patient, clinician, "prostate-post-prostatectomy", dt.date(2024, 9, 1))
    _value(patient, dt.date(2024, 12, 1), "0.01", comparator="<")
    _value(patient, dt.date(2025, 3, 1), "0.05")

    chart = _chart(patient)

    assert chart.log_scale is True
    assert chart.scale == "logarithmic"
    assert [(line.label, line.value) for line in chart.thresholds] == [
        ("Threshold 0.2 ug/L", Decimal("0.2"))
    ]
    assert chart.nadir is None
    assert [p.text for p in chart.points] == ["<0.01 ug/L", "0.05 ug/L"]
    # The trend rules have no line; they are listed in words instead.
    assert any(
        words.startswith("PSA rising on 3 consecutive results") for words in chart.other_rules
    )
    assert any("doubling time" in words for words in chart.other_rules)


def test_a_rise_above_nadir_is_drawn_at_nadir_plus_rise_with_the_nadir_marked(patient, clinician):
    _start(patient, clinician, "prostate-post-radiotherapy", dt.date(2024, 6, 1))
    # Before the anchor (the end of radiotherapy): never the nadir, however low.
    _value(patient, dt.date(2024, 5, 1), "0.05")
    _value(patient, dt.date(2024, 9, 1), "1.2")
    _value(patient, dt.date(2024, 12, 1), "0.4")
    _value(patient, dt.date(2025, 3, 1), "0.6")

    chart = _chart(patient)

    assert [line.value for line in chart.thresholds] == [Decimal("2.4")]
    assert chart.thresholds[0].label == "Threshold 2.4 ug/L (nadir 0.4 + 2)"
    assert chart.nadir is not None
    assert chart.nadir.at == _at(dt.date(2024, 12, 1))
    assert chart.nadir.value == Decimal("0.4")
    assert chart.nadir_label == "Nadir 0.4 ug/L on 1 Dec 2024"
    # Every value is drawn, the one before the anchor too.
    assert len(chart.points) == 4


def test_an_undetectable_nadir_counts_as_its_limit_and_the_earliest_equal_value_is_the_nadir(
    patient, clinician
):
    _start(patient, clinician, "prostate-post-radiotherapy", dt.date(2024, 6, 1))
    _value(patient, dt.date(2024, 9, 1), "0.01", comparator="<")
    _value(patient, dt.date(2024, 12, 1), "0.01", comparator="<")
    _value(patient, dt.date(2025, 3, 1), "0.3")

    chart = _chart(patient)

    assert chart.nadir is not None and chart.nadir.at == _at(dt.date(2024, 9, 1))
    assert chart.thresholds[0].value == Decimal("2.01")


def test_with_no_result_since_the_anchor_there_is_no_nadir_line_and_it_says_so(patient, clinician):
    _start(patient, clinician, "prostate-post-radiotherapy", dt.date(2025, 1, 1))
    _value(patient, dt.date(2024, 11, 1), "4.0")

    chart = _chart(patient)

    assert chart.thresholds == ()
    assert chart.nadir is None
    assert any("no nadir yet" in note for note in chart.notes)


def test_values_in_other_units_are_converted_and_unconvertible_ones_left_out_and_counted(
    patient, clinician
):
    _start(patient, clinician, "prostate-post-prostatectomy", dt.date(2024, 9, 1))
    _value(patient, dt.date(2024, 12, 1), "0.05")
    _value(patient, dt.date(2025, 1, 1), "150", units="ng/L")
    _value(patient, dt.date(2025, 2, 1), "3", units="mmol/L")

    chart = _chart(patient)

    assert [p.value for p in chart.points] == [Decimal("0.05"), Decimal("0.150")]
    # The lab's own text is kept for the tooltip and the results table.
    assert chart.points[1].text == "150 ng/L"
    assert chart.left_out == 1


def test_a_zero_value_puts_psa_on_a_linear_scale(patient, clinician):
    _start(patient, clinician, "prostate-post-prostatectomy", dt.date(2024, 9, 1))
    _value(patient, dt.date(2024, 12, 1), "0")

    chart = _chart(patient)

    assert chart.log_scale is False
    assert "linear scale" in chart.linear_reason


def test_other_tests_are_on_a_linear_scale_with_their_limits(patient, clinician):
    _start(patient, clinician, "colorectal-cea", dt.date(2024, 9, 1))
    _value(patient, dt.date(2024, 12, 1), "3.1", code="CEA")

    chart = _chart(patient, "CEA")

    assert chart.log_scale is False
    # The raised-CEA limit, and the rise over the patient's own baseline (Shinkins 2018).
    assert [line.label for line in chart.thresholds] == [
        "Threshold 5.6 ug/L (nadir 3.1 + 2.5)",
        "Threshold 5 ug/L",
    ]


def test_a_paused_plan_draws_no_lines(patient, clinician):
    plan = _start(patient, clinician, "prostate-post-prostatectomy", dt.date(2024, 9, 1))
    services.plan_pause(plan=plan, actor=clinician, reason="On holiday abroad")
    _value(patient, dt.date(2024, 12, 1), "0.05")

    chart = _chart(patient)

    assert chart.thresholds == ()
    assert len(chart.points) == 1


def test_a_patient_with_no_plan_gets_a_chart_of_each_numeric_test_without_lines(patient):
    _value(patient, dt.date(2024, 12, 1), "0.05")
    _value(patient, dt.date(2025, 1, 1), "3.1", code="CEA")

    charts = patient_charts(patient=patient)

    assert sorted(chart.code for chart in charts) == ["CEA", "PSA"]
    assert all(chart.thresholds == () for chart in charts)


def test_the_chart_data_is_json_with_times_in_milliseconds_thresholds_and_the_nadir(
    patient, clinician
):
    _start(patient, clinician, "prostate-post-radiotherapy", dt.date(2024, 6, 1))
    _value(patient, dt.date(2024, 9, 1), "1.2")
    _value(patient, dt.date(2024, 12, 1), "0.4")

    data = json.loads(json.dumps(_chart(patient).as_data()))

    assert data["scale"] == "logarithmic"
    assert data["points"][0] == {
        "x": int(_at(dt.date(2024, 9, 1)).timestamp() * 1000),
        "y": 1.2,
        "label": "1.2 ug/L",
        "date": "1 Sep 2024",
        "censored": False,
    }
    assert data["thresholds"][0]["y"] == 2.4
    assert data["nadir"]["y"] == 0.4
    assert data["x_min"] < data["x_max"]


# --- the fragment --------------------------------------------------------------------------


def test_the_fragment_has_a_canvas_and_its_json_island_for_htmx(client, clinician, patient):
    _start(patient, clinician, "prostate-post-prostatectomy", dt.date(2024, 9, 1))
    _value(patient, dt.date(2024, 12, 1), "0.05")
    client.force_login(clinician)

    response = client.get(charts_url(patient), headers=HTMX)

    assertContains(response, '<canvas data-trend-chart="trend-data-psa"')
    assertContains(response, '<script id="trend-data-psa" type="application/json">')
    assertContains(response, "Threshold 0.2 ug/L")
    assertNotContains(response, "<html")
    # No inline script: only the JSON island, which a browser does not run.
    assert "<script>" not in response.content.decode()


def test_without_javascript_the_charts_are_a_page_with_the_script(client, clinician, patient):
    client.force_login(clinician)
    response = client.get(charts_url(patient))
    assertContains(response, "<html")
    assertContains(response, "js/trend-chart.js")


def test_a_viewer_sees_the_charts_and_the_read_is_logged(client, viewer, patient):
    client.force_login(viewer)
    response = client.get(charts_url(patient), headers=HTMX)
    assert response.status_code == 200
    assert AccessEvent.objects.filter(user=viewer, patient=patient, action="charts").exists()


def test_another_teams_patient_is_a_404(client, other_team_clinician, patient):
    client.force_login(other_team_clinician)
    response = client.get(charts_url(patient), headers=HTMX)
    assert response.status_code == 404
    assert AccessEvent.objects.filter(
        user=other_team_clinician, patient=patient, outcome="denied"
    ).exists()


def test_an_anonymous_user_is_sent_to_log_in(client):
    patient = PatientFactory()
    response = client.get(charts_url(patient))
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]
