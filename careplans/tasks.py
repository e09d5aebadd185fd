"""Celery tasks of the follow-up plans: thin, each calling one service."""

from __future__ import annotations

from celery import shared_task

from careplans.services import monitoring


@shared_task(acks_late=True, ignore_result=True)
def overdue_scan() -> int:
    """Beat, hourly by default: raise overdue-test work items and send due reminders.
    Safe to repeat: each due date raises one item and one reminder at most."""
    monitoring.reminders_send()
    return monitoring.overdue_scan()
