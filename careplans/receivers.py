"""Receivers of the ``rms`` signals and consumers of its events: each a one-line call of a care
plans service (docs/adr/0002-signals-between-apps.md): result events (after commit) to the
monitoring service, and a patient's imported history (inside the import's transaction) to it
too."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from careplans.followup.services import monitoring
from rms.models import DomainEvent, Result

# The kinds of event monitoring consumes: every change of a result re-checks the plan's rules.
RESULT_EVENTS = (
    DomainEvent.Kind.RESULT_RECORDED,
    DomainEvent.Kind.RESULT_CORRECTED,
    DomainEvent.Kind.RESULT_DELETED,
)


def result_event(event: DomainEvent) -> None:
    """After the result's commit: evaluate the patient's plans against it as it is now."""
    result = Result.objects.select_related("patient").filter(pk=event.subject_id).first()
    if result is not None:
        monitoring.on_result(result=result)


def idle_patients(patient_ids: Collection[int]) -> set[int]:
    """The patients monitoring has nothing to do for (on no active or paused plan: the first
    thing ``monitoring.on_result`` checks), for the events' consumer to pass over."""
    return set(patient_ids) - monitoring.patients_on_plans(patient_ids)


def history_patients(sender: Any, *, patient_ids: Any, **kwargs: Any) -> set[int]:
    return monitoring.patients_on_plans(patient_ids)


# The import's summary counts the patients on a plan from this receiver's answer.
history_patients.counts_patients = True  # type: ignore[attr-defined]


def history_imported(
    sender: Any, *, patient: Any, test_codes: Any, actor: Any, **kwargs: Any
) -> dict[str, int]:
    outcome = monitoring.evaluate_history(patient=patient, test_codes=test_codes, actor=actor)
    return {"breaches_raised": outcome.raised, "breaches_historic": outcome.historic}
