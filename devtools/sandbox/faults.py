"""Faults the sandbox can be told to inject, set over ``POST /_sandbox/faults`` or in Python.

Settings (``status``, ``delay_s``, ``drip_s``, the reject lists, ``ar_text``) stay until changed
or reset; counters (``ae_next``, ``drop_after_receive``, ...) are used up one message at a time.
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass, field, fields
from typing import Any

# The counters: "answer the next n messages this way".
COUNTERS = (
    "ae_next",
    "drop_after_receive",
    "ack_wrong_control_id",
    "soap_fault_next",
    "non_soap_next",
)


@dataclass
class FaultSettings:
    """The current faults. ``refuse_connections`` is acted on by the server, not per request."""

    refuse_connections: bool = False
    refuse_for_s: float | None = None  # reopen by itself after this long (None: stay closed)
    status: int | None = None  # answer every HL7 POST with this HTTP status
    delay_s: float = 0.0  # sleep before answering
    drip_s: float = 0.0  # send the response one byte per drip_s
    reject_types: list[str] = field(default_factory=list)  # "ORU^R01": AR those
    reject_control_ids: list[str] = field(default_factory=list)  # AR these MSH-10s
    ar_text: str | None = None  # MSA-3 for the two above
    ae_next: int = 0  # AE "Unexpected error while processing: null"
    drop_after_receive: int = 0  # process, then close without answering (O9)
    ack_wrong_control_id: int = 0  # MSA-2 is not the message's MSH-10 (O5)
    soap_fault_next: int = 0  # HTTP 500 with a SOAP Fault, message not processed
    non_soap_next: int = 0  # HTTP 200 with an HTML page, message not processed


class FaultError(ValueError):
    """A fault setting that is unknown or of the wrong type."""


class Faults:
    """Thread-safe holder of ``FaultSettings``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._settings = FaultSettings()

    def update(self, changes: dict[str, Any]) -> dict[str, Any]:
        """Apply JSON-shaped changes (unknown keys and wrong types raise ``FaultError``)."""
        cleaned = {name: _clean(name, value) for name, value in changes.items()}
        with self._lock:
            for name, value in cleaned.items():
                setattr(self._settings, name, value)
            return asdict(self._settings)

    def reset(self) -> None:
        with self._lock:
            self._settings = FaultSettings()

    def snapshot(self) -> FaultSettings:
        with self._lock:
            return FaultSettings(**asdict(self._settings))

    def take(self, counter: str) -> bool:
        """True (and one fewer left) if ``counter`` is above zero."""
        if counter not in COUNTERS:
            raise FaultError(f"{counter} is not a counter")
        with self._lock:
            left = getattr(self._settings, counter)
            if left <= 0:
                return False
            setattr(self._settings, counter, left - 1)
            return True


_NAMES = {f.name for f in fields(FaultSettings)}


def _clean(name: str, value: Any) -> Any:
    if name not in _NAMES:
        raise FaultError(f"unknown fault {name!r}; known: {', '.join(sorted(_NAMES))}")
    if name == "refuse_connections":
        if not isinstance(value, bool):
            raise FaultError("refuse_connections must be true or false")
        return value
    if name == "status":
        if value is None:
            return None
        if not isinstance(value, int) or isinstance(value, bool) or not 100 <= value <= 599:
            raise FaultError("status must be an HTTP status code or null")
        return value
    if name in ("delay_s", "drip_s", "refuse_for_s"):
        if value is None and name == "refuse_for_s":
            return None
        if value is None:
            return 0.0
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise FaultError(f"{name} must be a number of seconds, 0 or more")
        return float(value)
    if name in ("reject_types", "reject_control_ids"):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise FaultError(f"{name} must be a list of strings")
        return list(value)
    if name == "ar_text":
        if value is not None and not isinstance(value, str):
            raise FaultError("ar_text must be a string or null")
        return value
    # the counters
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise FaultError(f"{name} must be a whole number, 0 or more")
    return value
