"""Receivers of the ``rms`` signals: each a one-line call of a care plans service, inside the
transaction of the change (docs/adr/0002-signals-between-apps.md): results to the monitoring
service, a reviewed library resource to its "due for review" work items."""

from __future__ import annotations

from typing import Any

from careplans.services import library, monitoring
from rms.services import system_user


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


def resource_reviewed(sender: Any, *, resource: Any, actor: Any = None, **kwargs: Any) -> None:
    library.resource_review_items_close(resource=resource, actor=actor or system_user())
