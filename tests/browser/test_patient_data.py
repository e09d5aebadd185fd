"""What a patient records in PKB reaches the clinician: weight and blood pressure fetched from
PKB's FHIR API are shown apart from the lab's results and marked as seen without a reload; a
fast weight loss is on the worklist; a PHQ-9 sent from the patient page reaches PKB."""

from __future__ import annotations

import datetime as dt
import importlib
import json
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from django.apps import apps as django_apps
from django.utils import timezone
from playwright.sync_api import Page, expect

from careplans.followup.services import plans
from careplans.models import Pathway, Questionnaire, QuestionnaireRequest, Rule
from devtools.sandbox import SandboxServer
from pkb_bridge import tasks
from rms.models import Result
from tests.browser.conftest import log_in, open_patient
from tests.factories import ObservationFactory, PatientFactory, ResultFactory
from tests.pkb_bridge import fhir_helpers as h
from worklists.models import WorkItem

pytestmark = pytest.mark.django_db(transaction=True)


def drop_shared_fhir_client() -> None:
    """The tasks keep one FHIR client per thread for the life of a worker; each test here
    starts PKB's sandbox on a new port, so a client kept from an earlier test is closed."""
    client = getattr(tasks._local, "fhir_client", None)
    if client is not None:
        client.close()
        del tasks._local.fhir_client


@pytest.fixture
def pkb(settings) -> Iterator[SandboxServer]:  # type: ignore[no-untyped-def]
    server = h.start_sandbox()
    h.point_settings_at(settings, server)
    drop_shared_fhir_client()
    yield server
    drop_shared_fhir_client()
    server.stop()


@pytest.fixture(autouse=True)
def questionnaires(seeded_data: None) -> None:
    """The seeded questionnaires, again after each transactional test emptied the tables."""
    importlib.import_module("careplans.migrations.0005_questionnaires").seed(django_apps, None)


def sandbox_state(server: SandboxServer) -> Any:
    """What the sandbox's FHIR side has received, over HTTP as a test harness would ask."""
    with urllib.request.urlopen(f"{server.base_url}/_sandbox/fhir", timeout=5) as response:  # noqa: S310 (loopback)
        return json.loads(response.read())


def open_record(page: Page, live_server, patient) -> None:  # type: ignore[no-untyped-def]
    open_patient(page, live_server, patient)
    # A marker that a full page load would wipe out.
    page.evaluate("window.stillTheSamePage = true")


def test_a_clinician_sees_weight_and_blood_pressure_from_pkb_apart_and_marks_one_seen(
    page: Page, live_server, pkb, team, clinician
) -> None:
    patient = PatientFactory(teams=[team], family_name="Beeblebrox", given_name="Zaphod")
    h.enrol(patient, team=team, actor=clinician)
    lab = ResultFactory(patient=patient, service_name="Prostate specific antigen")
    ObservationFactory(result=lab)
    start = timezone.now() - dt.timedelta(days=10)
    h.control(pkb, "/_sandbox/fhir/queue", [
        h.weight("w-1", patient.nhs_number, "82.3", start),
        h.weight("w-2", patient.nhs_number, "81.6", start + dt.timedelta(days=4)),
        h.weight("w-3", patient.nhs_number, "81.4", start + dt.timedelta(days=8)),
        h.blood_pressure("bp-1", patient.nhs_number, start + dt.timedelta(days=8)),
    ])  # fmt: skip
    assert tasks.fhir_poll.delay().get() == 4

    log_in(page, live_server, clinician.username)
    open_record(page, live_server, patient)
    panel = page.locator("section.patient-data-panel")
    expect(panel.get_by_role("heading", name="Patient-entered data")).to_be_visible()
    expect(panel.locator("tr.patient-data-entry")).to_have_count(4)
    expect(panel).to_contain_text("4 new")
    for kg in ("82.3", "81.6", "81.4"):
        expect(panel.locator("tr.patient-data-entry", has_text=f"{kg} kg")).to_contain_text(
            "Entered by the patient in PKB"
        )
    pressure = panel.locator("tr.patient-data-entry", has_text="Blood pressure")
    expect(pressure).to_contain_text("142")
    expect(pressure).to_contain_text("91")
    expect(pressure).to_contain_text("Entered by the patient in PKB")
    expect(pressure).to_contain_text("New: not yet seen")

    results = page.locator("table.results-table")
    expect(results).to_contain_text("Prostate specific antigen")
    expect(results).not_to_contain_text("Body weight")
    expect(results).not_to_contain_text("Blood pressure")

    pressure.get_by_role("button", name="Mark as seen").click()
    who = clinician.get_full_name()
    expect(pressure).to_contain_text(f"Seen by {who}")
    expect(pressure.get_by_role("button", name="Mark as seen")).to_have_count(0)
    expect(panel).to_contain_text("Marked as seen.")
    expect(panel).to_contain_text("3 new")
    for kg in ("82.3", "81.6", "81.4"):
        expect(panel.locator("tr.patient-data-entry", has_text=f"{kg} kg")).to_contain_text(
            "New: not yet seen"
        )
    assert page.evaluate("window.stillTheSamePage") is True

    seen = Result.objects.get(patient=patient, filler_order_number="Observation/bp-1")
    assert seen.seen_by == clinician and seen.seen_at is not None
    assert not Result.objects.filter(
        patient=patient, category=Result.Category.PATIENT, seen_at__isnull=False
    ).exclude(pk=seen.pk)


def weight_pathway() -> Pathway:
    pathway = Pathway.objects.create(
        code="colorectal-weight", name="Colorectal weight watch", tumour_site="colorectal",
        treatment="Surgery", description="Weight entered by the patient in PKB",
    )  # fmt: skip
    Rule.objects.create(
        pathway=pathway,
        name="Weight down 5% in a month",
        test_code="29463-7",
        rule_type="percent_change",
        params={"percent": 5, "window_days": 30, "direction": "down", "units": "kg"},
    )
    return pathway


def test_a_weight_loss_of_more_than_5_percent_in_a_month_is_on_the_worklist(
    page: Page, live_server, pkb, team, clinician
) -> None:
    patient = PatientFactory(teams=[team], family_name="Dent", given_name="Arthur")
    h.enrol(patient, team=team, actor=clinician)
    plans.plan_start(
        patient=patient,
        pathway=weight_pathway(),
        anchor_date=timezone.localdate() - dt.timedelta(days=90),
        actor=clinician,
    )
    start = timezone.now() - dt.timedelta(days=28)
    for n, kg in enumerate(["80.0", "79.0", "77.5"]):
        pkb.fhir.queue(h.weight(f"w{n}", patient.nhs_number, kg, start + dt.timedelta(days=n * 9)))
    assert tasks.fhir_poll.delay().get() == 3
    assert not WorkItem.objects.filter(kind=WorkItem.Kind.THRESHOLD_BREACH).exists()  # 3.1%
    pkb.fhir.queue(h.weight("w3", patient.nhs_number, "75.2", timezone.now()))  # 6% below 80
    tasks.fhir_poll.delay().get()  # re-reads a few minutes behind its cursor; files once
    assert Result.objects.filter(patient=patient, category=Result.Category.PATIENT).count() == 4

    log_in(page, live_server, clinician.username)
    page.goto(f"{live_server.url}/worklists/?view=items")
    row = page.locator("tr.worklist-row", has_text="Weight down 5% in a month")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("DENT, Arthur")
    expect(row).to_contain_text("6% below")
    row.get_by_role("link", name="DENT, Arthur").click()
    expect(page.locator("#work-items-panel")).to_contain_text("Weight down 5% in a month")


def test_a_clinician_sends_a_phq9_through_pkb_and_pkb_receives_it(
    page: Page, live_server, pkb, team, clinician
) -> None:
    Questionnaire.objects.filter(code="phq-9").update(pkb_questionnaire_id="pkb-phq9")
    patient = PatientFactory(teams=[team], family_name="Prefect", given_name="Ford")
    h.enrol(patient, team=team, actor=clinician)

    log_in(page, live_server, clinician.username)
    open_record(page, live_server, patient)
    panel = page.locator("section.questionnaires-panel")
    panel.get_by_label("Questionnaire").select_option(label="PHQ-9 (v1)")
    panel.get_by_role("button", name="Send through PKB").click()
    expect(panel).to_contain_text("PHQ-9 will be sent to the patient through PKB.")
    requested = panel.locator("table.questionnaire-requests tbody tr", has_text="PHQ-9")
    expect(requested).to_have_count(1)
    expect(requested).to_contain_text("Pending")
    assert page.evaluate("window.stillTheSamePage") is True
    assert sandbox_state(pkb)["requests"] == []  # nothing goes to PKB from the view

    assert tasks.fhir_send.delay().get() == 1
    [received] = sandbox_state(pkb)["requests"]
    assert received["nhs_number"] == patient.nhs_number
    assert received["questionnaire_id"] == "pkb-phq9"
    request = QuestionnaireRequest.objects.get(patient=patient)
    assert request.status == QuestionnaireRequest.Status.SENT
    assert request.requested_by == clinician
    assert request.external_id == received["id"]

    open_record(page, live_server, patient)
    requested = page.locator("section.questionnaires-panel table.questionnaire-requests tbody tr")
    expect(requested).to_have_count(1)
    expect(requested).to_contain_text("PHQ-9")
    expect(requested).to_contain_text("Sent")
