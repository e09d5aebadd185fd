"""Receivers of the ``rms`` result signals: each a one-line call of the monitoring service,
inside the transaction that filed the result (docs/adr/0002-signals-between-apps.md)."""

from __future__ import annotations

from typing import Any

from careplans.services import monitoring


def result_changed(sender: Any, *, result: Any, **kwargs: Any) -> None:
    monitoring.on_result(result=result)


def history_patients(sender: Any, *, patient_ids: Any, **kwargs: Any) -> set[int]:
    return monitoring.patients_on_plans(patient_ids)


# The import's summary counts the patients on a plan from this receiver's answer.
history_patients.counts_patients = True  # type: ignore[attr-defined]


def history_imported(
    sender: Any, *, patient: Any, test_codes: Any, actor: Any, **kwargs: Any
) -> dict[str, int]:
    outcome = monitoring.evaluate_history(patient=patient, test_codes=test_codes, actor=actor)
    return {"breaches_raised": outcome.raised, "breaches_historic": outcome.historic}
