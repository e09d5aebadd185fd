"""The Celery application. ``celery -A rms worker`` and ``celery -A rms beat`` load it.

Celery is a doorbell, not the record: anything that must not be lost is a database row that a
periodic sweeper can find again (see docs/adr/0001-outbox-is-the-record.md).
"""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rms.settings")

app = Celery("rms")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
