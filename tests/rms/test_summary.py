"""The patient record's summary: which diagnosis leads, the latest tumour marker with its change
and its line of recent values."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse
from pytest_django.asserts import assertContains

from rms import summary
from rms.models import Diagnosis
from tests.factories import DiagnosisFactory, ObservationFactory, ResultFactory

pytestmark = pytest.mark.django_db


def _value(patient, code: str, day: int, value: str, comparator: str = "") -> None:
    result = ResultFactory(patient=patient, observed_at=dt.datetime(2025, 1, day, 9, tzinfo=dt.UTC))
    ObservationFactory(
        result=result,
        code=code,
        name=code,
        value_text=f"{comparator}{value}",
        value_numeric=Decimal(value),
        comparator=comparator,
        units="ug/L",
    )


def test_the_newest_current_diagnosis_leads_and_the_others_are_counted(patient):
    DiagnosisFactory(patient=patient, text="Old", diagnosed_on=dt.date(2019, 1, 1))
    DiagnosisFactory(
        patient=patient,
        text="Mistake",
        diagnosed_on=dt.date(2024, 1, 1),
        status=Diagnosis.Status.ENTERED_IN_ERROR,
    )
    DiagnosisFactory(
        patient=patient, text="Current", stage="T2N0M0", diagnosed_on=dt.date(2023, 3, 1)
    )

    found = summary.diagnosis_summary(list(patient.diagnoses.all()))

    assert found is not None
    assert (found.text, found.stage, found.diagnosed_on, found.others) == (
        "Current",
        "T2N0M0",
        "01-Mar-2023",
        2,
    )


def test_the_latest_psa_is_shown_rising_from_the_one_before_with_its_line(patient):
    _value(patient, "PSA", 1, "0.01", comparator="<")
    _value(patient, "PSA", 2, "0.1")
    _value(patient, "PSA", 3, "1")
    _value(patient, "CEA", 2, "3")

    marker = summary.latest_marker(patient=patient)

    assert marker is not None
    assert (marker.name, marker.latest, marker.trend_words) == (
        "PSA",
        "1 ug/L",
        "rising from 0.1 ug/L",
    )
    assert marker.arrow == "↑"
    # A log scale, as the chart: 0.01, 0.1 and 1 are evenly spaced, from bottom to top.
    assert marker.points == "3.0,29.0 60.0,16.0 117.0,3.0"
    assert marker.spark_label == "PSA: the last 3 values from 01-Jan-2025 to 03-Jan-2025, log scale"


def test_a_falling_cea_is_drawn_on_a_linear_scale_and_a_lone_value_has_no_trend(patient):
    _value(patient, "CEA", 1, "10")
    _value(patient, "CEA", 2, "2")
    _value(patient, "CEA", 3, "4")

    marker = summary.latest_marker(patient=patient)

    assert marker is not None
    assert marker.trend_words == "rising from 2 ug/L"
    assert marker.points == "3.0,3.0 60.0,29.0 117.0,22.5"
    assert (
        summary.marker_summary(list(summary.marker_observations(patient=patient))[:1]).trend == ""
    )


def test_the_record_opens_with_the_summary(client, clinician, patient):
    DiagnosisFactory(patient=patient, text="Adenocarcinoma of prostate", stage="T3aN0M0")
    _value(patient, "PSA", 1, "0.2")
    _value(patient, "PSA", 2, "0.1")
    client.force_login(clinician)

    response = client.get(reverse("rms:patient_detail", args=[patient.public_id]))

    html = response.content.decode()
    assertContains(response, "Adenocarcinoma of prostate</strong>, stage <strong")
    assertContains(response, "↓</span> falling from 0.2 ug/L")
    assertContains(response, 'class="sparkline"')
    # The summary comes before the links to the sections, the diagnoses table after them.
    assert html.index('id="summary-diagnosis"') < html.index('class="record-nav')
    assert html.index('class="record-nav') < html.index('id="diagnoses-heading"')
