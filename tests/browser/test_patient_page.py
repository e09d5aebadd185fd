"""A clinician opens a patient on a follow-up plan and sees the PSA trend drawn with the plan's
threshold line, on a log scale."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from careplans.followup import services
from careplans.models import Pathway, Rule, ScheduleStep
from tests.browser.conftest import log_in
from tests.factories import ObservationFactory, PatientFactory, ResultFactory

pytestmark = pytest.mark.django_db(transaction=True)


def _pathway() -> Pathway:
    """A PSA pathway made here: an earlier transactional test flushes the database, and with it
    the pathways a migration seeds."""
    pathway = Pathway.objects.create(
        code="browser-psa",
        name="PSA after prostatectomy (browser test)",
        tumour_site="prostate",
        treatment="Radical prostatectomy",
        description="For the browser test.",
    )
    ScheduleStep.objects.create(
        pathway=pathway, test_code="PSA", test_name="PSA", from_month=0, every_months=6
    )
    Rule.objects.create(
        pathway=pathway,
        name="PSA at or above 0.2 ug/L, confirmed",
        test_code="PSA",
        rule_type="absolute_limit",
        params={"threshold": "0.2", "confirmations": 2, "units": "ug/L"},
    )
    return pathway


def test_a_clinician_opens_a_patient_and_sees_the_chart_with_its_threshold_line(
    page: Page, live_server, team, clinician
) -> None:
    patient = PatientFactory(teams=[team], family_name="Prefect", given_name="Ford")
    services.plan_start(
        patient=patient,
        pathway=_pathway(),
        anchor_date=timezone.localdate() - dt.timedelta(days=400),
        actor=clinician,
    )
    for days, value in ((300, "0.01"), (200, "0.03"), (100, "0.08")):
        result = ResultFactory(patient=patient, observed_at=timezone.now() - dt.timedelta(days))
        ObservationFactory(result=result, value_text=value, value_numeric=Decimal(value))

    log_in(page, live_server, clinician.username)
    page.goto(f"{live_server.url}/patients/")
    page.get_by_role("link", name="PREFECT, Ford").click()

    canvas = page.locator("#charts-panel canvas[data-trend-chart]")
    expect(canvas).to_be_visible()
    expect(canvas).to_have_attribute("data-drawn", "true")
    chart = canvas.evaluate(
        """(element) => {
            const chart = Chart.getChart(element);
            return {
                labels: chart.data.datasets.map((d) => d.label),
                scale: chart.options.scales.y.type,
                width: element.width,
            };
        }"""
    )
    assert any(label.startswith("Threshold 0.2") for label in chart["labels"])
    assert chart["scale"] == "logarithmic"
    assert chart["width"] > 0
    # The header says what the PKB panel says, once the panel has loaded.
    expect(page.locator("[data-pkb-summary]")).to_contain_text("Not shared")
    expect(page.locator("#header-plan")).to_contain_text("PSA after prostatectomy (browser test)")
