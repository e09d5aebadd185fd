"""django-auditlog registration of the worklists' models. A work item's own history is its
``WorkItemEvent`` rows; the audit log adds field-level changes (the configurable outcomes
included) for investigation."""

from __future__ import annotations

from auditlog.registry import auditlog

from worklists.models import Outcome, WorkItem

auditlog.register(WorkItem, exclude_fields=["updated_at"])
auditlog.register(Outcome)
