"""A clinician takes a PHQ-9 by phone with a high score: the score shows on the patient page and
the alert, naming the answers, is on the team's worklist."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps as django_apps
from playwright.sync_api import Page, expect

from tests.browser.conftest import log_in, open_patient
from tests.factories import PatientFactory

pytestmark = pytest.mark.django_db(transaction=True)

ANSWERS = [
    "Nearly every day",
    "Nearly every day",
    "More than half the days",
    "More than half the days",
    "More than half the days",
    "More than half the days",
    "Several days",
    "Several days",
    "Several days",
]  # 3+3+2+2+2+2+1+1+1 = 17


@pytest.fixture(autouse=True)
def questionnaires(seeded_data: None) -> None:
    """The seeded questionnaires, again after each transactional test emptied the tables."""
    importlib.import_module("careplans.migrations.0005_questionnaires").seed(django_apps, None)


def test_a_phq9_taken_by_phone_shows_its_score_and_puts_an_alert_on_the_worklist(
    page: Page, live_server, team, clinician
) -> None:
    patient = PatientFactory(teams=[team], family_name="Prefect", given_name="Ford")
    log_in(page, live_server, clinician.username)
    open_patient(page, live_server, patient)
    panel = page.locator("#questionnaires-panel")
    expect(panel.get_by_role("heading", name="Questionnaires")).to_be_visible()
    panel.get_by_role("link", name="PHQ-9").click()

    expect(page.get_by_role("heading", name="PHQ-9: answers taken by phone")).to_be_visible()
    for n, answer in enumerate(ANSWERS, start=1):
        group = page.locator(f"#div_id_item_{n}")
        group.get_by_label(answer, exact=True).check()
    page.get_by_role("button", name="Save answers").click()

    expect(page.get_by_text("PHQ-9 answers saved. An alert was raised")).to_be_visible()
    scores = page.locator("#questionnaires-panel table.questionnaire-scores")
    expect(scores).to_contain_text("PHQ-9 total: 17 / 27")
    expect(scores).to_contain_text("Thoughts of self-harm")

    page.goto(f"{live_server.url}/worklists/")
    expect(page.get_by_text("PHQ-9: Moderately severe or severe depression").first).to_be_visible()
    page.get_by_text("PHQ-9: Moderately severe or severe depression").first.click()
    expect(page.get_by_text("PHQ-9 total 17 (≥ 15)").first).to_be_visible()
