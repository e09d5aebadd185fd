"""``run_once_on_commit`` on a real database: transactional tests, so commits really happen."""

from __future__ import annotations

import pytest
from django.db import transaction

from rms.transactions import run_once_on_commit

pytestmark = pytest.mark.django_db(transaction=True)


def test_it_runs_once_after_commit_however_often_it_is_asked_in_one_transaction() -> None:
    calls: list[str] = []
    with transaction.atomic():
        for _ in range(5):
            run_once_on_commit("doorbell", lambda: calls.append("rang"))
        assert calls == []
    assert calls == ["rang"]


def test_each_transaction_gets_its_own_run() -> None:
    calls: list[int] = []
    for n in range(3):
        with transaction.atomic():
            run_once_on_commit("doorbell", lambda n=n: calls.append(n))
            run_once_on_commit("doorbell", lambda n=n: calls.append(n))
    assert calls == [0, 1, 2]


def test_different_keys_each_run() -> None:
    calls: list[str] = []
    with transaction.atomic():
        run_once_on_commit("filer", lambda: calls.append("filer"))
        run_once_on_commit("dispatcher", lambda: calls.append("dispatcher"))
    assert calls == ["filer", "dispatcher"]


def test_nothing_runs_after_a_rollback_and_the_next_transaction_still_runs_it() -> None:
    calls: list[str] = []
    with pytest.raises(RuntimeError), transaction.atomic():
        run_once_on_commit("doorbell", lambda: calls.append("rolled back"))
        raise RuntimeError
    assert calls == []
    with transaction.atomic():
        run_once_on_commit("doorbell", lambda: calls.append("committed"))
    assert calls == ["committed"]


def test_a_run_dropped_with_a_rolled_back_savepoint_is_scheduled_again() -> None:
    calls: list[str] = []
    with transaction.atomic():
        with pytest.raises(RuntimeError), transaction.atomic():
            run_once_on_commit("doorbell", lambda: calls.append("savepoint"))
            raise RuntimeError
        run_once_on_commit("doorbell", lambda: calls.append("outer"))
        run_once_on_commit("doorbell", lambda: calls.append("outer again"))
    assert calls == ["outer"]


def test_outside_a_transaction_it_runs_at_once_every_time() -> None:
    calls: list[int] = []
    run_once_on_commit("doorbell", lambda: calls.append(1))
    run_once_on_commit("doorbell", lambda: calls.append(2))
    assert calls == [1, 2]
