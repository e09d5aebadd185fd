"""Every new radiology report of a patient on an active follow-up plan is a "result to review"
work item for the plan's team, with the report's conclusion in it (clinical vocabulary,
"Causes that are not alerts": review cause ``radiology_report``), so a scan that shows a
recurrence is read by the team that follows the patient, whatever rule the plan has.

A team can switch this off (``rms.Team.review_radiology_reports``, in Django admin). Called by
``careplans.followup.services.monitoring.on_result`` inside the transaction that filed the report.
One item per report, version of its text and team: filing the same report again raises
nothing; a corrected report (new text) raises a new item that says it was corrected; a report
the radiology system cancels or deletes closes its open items, saying so.
"""

from __future__ import annotations

import hashlib

from django.contrib.auth.models import User

from careplans.models import FollowUpPlan
from careplans.work_item_keys import RadiologyReviewKey
from rms.models import Result, Team
from rms.reports import conclusion
from rms.services import system_user
from worklists.due import waiting_since as waited_from
from worklists.models import WorkItem
from worklists.services import (
    work_item_close_by_system,
    work_item_raise,
    work_items_active_for,
    work_items_for,
)


def _key(result: Result, team: Team) -> RadiologyReviewKey:
    # A radiology report has no observations, so a correction of its text does not change the
    # result's version: the digest of the text tells the versions apart (a preliminary report
    # made final with the same text is the same report).
    digest = hashlib.sha256(result.report_text.encode()).hexdigest()[:16]
    return RadiologyReviewKey(
        result_pk=result.pk, version=result.version, digest=digest, team_pk=team.pk
    )


def _plans_by_team(result: Result) -> dict[int, FollowUpPlan]:
    """The patient's active plans of teams that review radiology reports, one per team."""
    plans = FollowUpPlan.objects.filter(
        patient=result.patient,
        status=FollowUpPlan.Status.ACTIVE,
        team__review_radiology_reports=True,
    ).select_related("team", "pathway")
    found: dict[int, FollowUpPlan] = {}
    for plan in plans.order_by("started_at", "id"):
        found.setdefault(plan.team_id, plan)
    return found


def radiology_review_raise(*, result: Result, actor: User | None = None) -> list[WorkItem]:
    """Raise the "result to review" item of a radiology report for each team following the
    patient on an active plan (that has not switched it off). Returns the items raised now
    (none when they were raised already). Safe to repeat."""
    if result.category != Result.Category.RADIOLOGY:
        return []
    who = actor or system_user()
    if result.status in Result.WITHDRAWN:
        for item in work_items_active_for(cause=RadiologyReviewKey.scope(result.pk)):
            work_item_close_by_system(
                item=item,
                actor=who,
                outcome="Report withdrawn",
                note="The radiology system cancelled or deleted this report.",
            )
        return []
    plans = _plans_by_team(result)
    if not plans:
        return []
    earlier = set(
        work_items_for(cause=RadiologyReviewKey.scope(result.pk)).values_list("team_id", flat=True)
    )
    raised = []
    for plan in plans.values():
        team = plan.team
        # A new text of a report already raised (or one the radiology system marks as a
        # correction) is a correction: it says so.
        corrected = team.pk in earlier or result.status == Result.Status.CORRECTED
        item, created = work_item_raise(
            kind=WorkItem.Kind.RESULT_TO_REVIEW,
            key=_key(result, team),
            title=_title(result, corrected=corrected),
            explanation=_explanation(result, plan, corrected=corrected),
            source=f"result:{result.public_id}",
            actor=who,
            patient=result.patient,
            team=team,
            priority=WorkItem.Priority.NORMAL,
            # Waiting since the study was done (or since the report arrived, if that is
            # earlier or the study's time is unknown).
            waiting_since=waited_from(observed_at=result.observed_at, arrived_at=result.created_at),
            details={
                "cause": "radiology_report",
                "result": str(result.public_id),
                "version": result.version,
                "service_code": result.service_code,
                "corrected": corrected,
                "conclusion": conclusion(result.report_text),
                "plan": str(plan.public_id),
            },
        )
        if created:
            raised.append(item)
    return raised


def _name(result: Result) -> str:
    return result.service_name or result.service_code or "Radiology report"


def _title(result: Result, *, corrected: bool) -> str:
    what = "Corrected radiology report" if corrected else "New radiology report"
    return f"{what} to review: {_name(result)}"


def _explanation(result: Result, plan: FollowUpPlan, *, corrected: bool) -> str:
    taken = result.observed_at
    when = f"{taken.day} {taken:%b %Y}"
    if corrected:
        opening = (
            f"The radiology report {_name(result)} of {when} was corrected by the radiology "
            "system: read the corrected report."
        )
    else:
        opening = f"A new radiology report, {_name(result)} of {when}, has arrived."
    summary = conclusion(result.report_text)
    found = (
        f"Conclusion: {summary}"
        if summary
        else "The report has no text here: open it on the patient record."
    )
    return (
        f"{opening}\n\n{found}\n\nThe patient is on the follow-up plan '{plan.pathway.name}'. "
        "Read the full report on the patient record and decide what follows."
    )
