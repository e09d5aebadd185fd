"""The sandbox's state: persistence across a restart and the concurrency counters."""

from __future__ import annotations

import json
import threading
import time

import pytest

from devtools.sandbox import SandboxServer, SandboxState
from tests.devtools.sandbox.conftest import PASSWORD, USERNAME, post_hl7
from tests.devtools.sandbox.messages import NHS, OTHER_NHS, a28, oru


def test_records_and_messages_survive_a_restart_with_a_data_file(tmp_path):
    data = tmp_path / "pkb.json"
    first = SandboxServer(username=USERNAME, password=PASSWORD, state=SandboxState(data_path=data))
    with first:
        post_hl7(first, a28(email="jane@example.org"))
        post_hl7(first, oru())

    second = SandboxServer(username=USERNAME, password=PASSWORD, state=SandboxState(data_path=data))
    with second:
        patient = second.state.patient(NHS)
        assert patient is not None
        assert patient["invited"] is True
        assert "FON1" in patient["lab_results"]
        assert [m["control_id"] for m in second.state.messages()] == ["A28-1", "ORU-1"]
        # and it carries on from there: a correction to the stored result
        post_hl7(second, oru("ORU-2").replace("|3.1|", "|3.3|"))
        assert second.state.patient(NHS)["lab_results"]["FON1"]["CEA^RMS"]["corrected"] is True


def test_writes_are_batched_and_flushed(tmp_path):
    data = tmp_path / "pkb.json"
    state = SandboxState(data_path=data, save_interval_s=60)

    state.receive(a28())
    assert not data.exists()  # the write waits for the interval, or for a flush
    state.flush()

    assert SandboxState(data_path=data).patient(NHS) is not None


def test_a_change_is_written_within_the_save_interval(tmp_path):
    data = tmp_path / "pkb.json"
    state = SandboxState(data_path=data, save_interval_s=0.1)

    state.receive(a28())
    time.sleep(0.5)

    assert SandboxState(data_path=data).patient(NHS) is not None


def test_without_a_data_file_nothing_is_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    state = SandboxState()

    state.receive(a28())

    assert list(tmp_path.iterdir()) == []


def test_reset_is_persisted_too(tmp_path):
    data = tmp_path / "pkb.json"
    state = SandboxState(data_path=data)
    state.receive(a28())

    state.reset()

    assert SandboxState(data_path=data).patients() == []


@pytest.mark.parametrize("content", ["{not json", json.dumps({"patients": {}})])
def test_it_refuses_a_data_file_it_did_not_write(tmp_path, content):
    data = tmp_path / "pkb.json"
    data.write_text(content)

    with pytest.raises(ValueError, match="sandbox data file"):
        SandboxState(data_path=data)


def _send_together(server: SandboxServer, messages: list[str]) -> None:
    barrier = threading.Barrier(len(messages))

    def send(message: str) -> None:
        barrier.wait()
        post_hl7(server, message)

    threads = [threading.Thread(target=send, args=(m,)) for m in messages]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)


def test_it_counts_requests_processed_at_the_same_time(sandbox):
    post_hl7(sandbox, a28("A-1"))
    post_hl7(sandbox, a28("A-2", nhs=OTHER_NHS, given="Ann", email=""))
    sandbox.set_faults(delay_s=0.5)

    _send_together(
        sandbox,
        [
            oru("ORU-A1", nhs=NHS, fon="F1"),
            oru("ORU-A2", nhs=NHS, fon="F2"),
            oru("ORU-B1", nhs=OTHER_NHS, fon="F3"),
        ],
    )

    assert sandbox.state.max_in_flight == 3
    assert sandbox.state.max_in_flight_same_patient == 2
    by_id = {m["control_id"]: m for m in sandbox.state.messages()}
    assert (
        max(by_id["ORU-A1"]["in_flight_same_patient"], by_id["ORU-A2"]["in_flight_same_patient"])
        == 2
    )
    assert by_id["ORU-B1"]["in_flight_same_patient"] == 1


def test_sequential_sends_never_count_as_concurrent(sandbox):
    for number in range(30):
        post_hl7(sandbox, a28(f"A-{number}"))

    assert sandbox.state.max_in_flight == 1
    assert {m["in_flight"] for m in sandbox.state.messages()} == {1}
