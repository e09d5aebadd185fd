"""django-auditlog registration of the PKB bridge's clinical decisions. Outbox rows are not
registered: each has its own attempt rows with the bytes sent and PKB's answer."""

from __future__ import annotations

from auditlog.registry import auditlog

from pkb_bridge.models import Connection, Enrolment, Publication, ReleasePolicy

auditlog.register(Enrolment)
auditlog.register(ReleasePolicy)
auditlog.register(Publication)
auditlog.register(Connection)
