"""The careplans models, one module a subject; everything is importable from here."""

from careplans.models.care_plans import *  # noqa: F403
from careplans.models.followup import (
    FollowUpPlan,
    Pathway,
    PlanChange,
    PlanTest,
    Priority,
    RaisedBreach,
    Rule,
    RuleType,
    ScheduleStep,
    TreatmentEvent,
)
from careplans.models.library import *  # noqa: F403
from careplans.models.questionnaires import *  # noqa: F403

__all__ = [
    "FollowUpPlan",
    "Pathway",
    "PlanChange",
    "PlanTest",
    "Priority",
    "RaisedBreach",
    "Rule",
    "RuleType",
    "ScheduleStep",
    "TreatmentEvent",
]
