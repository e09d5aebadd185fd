"""Two transactions raising the same cause at once make one item. PostgreSQL only: SQLite
serialises writers, so there the second one never gets as far as the insert."""

from __future__ import annotations

import os
import threading
import time

import pytest
from django.db import connection, connections, transaction

from rms.services import system_user
from tests.worklists.helpers import ExampleKey
from worklists import services
from worklists.models import WorkItem, WorkItemEvent

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        "postgres" not in os.environ.get("DATABASE_URL", ""),
        reason="needs PostgreSQL (DATABASE_URL), as in CI's second run",
    ),
]


def _raise(patient) -> tuple[WorkItem, bool]:
    return services.work_item_raise(
        kind=WorkItem.Kind.THRESHOLD_BREACH,
        key=ExampleKey("rule:1:result:1"),
        title="PSA above 0.2 ug/L",
        explanation="PSA 0.24 ug/L is above the limit of 0.2 ug/L.",
        source="rule:1",
        actor=system_user(),
        patient=patient,
    )


def _waiting_on_a_lock() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        row = cursor.fetchone()
    return int(row[0]) if row else 0


def test_a_raise_racing_another_for_the_same_cause_returns_the_other_ones_item(patient) -> None:
    system_user()  # created up front, so neither thread's transaction creates it
    first_inserted = threading.Event()
    let_first_commit = threading.Event()
    outcomes: dict[str, tuple[WorkItem, bool] | BaseException] = {}

    def first() -> None:
        try:
            with transaction.atomic():
                outcomes["first"] = _raise(patient)
                first_inserted.set()
                let_first_commit.wait(10)
        except BaseException as exc:
            outcomes["first"] = exc
        finally:
            first_inserted.set()
            connections.close_all()

    def second() -> None:
        try:
            # Its look-up misses the uncommitted item; its insert waits on the unique key.
            outcomes["second"] = _raise(patient)
        except BaseException as exc:
            outcomes["second"] = exc
        finally:
            connections.close_all()

    a = threading.Thread(target=first)
    a.start()
    assert first_inserted.wait(10)
    b = threading.Thread(target=second)
    b.start()
    deadline = time.monotonic() + 10
    while _waiting_on_a_lock() == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _waiting_on_a_lock() == 1, "the second insert should be waiting on the first"
    let_first_commit.set()
    a.join(10)
    b.join(10)

    first_item, first_created = outcomes["first"]  # type: ignore[misc]
    second_item, second_created = outcomes["second"]  # type: ignore[misc]
    assert (first_created, second_created) == (True, False)
    assert second_item.pk == first_item.pk
    assert WorkItem.objects.count() == 1
    assert WorkItemEvent.objects.count() == 1
