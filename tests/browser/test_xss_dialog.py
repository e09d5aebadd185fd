"""Script payloads in a patient's record stay text in a real browser: a clinician opens the
worklist, the patient's page (with its htmx panels) and the care plan, and no JavaScript
dialog opens and the Content Security Policy reports nothing blocked."""

from __future__ import annotations

import datetime as dt
import importlib
from decimal import Decimal

import pytest
from django.apps import apps as django_apps
from django.utils import timezone
from playwright.sync_api import ConsoleMessage, Dialog, Page, expect

from careplans.care_plans import services as care_plan_services
from careplans.models import CarePlanTemplate
from tests.browser.conftest import log_in, open_patient
from tests.factories import DiagnosisFactory, ObservationFactory, PatientFactory, ResultFactory
from tests.worklists.helpers import raise_item

pytestmark = pytest.mark.django_db(transaction=True)

SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(2)>'
SVG = "'><svg onload=alert(3)>"
ALL = f"{SCRIPT} {IMG} {SVG} javascript:alert(4) {{{{7*7}}}}"


@pytest.fixture(autouse=True)
def care_plan_templates(seeded_data: None) -> None:
    """The templates the care plan migration seeds, seeded again after the pathways."""
    importlib.import_module("careplans.migrations.0003_care_plans").seed(django_apps, None)


def test_script_payloads_in_a_record_open_no_dialog_and_break_no_policy(
    page: Page, live_server, team, clinician
) -> None:
    patient = PatientFactory(teams=[team], given_name=SCRIPT, family_name=IMG, title="Mr")
    DiagnosisFactory(patient=patient, text=ALL, stage=SVG)
    result = ResultFactory(
        patient=patient, service_name=SVG, observed_at=timezone.now() - dt.timedelta(days=10)
    )
    ObservationFactory(
        result=result, name=SCRIPT, units=IMG, notes=ALL, value_numeric=Decimal("0.3")
    )
    raise_item(patient, title=SVG, explanation=ALL)
    template = CarePlanTemplate.objects.get(pathway__code="prostate-post-prostatectomy")
    care_plan = care_plan_services.care_plan_create(
        patient=patient, template=template, actor=clinician
    )
    care_plan_services.care_plan_section_update(
        care_plan=care_plan, position=1, heading=SCRIPT, body=ALL, actor=clinician, note=IMG
    )

    dialogs: list[str] = []
    policy: list[str] = []
    errors: list[str] = []

    def on_dialog(dialog: Dialog) -> None:
        dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    def on_console(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            policy.append(message.text)

    page.on("dialog", on_dialog)
    page.on("console", on_console)
    page.on("pageerror", lambda error: errors.append(str(error)))

    log_in(page, live_server, clinician.username)
    page.goto(f"{live_server.url}/worklists/")
    expect(page.locator("main")).to_contain_text(SVG)

    open_patient(page, live_server, patient)
    expect(page.locator("#patient-name")).to_contain_text(SCRIPT)
    # The htmx panels have replaced their placeholders (the work items panel shows the item).
    expect(page.locator("#work-items-panel")).to_contain_text(ALL)
    page.wait_for_load_state("networkidle")
    expect(page.locator("main")).to_contain_text(IMG)

    page.goto(
        f"{live_server.url}/care-plans/patients/{patient.public_id}/plans/{care_plan.public_id}/"
    )
    expect(page.locator(".care-plan-section").first).to_contain_text(ALL)
    page.wait_for_load_state("networkidle")

    assert dialogs == []
    assert policy == []
    assert errors == []
    # None of the payloads became an element: the page holds no <img src=x> and no <svg>
    # carrying a handler.
    assert page.locator("img[src='x'], svg[onload], [onerror]").count() == 0

    # The recorder itself works: a dialog opened from outside the page is seen.
    page.evaluate("window.alert('probe')")
    assert dialogs == ["alert: probe"]
