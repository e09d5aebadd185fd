"""Browser tests: Playwright driving Debian's Chromium (/usr/bin/chromium) against the live
server. No browser is downloaded; CI installs the chromium package."""

from __future__ import annotations

import importlib
import os
import shutil
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from django.apps import apps as django_apps
from playwright.sync_api import Browser, Page, sync_playwright
from pytest_django.live_server_helper import LiveServer

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

# Playwright's sync API runs an event loop in the test thread; the ORM calls the tests make
# around it are synchronous and safe, so Django's async guard is relaxed for these tests only.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(scope="session")
def live_server() -> Iterator[LiveServer]:
    """The live server, answering one request at a time. On SQLite the test database is in
    memory and Django hands the live server's request threads the test thread's one
    connection; pages load panels with several htmx requests at once, which would use that
    connection from several threads together ("database table is locked"). PostgreSQL does
    not need this, and one request at a time changes nothing the tests check."""
    server = LiveServer("localhost")
    app = server.thread.httpd.get_app()
    lock = threading.Lock()

    def one_at_a_time(environ: dict[str, Any], start_response: Any) -> Any:
        with lock:
            return app(environ, start_response)

    server.thread.httpd.set_app(one_at_a_time)
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def seeded_data(transactional_db: None) -> None:
    """Transactional tests empty every table when they end, rows that migrations seed
    included (pathways, care plan templates, questionnaires, work item outcomes): seed them
    again with the migrations' own functions, which keep existing rows."""
    for module in (
        "careplans.migrations.0002_seed_pathways",
        "careplans.migrations.0003_care_plans",
        "careplans.migrations.0005_questionnaires",
        "worklists.migrations.0003_seed_outcomes",
    ):
        importlib.import_module(module).seed(django_apps, None)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not os.path.exists(CHROMIUM):
        pytest.fail("Chromium is not installed: apt-get install chromium (.ci/run does this)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="en-GB")
    context.set_default_timeout(15_000)
    tab = context.new_page()
    yield tab
    context.close()


def log_in(page: Page, live_server, username: str, password: str = "correct-horse-battery") -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{live_server.url}/patients/**")
