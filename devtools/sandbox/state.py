"""What the sandbox PKB holds: records, received messages, concurrency counters.

In memory and thread-safe; with ``data_path`` it is also written to a JSON file (atomically: a
temporary file then a rename), so a demo survives a restart. Writes are batched: at most one
every ``save_interval_s`` while messages arrive, and at once on ``flush()`` (which
``SandboxServer.stop`` calls), because rewriting the whole file after each message of a
10,000-message backfill would write gigabytes. A ``kill -9`` can lose the last interval.
Concurrency counters and faults are not persisted: they describe the running process.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import tempfile
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from devtools.sandbox.faults import Faults
from devtools.sandbox.rules import (
    UNEXPECTED,
    AckCode,
    DelayField,
    Options,
    Peek,
    Reject,
    build_ack,
    new_data,
    peek,
    process,
)

Clock = Callable[[], datetime]
_FORMAT_VERSION = 1


@dataclass(frozen=True, slots=True)
class InFlight:
    """How many requests were being processed when one started (itself included)."""

    total: int
    same_patient: int


@dataclass(frozen=True, slots=True)
class Answer:
    """What the sandbox answers one HL7 message with."""

    ack_text: str
    ack_code: AckCode
    control_id: str
    reply: str  # "sent", "dropped" or "wrong_control_id"


class SandboxState:
    """The sandbox's records and message log. Safe to share between request threads."""

    def __init__(
        self,
        *,
        data_path: str | Path | None = None,
        processing_id: str = "P",
        delay_field: DelayField = "OBX-13",
        nhs_status_checking: bool = False,
        clock: Clock | None = None,
        save_interval_s: float = 0.5,
    ) -> None:
        self.options = Options(
            processing_id=processing_id,
            delay_field=delay_field,
            nhs_status_checking=nhs_status_checking,
        )
        self._clock: Clock = clock or (lambda: datetime.now(tz=UTC))
        self._path = Path(data_path) if data_path else None
        self._lock = threading.RLock()
        self._data = _load(self._path) if self._path and self._path.exists() else new_data()
        self._save_interval_s = save_interval_s
        self._dirty = False
        self._save_timer: threading.Timer | None = None
        self._in_flight = 0
        self._in_flight_by_patient: Counter[str] = Counter()
        self.max_in_flight = 0
        self.max_in_flight_same_patient = 0

    def now(self) -> datetime:
        return self._clock()

    # -- receiving ---------------------------------------------------------------------------

    @contextlib.contextmanager
    def in_flight(self, message: str) -> Iterator[InFlight]:
        """Count ``message`` as being processed for the duration of the block."""
        number = peek(message).nhs_number
        with self._lock:
            self._in_flight += 1
            if number:
                self._in_flight_by_patient[number] += 1
            counts = InFlight(self._in_flight, self._in_flight_by_patient[number] if number else 0)
            self.max_in_flight = max(self.max_in_flight, counts.total)
            self.max_in_flight_same_patient = max(
                self.max_in_flight_same_patient, counts.same_patient
            )
        try:
            yield counts
        finally:
            with self._lock:
                self._in_flight -= 1
                if number:
                    self._in_flight_by_patient[number] -= 1
                    if not self._in_flight_by_patient[number]:
                        del self._in_flight_by_patient[number]

    def receive(
        self,
        message: str,
        *,
        faults: Faults | None = None,
        in_flight: InFlight | None = None,
        reply: str = "sent",
    ) -> Answer:
        """Process one HL7 message as PKB would, log it, and return the ACK to send.

        ``reply`` records what the server will do with the ACK ("sent", "dropped",
        "wrong_control_id") so tests can see which copies the sender never heard about.
        """
        with self._lock:
            now = self._clock()
            header = peek(message)
            forced = self._forced_answer(header, faults) if faults is not None else None
            if forced is not None:
                code, text, number = forced.code, forced.text, header.nhs_number
                sender = header.sender
                notes = ["fault injected"]
            else:
                result = process(self._data, message, self.options, now)
                code, text, number, notes = (
                    result.code,
                    result.text,
                    result.nhs_number,
                    result.notes,
                )
                sender = (
                    (result.msg.sending_application, result.msg.sending_facility)
                    if result.msg is not None
                    else ("", "")
                )
            echoed = header.control_id
            if reply == "wrong_control_id":
                echoed = f"MISMATCH-{header.control_id}"
            ack = build_ack(code, echoed, text, sender=sender, now=now)
            self._data["messages"].append(
                {
                    "seq": len(self._data["messages"]) + 1,
                    "control_id": header.control_id,
                    "message_type": header.message_type,
                    "nhs_number": number or header.nhs_number,
                    "ack_code": code,
                    "ack_text": text,
                    "received_at": now.isoformat(),
                    "in_flight": in_flight.total if in_flight else 1,
                    "in_flight_same_patient": in_flight.same_patient if in_flight else 1,
                    "reply": reply,
                    "notes": notes,
                    "raw": message,
                }
            )
            self._changed()
            return Answer(ack_text=ack, ack_code=code, control_id=header.control_id, reply=reply)

    def _forced_answer(self, header: Peek, faults: Faults) -> Reject | None:
        settings = faults.snapshot()
        text = settings.ar_text or "Parsing or validation error: rejected by the sandbox"
        if header.control_id and header.control_id in settings.reject_control_ids:
            return Reject("AR", text)
        if header.message_type and header.message_type in settings.reject_types:
            return Reject("AR", text)
        if faults.take("ae_next"):
            return Reject("AE", UNEXPECTED)
        return None

    # -- reading -----------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """A deep copy of everything held (what ``GET /_sandbox/state`` shows)."""
        with self._lock:
            data = copy.deepcopy(self._data)
        data["max_in_flight"] = self.max_in_flight
        data["max_in_flight_same_patient"] = self.max_in_flight_same_patient
        return data

    def messages(self) -> list[dict[str, Any]]:
        """The message log in arrival order, without the message text."""
        with self._lock:
            return [
                {k: v for k, v in entry.items() if k != "raw"} for entry in self._data["messages"]
            ]

    def patients(self) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(list(self._data["patients"].values()))

    def patient(self, nhs_number: str) -> dict[str, Any] | None:
        with self._lock:
            found = self._data["patients"].get(nhs_number)
            return copy.deepcopy(found) if found is not None else None

    # -- housekeeping ------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget every record and message (and the high-water marks)."""
        with self._lock:
            self._data = new_data()
            self.max_in_flight = self._in_flight
            self.max_in_flight_same_patient = max(self._in_flight_by_patient.values(), default=0)
            self._dirty = True
        self.flush()

    def flush(self) -> None:
        """Write the data file now if anything changed since the last write."""
        with self._lock:
            timer, self._save_timer = self._save_timer, None
            if timer is not None:
                timer.cancel()
            if self._dirty:
                self._save()
                self._dirty = False

    def _changed(self) -> None:
        if self._path is None:
            return
        self._dirty = True
        if self._save_timer is None:
            self._save_timer = threading.Timer(self._save_interval_s, self.flush)
            self._save_timer.daemon = True
            self._save_timer.start()

    def _save(self) -> None:
        if self._path is None:
            return
        payload = json.dumps({"format": _FORMAT_VERSION, **self._data}, ensure_ascii=False)
        directory = self._path.parent
        directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".sandbox-", suffix=".json", dir=directory)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(payload)
            os.replace(tmp, self._path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise


def _load(path: Path) -> dict[str, Any]:
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"the sandbox data file {path} cannot be read: {exc}") from exc
    if not isinstance(stored, dict) or stored.get("format") != _FORMAT_VERSION:
        raise ValueError(f"the sandbox data file {path} is not one this sandbox wrote")
    data = new_data()
    data.update({k: stored[k] for k in data if k in stored})
    return data
