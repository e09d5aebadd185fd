"""A clinician works through the worklist: by patient (the default), opens a patient and
completes their items with one outcome, the tab counts following without a reload; by item,
clears an item with an outcome and a note and assigns two items to themself at once; another
team sees none of it. The layout at 1280x800 (eight patients above the fold, filters on one
line, the bulk bar only when something is ticked), the keyboard (the first patient within
three Tab presses), and cards with no sideways scrolling at 768 and 390 pixels."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps as django_apps
from playwright.sync_api import Page, expect

from rms.services import system_user
from tests.browser.conftest import log_in
from tests.factories import PatientFactory
from tests.worklists.helpers import ExampleKey
from worklists import services
from worklists.models import WorkItem, WorkItemEvent

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def outcomes(transactional_db) -> None:  # type: ignore[no-untyped-def]
    """A transactional test empties every table when it ends, the outcomes a migration seeded
    included: seed them again with the migration's own function (it keeps existing rows)."""
    migration = importlib.import_module("worklists.migrations.0003_seed_outcomes")
    migration.seed(django_apps, None)


def raise_items(patient, *titles: str) -> list[WorkItem]:  # type: ignore[no-untyped-def]
    return [raise_item(patient, title, priority=WorkItem.Priority.HIGH) for title in titles]


def open_worklist(page: Page, live_server, query: str = "?view=items") -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{live_server.url}/worklists/{query}")
    # A marker that a full page load would wipe out.
    page.evaluate("window.stillTheSamePage = true")


def test_a_clinician_clears_an_item_with_an_outcome_and_a_note_without_a_reload(
    page: Page, live_server, team, clinician
) -> None:
    patient = PatientFactory(teams=[team], family_name="Dent", given_name="Arthur")
    first, second = raise_items(patient, "PSA above limit", "PSA rising")

    log_in(page, live_server, clinician.username)
    open_worklist(page, live_server)
    url = page.url
    row = page.locator(f"#item-{first.public_id}")
    expect(row).to_contain_text("DENT, Arthur")
    expect(page.locator(f"#item-{second.public_id}")).to_contain_text("PSA rising")

    row.locator("summary", has_text="Complete").click()
    row.get_by_label("Outcome").select_option(label="Contacted patient")
    row.get_by_label("Note (optional)").fill("Rang the patient; repeat PSA booked.")
    row.get_by_role("button", name="Complete").click()

    expect(row).to_contain_text("Done: Contacted patient — Rang the patient; repeat PSA booked.")
    expect(row.get_by_role("button", name="Complete")).to_have_count(0)
    assert page.evaluate("window.stillTheSamePage") is True
    assert page.url == url
    first.refresh_from_db()
    assert (first.status, first.outcome) == (WorkItem.Status.DONE, "contacted_patient")
    event = WorkItemEvent.objects.get(work_item=first, action="completed")
    assert event.actor == clinician
    second.refresh_from_db()
    assert second.status == WorkItem.Status.OPEN


def test_a_clinician_assigns_two_items_to_themself_at_once(
    page: Page, live_server, team, clinician
) -> None:
    patient = PatientFactory(teams=[team])
    first, second, third = raise_items(patient, "First", "Second", "Third")

    log_in(page, live_server, clinician.username)
    open_worklist(page, live_server)
    # The bulk bar shows only while something is ticked.
    expect(page.locator("#bulk-form")).to_be_hidden()
    page.locator(f"#item-{third.public_id}").get_by_role("checkbox").check()
    expect(page.locator("#bulk-form")).to_be_visible()
    page.locator(f"#item-{third.public_id}").get_by_role("checkbox").uncheck()
    expect(page.locator("#bulk-form")).to_be_hidden()
    for item in (first, second):
        page.locator(f"#item-{item.public_id}").get_by_role("checkbox").check()
    page.locator("#bulk-form").get_by_role("button", name="Assign to me").click()

    expect(page.locator("#bulk-result")).to_contain_text("2 items assigned to you.")
    for item in (first, second):
        expect(page.locator(f"#item-{item.public_id} .worklist-assignee")).to_contain_text("You")
    expect(page.locator(f"#item-{third.public_id} .worklist-assignee")).to_contain_text(
        "Unassigned"
    )
    assert page.evaluate("window.stillTheSamePage") is True
    assert set(WorkItem.objects.filter(assignee=clinician)) == {first, second}
    assert WorkItemEvent.objects.filter(action="assigned", actor=clinician).count() == 2


def test_a_clinician_of_another_team_sees_none_of_the_items(
    page: Page, live_server, team, other_team_clinician
) -> None:
    patient = PatientFactory(teams=[team], family_name="Dent")
    raise_items(patient, "PSA above limit")

    log_in(page, live_server, other_team_clinician.username)
    open_worklist(page, live_server, "")
    expect(page.locator("main")).to_contain_text("Nothing needs doing for your teams")
    expect(page.locator("main")).not_to_contain_text("PSA above limit")
    expect(page.locator("main")).not_to_contain_text("DENT")


# ---------------------------------------------------------------------------
# By patient
# ---------------------------------------------------------------------------
def raise_item(patient, title: str, **values) -> WorkItem:  # type: ignore[no-untyped-def]
    item, _ = services.work_item_raise(
        kind=values.pop("kind", WorkItem.Kind.THRESHOLD_BREACH),
        key=ExampleKey(f"browser:{patient.pk}:{title}"),
        details={"rule": "PSA above 0.2"},
        title=title,
        explanation=f"{title}: PSA 0.24 ug/L is above the limit of 0.2 ug/L.",
        source="rule:1",
        actor=system_user(),
        patient=patient,
        **values,
    )
    return item


def caseload(team, count: int) -> list:  # type: ignore[no-untyped-def]
    """``count`` patients with two open items each, and one whose PHQ-9 item 9 was answered
    above 0, raised last."""
    patients = []
    for n in range(count):
        patient = PatientFactory(teams=[team], family_name=f"Patient{n:02d}", title="")
        raise_item(patient, f"PSA above limit ({n})", priority=WorkItem.Priority.HIGH)
        raise_item(patient, f"CEA rising over several months, a long title ({n})")
        patients.append(patient)
    harm = PatientFactory(teams=[team], family_name="Beeblebrox", given_name="Zaphod", title="")
    raise_item(
        harm,
        "PHQ-9: Thoughts of self-harm",
        kind=WorkItem.Kind.QUESTIONNAIRE_ALERT,
        priority=WorkItem.Priority.URGENT,
        risk_of_self_harm=True,
    )
    return [harm, *patients]


def test_a_clinician_completes_a_patients_items_with_one_outcome_and_the_counts_follow(
    page: Page, live_server, team, clinician
) -> None:
    dent = PatientFactory(teams=[team], family_name="Dent", given_name="Arthur", title="")
    first = raise_item(dent, "PSA above limit", priority=WorkItem.Priority.HIGH)
    second = raise_item(dent, "PSA rising")
    ford = PatientFactory(teams=[team], family_name="Prefect", given_name="Ford", title="")
    theirs = raise_item(ford, "CEA rising")

    log_in(page, live_server, clinician.username)
    open_worklist(page, live_server, "")
    tabs = page.locator("#worklist-tabs")
    expect(tabs.get_by_role("link", name="My teams")).to_contain_text("3")
    row = page.locator(f"#patient-{dent.public_id}")
    expect(row.locator("summary")).to_contain_text("DENT, Arthur")
    expect(row.locator("summary")).to_contain_text("PSA above limit")
    row.locator("summary").click()
    expect(row.get_by_role("checkbox")).to_have_count(2)
    for box in row.get_by_role("checkbox").all():
        expect(box).to_be_checked()
    row.get_by_label("Outcome").select_option(label="Contacted patient")
    row.get_by_label("Note (optional)").fill("Rang; repeat PSA booked.")
    row.get_by_role("button", name="Complete").click()

    expect(page.locator(f"#patient-{dent.public_id}")).to_contain_text("2 items completed.")
    expect(page.locator("#worklist-tabs").get_by_role("link", name="My teams")).to_contain_text("1")
    assert page.evaluate("window.stillTheSamePage") is True
    for item in (first, second):
        item.refresh_from_db()
        assert (item.status, item.outcome) == (WorkItem.Status.DONE, "contacted_patient")
        assert WorkItemEvent.objects.get(work_item=item, action="completed").actor == clinician
    theirs.refresh_from_db()
    assert theirs.status == WorkItem.Status.OPEN


def test_at_1280_by_800_eight_patients_show_above_the_fold_and_the_filters_take_one_line(
    page: Page, live_server, team, clinician
) -> None:
    page.set_viewport_size({"width": 1280, "height": 800})
    caseload(team, 12)

    log_in(page, live_server, clinician.username)
    open_worklist(page, live_server, "")
    rows = page.locator(".wl-patient > summary")
    expect(rows).to_have_count(13)
    expect(rows.first).to_contain_text("Self-harm risk")
    expect(rows.first).to_contain_text("BEEBLEBROX, Zaphod")
    bottoms = []
    for n in range(8):
        box = rows.nth(n).bounding_box()
        assert box is not None
        bottoms.append(box["y"] + box["height"])
    assert max(bottoms) <= 800, bottoms
    # The filters are one line (a button) until opened.
    expect(page.locator("form.worklist-filters")).to_be_hidden()
    toolbar = page.locator(".worklist-toolbar").bounding_box()
    assert toolbar is not None and toolbar["height"] <= 48, toolbar
    page.get_by_role("button", name="Filters").click()
    expect(page.locator("form.worklist-filters").get_by_label("Priority")).to_be_visible()


def test_the_first_patient_is_reached_in_two_tab_presses_by_the_skip_link(
    page: Page, live_server, team, clinician
) -> None:
    caseload(team, 2)
    log_in(page, live_server, clinician.username)
    open_worklist(page, live_server, "")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent.trim()") == "Skip to the worklist"
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    focused = page.evaluate(
        "[document.activeElement.matches('.wl-patient > summary'),"
        " document.activeElement.textContent]"
    )
    assert focused[0] is True, focused
    assert "BEEBLEBROX, Zaphod" in focused[1]
    page.keyboard.press("Enter")
    expect(page.locator(".wl-patient").first.get_by_role("checkbox")).to_be_visible()


@pytest.mark.parametrize("width", [390, 768])
def test_on_phones_and_tablets_the_worklist_is_cards_with_no_sideways_scrolling(
    page: Page, live_server, team, clinician, width: int
) -> None:
    page.set_viewport_size({"width": width, "height": 844})
    caseload(team, 3)
    log_in(page, live_server, clinician.username)

    open_worklist(page, live_server, "")
    expect(page.locator(".wl-head")).to_be_hidden()
    first = page.locator(".wl-patient").first
    first.locator("summary").click()
    expect(first.get_by_role("button", name="Complete")).to_be_visible()
    assert first.evaluate("e => getComputedStyle(e).borderTopLeftRadius") != "0px"
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")

    open_worklist(page, live_server)
    expect(page.locator("table.worklist thead")).to_be_hidden()
    card = page.locator("tr.worklist-row").first
    assert card.evaluate("e => getComputedStyle(e).display") == "block"
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
