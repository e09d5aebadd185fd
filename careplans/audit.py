"""django-auditlog registration of the follow-up plan models (changes: who, when, what)."""

from __future__ import annotations

from auditlog.registry import auditlog

from careplans.models import (
    CarePlan,
    CarePlanSection,
    CarePlanTemplate,
    CarePlanTemplateSection,
    CarePlanVersion,
    ConsentRecord,
    FollowUpPlan,
    InformationPack,
    MilestoneReached,
    Pathway,
    PathwayResource,
    PlanTest,
    Resource,
    ResourceShare,
    Rule,
    ScheduleStep,
)

auditlog.register(Pathway)
auditlog.register(ScheduleStep)
auditlog.register(Rule)
auditlog.register(FollowUpPlan)
auditlog.register(PlanTest)
auditlog.register(Resource)
auditlog.register(PathwayResource)
auditlog.register(InformationPack, m2m_fields={"resources"})
auditlog.register(MilestoneReached)
auditlog.register(ResourceShare, m2m_fields={"included"})
auditlog.register(CarePlanTemplate)
auditlog.register(CarePlanTemplateSection)
auditlog.register(CarePlan)
auditlog.register(CarePlanVersion, exclude_fields=["content_html"])
auditlog.register(CarePlanSection)
auditlog.register(ConsentRecord)

# Questionnaires: definitions (who changed a scoring or alert rule), requests and responses.
from careplans.models import questionnaires as _questionnaires  # noqa: E402

auditlog.register(_questionnaires.Questionnaire)
auditlog.register(_questionnaires.PathwayQuestionnaire)
auditlog.register(_questionnaires.QuestionnaireRequest)
auditlog.register(_questionnaires.QuestionnaireResponse)
