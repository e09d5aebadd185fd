"""A clinician works through the worklist: clears an item with an outcome and a note without
the page reloading, assigns two items to themself at once; another team sees none of it."""

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
    items = []
    for n, title in enumerate(titles):
        item, _ = services.work_item_raise(
            kind=WorkItem.Kind.THRESHOLD_BREACH,
            key=ExampleKey(f"browser:{patient.pk}:{n}"),
            title=title,
            explanation=f"{title}: PSA 0.24 ug/L is above the limit of 0.2 ug/L.",
            source="rule:1",
            actor=system_user(),
            patient=patient,
            priority=WorkItem.Priority.HIGH,
            details={"rule": "PSA above 0.2"},
        )
        items.append(item)
    return items


def open_worklist(page: Page, live_server) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{live_server.url}/worklists/")
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
    open_worklist(page, live_server)
    expect(page.locator("main")).to_contain_text("Nothing needs doing for your teams")
    expect(page.locator("main")).not_to_contain_text("PSA above limit")
    expect(page.locator("main")).not_to_contain_text("DENT")
