"""`make demo` logs quietly: one line a request, the delivery loop's routine polls at DEBUG,
a favicon served (no 404 line for the browser's automatic request)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from django.test import Client

from devtools.management.commands.demo import quiet_demo_logging
from rms.ops.logging import DemoteToDebug


class Kept(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def kept() -> Iterator[Kept]:
    """Every record that reaches the root's handlers, the demo's filters on, removed after."""
    handler = Kept()
    root = logging.getLogger()
    root.addHandler(handler)
    level = root.level
    root.setLevel(logging.INFO)
    added = quiet_demo_logging()
    yield handler
    for logger, quiet in added:
        logger.removeFilter(quiet)
    root.setLevel(level)
    root.removeHandler(handler)


@pytest.mark.django_db
def test_a_refused_request_is_one_line_in_the_demo(client: Client, kept: Kept) -> None:
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    lines = [r.getMessage() for r in kept.records]
    assert len(lines) == 1, lines
    assert lines[0].startswith("GET /no-such-page/ 404")


def test_the_delivery_loops_polls_and_tasks_are_at_debug(kept: Kept) -> None:
    logging.getLogger("httpx").info(
        'HTTP Request: GET http://127.0.0.1:7443/fhir/Observation "200"'
    )
    logging.getLogger("celery.app.trace").info("Task pkb_bridge.tasks.dispatch succeeded: 2")
    logging.getLogger("django.server").info('"GET /healthz HTTP/1.1" 200 16')
    assert kept.records == []

    logging.getLogger().setLevel(logging.DEBUG)
    logging.getLogger("httpx").info("HTTP Request: GET ...")
    assert [(r.name, r.levelname) for r in kept.records] == [("httpx", "DEBUG")]


def test_what_needs_attention_is_still_shown(kept: Kept) -> None:
    logging.getLogger("httpx").warning("PKB did not answer")
    logging.getLogger("celery.app.trace").error("Task pkb_bridge.tasks.dispatch raised")
    logging.getLogger("django.request").error("Internal Server Error: /patients/")
    assert [r.levelname for r in kept.records] == ["WARNING", "ERROR", "ERROR"]


def test_a_record_at_or_above_the_threshold_keeps_its_level() -> None:
    record = logging.LogRecord("x", logging.WARNING, __file__, 1, "m", None, None)
    assert DemoteToDebug(logging.WARNING).filter(record)
    assert record.levelname == "WARNING"


def test_the_favicon_is_served_at_the_root_and_linked_from_every_page(
    client: Client, clinician
) -> None:
    response = client.get("/favicon.ico")
    assert response.status_code == 200
    body = b"".join(response.streaming_content)  # type: ignore[attr-defined]
    assert body[:4] == b"\x00\x00\x01\x00"  # an ICO file
    client.force_login(clinician)
    assert (
        '<link rel="icon" href="/static/root/favicon.ico">'
        in client.get("/patients/").content.decode()
    )
