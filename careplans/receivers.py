"""Receivers of the ``rms`` result signals: each a one-line call of the monitoring service,
inside the transaction that filed the result (docs/adr/0002-signals-between-apps.md)."""

from __future__ import annotations

from typing import Any

from careplans.services import monitoring


def result_changed(sender: Any, *, result: Any, **kwargs: Any) -> None:
    monitoring.on_result(result=result)
