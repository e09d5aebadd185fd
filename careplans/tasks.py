"""Celery tasks of the follow-up plans: thin, each calling one service."""

from __future__ import annotations

from celery import shared_task

from careplans.followup.services import monitoring
from careplans.library import services as library


@shared_task(acks_late=True, ignore_result=True)
def overdue_scan() -> int:
    """Beat, hourly by default: raise overdue-test work items and send due reminders.
    Safe to repeat: each due date raises one item and one reminder at most."""
    monitoring.reminders_send()
    return monitoring.overdue_scan()


@shared_task(acks_late=True, ignore_result=True)
def questionnaire_schedule() -> int:
    """Beat, hourly by default: create the questionnaire requests the pathways' schedules make
    due. Safe to repeat: one request per plan, questionnaire and due date."""
    from careplans.questionnaires.services import schedule_due_requests

    return schedule_due_requests()


@shared_task(acks_late=True, ignore_result=True)
def resource_review_reminders() -> int:
    """Beat, every six hours: raise a work item for each library resource whose review date
    is near. Safe to repeat: once per resource and review date."""
    return library.review_reminders_raise()
