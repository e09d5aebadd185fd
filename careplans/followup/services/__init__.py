"""Writes of the follow-up plans. Import from here: ``from careplans import services``.

``plans`` starts and customises a patient's plan; ``monitoring`` (imported as
``careplans.followup.services.monitoring``) checks each result against it and chases overdue tests.
"""

from __future__ import annotations

from careplans.followup.services.plans import (
    pathway_mismatch,
    plan_add_test,
    plan_end,
    plan_pause,
    plan_record_event,
    plan_resume,
    plan_set_interval,
    plan_set_rule_params,
    plan_start,
    plan_test_confirm_by,
    plan_test_refresh,
)

__all__ = [
    "pathway_mismatch",
    "plan_add_test",
    "plan_end",
    "plan_pause",
    "plan_record_event",
    "plan_resume",
    "plan_set_interval",
    "plan_set_rule_params",
    "plan_start",
    "plan_test_confirm_by",
    "plan_test_refresh",
]
