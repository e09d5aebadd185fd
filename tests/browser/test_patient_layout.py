"""The patient page on a desktop, a tablet and a phone: the summary (diagnosis, treatment and
plan, the latest PSA with its trend, open items, PKB) is the first thing on screen, nothing
scrolls sideways, score charts keep a readable height with their severity bands named inside
the picture, and axe-core finds no serious violations on the page or on the worklist.
Screenshots of both pages at each width are kept under var/screenshots/ (not committed)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.utils import timezone
from playwright.sync_api import Browser, Locator, Page, expect

from careplans.followup import services
from careplans.models import Questionnaire
from careplans.questionnaires import services as qs
from tests.browser.conftest import log_in
from tests.browser.test_accessibility import serious_violations
from tests.browser.test_patient_page import _pathway
from tests.factories import DiagnosisFactory, ObservationFactory, PatientFactory, ResultFactory
from tests.worklists.helpers import ExampleKey
from worklists.models import WorkItem
from worklists.services import work_item_raise

pytestmark = pytest.mark.django_db(transaction=True)

# A desktop, a tablet (iPad portrait) and a phone (iPhone 14).
WIDTHS = {"desktop": (1280, 800), "tablet": (768, 1024), "phone": (390, 844)}
SCREENSHOTS = Path(settings.BASE_DIR) / "var" / "screenshots"
PHQ = ["LA6568-5", "LA6569-3", "LA6570-1", "LA6571-9"]
# Two PHQ-9 totals, 9 then 11: mild, then moderate (no thoughts of self-harm, so no alert).
PHQ9_ANSWERS = ([1, 1, 1, 1, 1, 1, 2, 1, 0], [2, 2, 1, 1, 1, 1, 2, 1, 0])


@pytest.fixture
def record(team, clinician):  # type: ignore[no-untyped-def]
    """A patient with a long record: 40 PSA results (a page of results and timeline), a
    radiology report, a diagnosis, a plan, an open item and two PHQ-9s."""
    patient = PatientFactory(teams=[team], family_name="Dent", given_name="Arthur")
    DiagnosisFactory(patient=patient, text="Adenocarcinoma of prostate", stage="T3aN0M0")
    services.plan_start(
        patient=patient,
        pathway=_pathway(),
        anchor_date=timezone.localdate() - dt.timedelta(days=800),
        actor=clinician,
    )
    for n in range(40):
        value = Decimal("0.01") + Decimal("0.005") * (39 - n)
        result = ResultFactory(
            patient=patient, observed_at=timezone.now() - dt.timedelta(days=20 * n + 1)
        )
        ObservationFactory(result=result, value_text=str(value), value_numeric=value)
    work_item_raise(
        kind=WorkItem.Kind.THRESHOLD_BREACH,
        key=ExampleKey("layout:1"),
        title="PSA at or above 0.2 ug/L, confirmed",
        explanation="PSA 0.205 ug/L is at or above 0.2, confirmed.",
        source="test",
        actor=clinician,
        patient=patient,
        team=team,
        priority=WorkItem.Priority.HIGH,
    )
    phq9 = Questionnaire.objects.get(code="phq-9")
    for days_ago, answers in zip((60, 5), PHQ9_ANSWERS, strict=True):
        qs.record_response(
            patient=patient,
            questionnaire=phq9,
            response_json=qs.response_json_from_answers(
                questionnaire=phq9,
                answers={str(n): PHQ[v] for n, v in enumerate(answers, start=1)},
                authored=timezone.now() - dt.timedelta(days=days_ago),
            ),
            source="clinician",
            actor=clinician,
        )
    return patient


@dataclass(frozen=True)
class Screen:
    device: str
    height: int
    page: Page


@pytest.fixture(params=list(WIDTHS))
def screen(request, browser: Browser, live_server) -> Iterator[Screen]:  # type: ignore[no-untyped-def]
    """A browser tab of the device's size (set up after the database, torn down before it)."""
    width, height = WIDTHS[request.param]
    context = browser.new_context(viewport={"width": width, "height": height}, locale="en-GB")
    context.set_default_timeout(15_000)
    yield Screen(device=request.param, height=height, page=context.new_page())
    context.close()
    live_server.thread.httpd.get_app().wait_until_idle()


def _open(page: Page, url: str) -> None:
    page.goto(url)
    page.wait_for_load_state("networkidle")


def _no_sideways_scroll(page: Page) -> None:
    widths = page.evaluate(
        "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    assert widths[0] <= widths[1], f"the page scrolls sideways: {widths}"


def test_the_summary_is_on_the_first_screen_and_nothing_scrolls_sideways(
    live_server, clinician, record, screen: Screen
) -> None:
    page, device, height = screen.page, screen.device, screen.height
    log_in(page, live_server, clinician.username)
    _open(page, f"{live_server.url}/patients/{record.public_id}/")

    diagnosis = page.locator("#summary-diagnosis")
    expect(diagnosis).to_contain_text("Adenocarcinoma of prostate, stage T3aN0M0")
    box = diagnosis.bounding_box()
    assert box is not None and box["y"] + box["height"] <= height, (device, box)
    expect(page.locator("#header-plan")).to_contain_text("Radical prostatectomy on")
    expect(page.locator("#header-plan")).to_contain_text("Next PSA due")
    marker = page.locator("#summary-marker")
    expect(marker).to_contain_text("PSA 0.205 ug/L")
    expect(marker).to_contain_text("rising from 0.2 ug/L")
    expect(marker.locator("svg.sparkline")).to_have_attribute(
        "aria-label",
        "PSA: the last 8 values from " + _date(141) + " to " + _date(1) + ", log scale",
    )
    expect(page.locator("[data-items-summary]")).to_have_text("1 open (1 high)")
    expect(page.locator("[data-pkb-summary]")).to_contain_text("Not shared")
    _no_sideways_scroll(page)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"patient-{device}.png"))

    # The long sections are one link away, not 10,000 px down; the links stay on screen.
    page.locator(".record-nav").get_by_role("link", name="Results", exact=True).click()
    expect(page.locator("#results-heading")).to_be_in_viewport()
    expect(page.locator(".record-nav")).to_be_in_viewport()
    _no_sideways_scroll(page)


def _date(days_ago: int) -> str:
    return (timezone.localtime(timezone.now() - dt.timedelta(days=days_ago))).strftime("%d-%b-%Y")


def test_a_score_chart_keeps_a_readable_height_and_its_labels_inside_the_picture(
    live_server, clinician, record, screen: Screen
) -> None:
    page, device = screen.page, screen.device
    log_in(page, live_server, clinician.username)
    _open(page, f"{live_server.url}/patients/{record.public_id}/")
    chart = _drawn(page, page.locator("#questionnaires-panel canvas[data-trend-chart]").first)
    assert chart["height"] >= 200, chart["height"]
    assert chart["yRange"] == [0, 27]
    # At a readable height every band is tall enough to be named.
    assert [b["label"] for b in chart["bands"]] == [
        "Minimal",
        "Mild",
        "Moderate",
        "Moderately severe",
        "Severe",
    ]
    _inside(chart)
    # The PSA trend too: as tall, with its axes and legend inside the picture.
    psa = _drawn(page, page.locator("#charts-panel canvas[data-trend-chart]").first)
    assert psa["height"] >= 200, psa["height"]
    _inside(psa)
    _no_sideways_scroll(page)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.locator("#questionnaires-panel canvas[data-trend-chart]").first.screenshot(
        path=str(SCREENSHOTS / f"phq9-chart-{device}.png")
    )


def _drawn(page: Page, canvas: Locator) -> dict[str, Any]:
    """The chart on ``canvas`` once drawn: its size, value range, the severity band names it
    drew, and the boxes of its axes and legend items, in the canvas' own pixels."""
    canvas.scroll_into_view_if_needed()
    expect(canvas).to_be_visible()
    page.wait_for_function(
        "(el) => Chart.getChart(el) && Chart.getChart(el).width > 0",
        arg=canvas.element_handle(),
    )
    geometry: dict[str, Any] = canvas.evaluate(
        """(element) => {
            const chart = Chart.getChart(element);
            const y = chart.scales.y;
            return {
                width: chart.width,
                height: chart.height,
                yRange: [y.min, y.max],
                bands: chart.$severityLabels || [],
                boxes: [
                    ...chart.boxes.map((b) => ({
                        what: b.id || b.type || "box",
                        left: b.left, right: b.right, top: b.top, bottom: b.bottom,
                    })),
                    ...(chart.legend.legendHitBoxes || []).map((b, i) => ({
                        what: "legend item " + i,
                        left: b.left, right: b.left + b.width,
                        top: b.top, bottom: b.top + b.height,
                    })),
                ],
            };
        }"""
    )
    return geometry


def _inside(chart: dict[str, Any]) -> None:
    for box in chart["bands"] + chart["boxes"]:
        assert 0 <= box["left"] <= box["right"] <= chart["width"], box
        assert 0 <= box["top"] <= box["bottom"] <= chart["height"], box


def test_the_worklist_and_the_patient_page_have_no_serious_violations_at_each_width(
    live_server, clinician, record, screen: Screen
) -> None:
    page, device = screen.page, screen.device
    log_in(page, live_server, clinician.username)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for name, path in (
        ("worklist", "/worklists/"),
        ("patient", f"/patients/{record.public_id}/"),
    ):
        _open(page, f"{live_server.url}{path}")
        page.screenshot(path=str(SCREENSHOTS / f"{name}-{device}-full.png"), full_page=True)
        assert serious_violations(page) == [], (name, device)
