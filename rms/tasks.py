"""Celery tasks of the core: thin, each calling one service."""

from __future__ import annotations

from celery import shared_task

from rms.inbound.receive import inbound_file_queued


@shared_task(acks_late=True, ignore_result=True)
def inbound_file() -> int:
    """Rung when a message acknowledged on storing commits, and by beat as a sweep: file
    the stored messages, oldest first. Safe to run in many workers at once."""
    return inbound_file_queued()


@shared_task(ignore_result=True)
def inbound_file_sweep() -> None:
    """From beat, for a lost doorbell: start ``INBOUND_FILERS`` filers (``inbound_file``);
    each files the patients it can lock, and one finding nothing returns at once."""
    from django.conf import settings

    for _ in range(settings.INBOUND_FILERS):
        inbound_file.delay()


@shared_task(acks_late=True, ignore_result=True)
def events_consume() -> int:
    """Rung when an event commits, and by beat as a sweep for a lost ring: run the
    consumers of every event due. Safe to run in many workers at once and to repeat."""
    from rms.events import events_consume as consume

    return consume()


@shared_task(acks_late=True, ignore_result=True)
def events_purge() -> int:
    """Daily, from beat: delete consumed events older than EVENTS_KEEP_DAYS. Safe to repeat."""
    import datetime as dt

    from django.conf import settings
    from django.utils import timezone

    from rms.events import events_purge as purge

    return purge(before=timezone.now() - dt.timedelta(days=settings.EVENTS_KEEP_DAYS))
