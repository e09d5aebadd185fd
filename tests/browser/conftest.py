"""Browser tests: Playwright driving Debian's Chromium (/usr/bin/chromium) against the live
server. No browser is downloaded; CI installs the chromium package."""

from __future__ import annotations

import importlib
import os
import shutil
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.apps import apps as django_apps
from playwright.sync_api import Browser, Page, sync_playwright
from pytest_django.live_server_helper import LiveServer

from devtools.sandbox import SandboxServer, SandboxState

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


class OneRequestAtATime:
    """The live server's application, answering one request at a time and knowing when it
    is idle.

    On SQLite the test database is in memory and Django hands the live server's request
    threads the test thread's one connection; pages load panels with several htmx requests
    at once, which would use that connection from several threads together ("database table
    is locked"). The lock is held until the server has closed the response, because closing
    it runs Django's request_finished handlers, which use the connection too.

    A test that ends while its page is still loading panels must not have the database
    emptied under a request in flight (the flush fails and the next test starts on the last
    one's rows): `wait_until_idle` is called after the browser context is closed, before the
    database is emptied. PostgreSQL needs neither; they change nothing the tests check."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.lock = threading.Lock()
        self.changed = threading.Condition()
        self.in_flight = 0

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        with self.changed:
            self.in_flight += 1
        self.lock.acquire()
        try:
            response = self.app(environ, start_response)
        except BaseException:
            self.release()
            raise
        return ReleasedOnClose(response, self.release)

    def release(self) -> None:
        self.lock.release()
        with self.changed:
            self.in_flight -= 1
            self.changed.notify_all()

    def wait_until_idle(self, quiet: float = 0.3, timeout: float = 15.0) -> None:
        """Until no request has been in flight for `quiet` seconds (a request the browser
        sent just before its context closed may reach the server a moment later)."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while True:
                left = deadline - time.monotonic()
                if not self.changed.wait_for(lambda: self.in_flight == 0, left):
                    pytest.fail(f"the live server still had {self.in_flight} request(s) in flight")
                if not self.changed.wait(quiet) and self.in_flight == 0:
                    return


class ReleasedOnClose:
    """A WSGI response that calls `release` once, when the server closes it."""

    def __init__(self, response: Any, release: Any) -> None:
        self.response = response
        self._release: Any = release

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.response)

    def close(self) -> None:
        try:
            if hasattr(self.response, "close"):
                self.response.close()
        finally:
            release, self._release = self._release, None
            if release is not None:
                release()


@pytest.fixture(scope="session")
def live_server() -> Iterator[LiveServer]:
    server = LiveServer("localhost")
    server.thread.httpd.set_app(OneRequestAtATime(server.thread.httpd.get_app()))
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
        "careplans.migrations.0008_monitoring_definitions",
        "worklists.migrations.0003_seed_outcomes",
    ):
        importlib.import_module(module).seed(django_apps, None)


@pytest.fixture
def sandbox(settings) -> Iterator[SandboxServer]:  # type: ignore[no-untyped-def]
    """The PKB sandbox the live server delivers to (user rms, password pw)."""
    server = SandboxServer(username="rms", password="pw", state=SandboxState())
    server.start()
    settings.PKB_URL = server.url
    settings.PKB_USERNAME = "rms"
    settings.PKB_PASSWORD = "pw"
    yield server
    server.stop()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not os.path.exists(CHROMIUM):
        pytest.fail("Chromium is not installed: apt-get install chromium (.ci/run does this)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser, live_server: LiveServer) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="en-GB")
    context.set_default_timeout(15_000)
    tab = context.new_page()
    yield tab
    context.close()
    # Before the test's database is emptied (page is torn down first: it was set up last).
    live_server.thread.httpd.get_app().wait_until_idle()


def log_in(page: Page, live_server, username: str, password: str = "correct-horse-battery") -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{live_server.url}/patients/**")


def open_patient(page: Page, live_server, patient) -> None:  # type: ignore[no-untyped-def]
    """Open a patient's page and wait until its panels have loaded (each is fetched by htmx
    after the page): a test acting on one panel while the others still arrive raced them
    on a loaded machine."""
    page.goto(f"{live_server.url}/patients/{patient.public_id}/")
    page.wait_for_load_state("networkidle")
