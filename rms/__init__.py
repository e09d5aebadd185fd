"""The Remote Monitoring System: project package and the core clinical record."""

from __future__ import annotations

from rms.celery import app as celery_app

__all__ = ["celery_app"]
