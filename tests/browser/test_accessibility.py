"""Accessibility: axe-core (vendored, test-only) finds no serious or critical violations on the
pages clinicians live in, and the worklist can be used from the keyboard."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from tests.browser.conftest import log_in
from tests.factories import ObservationFactory, PatientFactory, ResultFactory
from tests.worklists.helpers import ExampleKey
from worklists.models import WorkItem
from worklists.services import work_item_raise

pytestmark = pytest.mark.django_db(transaction=True)
AXE = Path(__file__).parent / "vendor" / "axe-core-4.14.1" / "axe.min.js"


def serious_violations(page: Page) -> list[dict]:
    # axe is evaluated through the DevTools protocol, not added as a <script>: the pages'
    # Content Security Policy (no inline scripts) stays in force while they are checked.
    page.evaluate(AXE.read_text(encoding="utf-8"))
    result = page.evaluate(
        """async () => await axe.run(document, {
            runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}
        })"""
    )
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:3]}
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


@pytest.fixture
def record(team, clinician):  # type: ignore[no-untyped-def]
    patient = PatientFactory(teams=[team], family_name="Prefect", given_name="Ford")
    for n in range(4):
        result = ResultFactory(
            patient=patient, observed_at=timezone.now() - dt.timedelta(days=90 * (n + 1))
        )
        ObservationFactory(
            result=result, value_text=f"0.0{n + 1}", value_numeric=Decimal(f"0.0{n + 1}")
        )
    work_item_raise(
        kind=WorkItem.Kind.THRESHOLD_BREACH,
        key=ExampleKey("a11y:1"),
        title="PSA at or above 0.2 ug/L, confirmed",
        explanation=(
            "PSA 0.24 ng/mL on 10 Nov 2026 is at or above 0.2, confirmed by 0.21 on 2 Aug 2026."
        ),
        source="test",
        actor=clinician,
        patient=patient,
        team=team,
        priority=WorkItem.Priority.HIGH,
    )
    return patient


def test_the_login_page_has_no_serious_accessibility_violations(page: Page, live_server) -> None:
    page.goto(f"{live_server.url}/accounts/login/")
    assert serious_violations(page) == []


def test_the_worklist_patient_list_and_patient_page_have_no_serious_violations(
    page: Page, live_server, clinician, record
) -> None:
    log_in(page, live_server, clinician.username)
    for path in (
        "/worklists/",
        "/worklists/caseload/",
        "/patients/",
        f"/patients/{record.public_id}/",
    ):
        page.goto(f"{live_server.url}{path}")
        page.wait_for_load_state("networkidle")
        assert serious_violations(page) == [], path


def test_the_worklist_can_be_reached_and_used_from_the_keyboard(
    page: Page, live_server, clinician, record
) -> None:
    log_in(page, live_server, clinician.username)
    page.goto(f"{live_server.url}/worklists/?view=items")
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.textContent.trim()")
    assert focused == "Skip to the worklist"
    # Tab reaches the row's own "Assign to me" (past the bulk bar's), and Enter activates it.
    for _ in range(80):
        page.keyboard.press("Tab")
        focused = page.evaluate(
            "[document.activeElement.textContent.trim(), document.activeElement.name || '']"
        )
        if focused == ["Assign to me", ""]:
            break
    else:
        pytest.fail("the row's 'Assign to me' cannot be reached with the keyboard")
    page.keyboard.press("Enter")
    expect(page.locator("td.worklist-assignee").first).not_to_contain_text("Unassigned")
    item = WorkItem.objects.get(dedupe_key="a11y:1")
    assert item.assignee == clinician
