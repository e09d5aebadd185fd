"""django-auditlog registration of the follow-up plan models (changes: who, when, what)."""

from __future__ import annotations

from auditlog.registry import auditlog

from careplans.models import FollowUpPlan, Pathway, PlanTest, Rule, ScheduleStep

auditlog.register(Pathway)
auditlog.register(ScheduleStep)
auditlog.register(Rule)
auditlog.register(FollowUpPlan)
auditlog.register(PlanTest)
