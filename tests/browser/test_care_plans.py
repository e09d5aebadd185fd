"""A clinician makes a care plan from the template, edits a section, compares the versions,
and records consent, all from the patient's page."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps as django_apps
from playwright.sync_api import Page, expect

from careplans.models import CarePlanVersion, ConsentRecord
from tests.browser.conftest import log_in, open_patient
from tests.factories import PatientFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def care_plan_templates(seeded_data: None) -> None:
    """The templates the care plan migration seeds, seeded again after the pathways."""
    importlib.import_module("careplans.migrations.0003_care_plans").seed(django_apps, None)


def test_a_clinician_makes_edits_and_compares_a_care_plan_then_records_consent(
    page: Page, live_server, team, clinician
) -> None:
    patient = PatientFactory(teams=[team], family_name="Prefect", given_name="Ford")
    log_in(page, live_server, clinician.username)
    open_patient(page, live_server, patient)

    panel = page.locator("#care-plans-panel")
    expect(panel).to_contain_text("No care plan has been made")
    panel.get_by_label("Template").select_option(label="Care plan after prostate surgery")
    panel.get_by_role("button", name="Create care plan").click()

    expect(page.get_by_role("heading", name="Care plan after prostate surgery")).to_be_visible()
    expect(page.locator(".care-plan-version-line")).to_contain_text("Version 1")
    page.get_by_role("link", name="Edit After your operation").click()
    page.get_by_label("Text for the patient").fill("Do pelvic floor exercises three times a day.")
    page.get_by_label("Note about this change (optional)").fill("Clearer advice")
    page.get_by_role("button", name="Save new version").click()

    expect(page.locator(".care-plan-version-line")).to_contain_text("Version 2")
    expect(page.locator(".care-plan")).to_contain_text("three times a day")
    assert CarePlanVersion.objects.count() == 2

    page.get_by_label("Compare version").select_option("1")
    page.get_by_label("with version").select_option("2")
    page.get_by_role("button", name="Compare").click()
    expect(page.locator("ins.diff-insert").first).to_be_visible()
    expect(
        page.locator(".care-plan-diff-section", has_text="After your operation")
    ).to_contain_text("three times a day")
    expect(page.locator("del.diff-delete").first).to_be_visible()

    page.get_by_role("link", name="Back to the patient record").click()
    consent = page.locator("#consent-panel")
    expect(consent).to_contain_text("No consent has been recorded")
    consent.get_by_role("link", name="Record consent").click()
    page.get_by_label("Consent to").fill("Remote follow-up by PSA monitoring")
    page.get_by_label("Information given").fill("Prostate remote follow-up leaflet v3")
    page.get_by_role("radio", name="Verbal").check()
    page.get_by_role("radio", name="Given").check()
    page.get_by_role("button", name="Record consent").click()

    page.wait_for_url(f"{live_server.url}/patients/{patient.public_id}/**")
    row = page.locator("#consent-panel table.consent-records tbody tr")
    expect(row).to_contain_text("Remote follow-up by PSA monitoring")
    expect(row).to_contain_text("Given")
    assert ConsentRecord.objects.get().recorded_by == clinician
