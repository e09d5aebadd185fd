"""django-auditlog registration of every clinical model (changes: who, when, what)."""

from __future__ import annotations

from auditlog.registry import auditlog

from rms.models import (
    Appointment,
    CaseloadEntry,
    Diagnosis,
    Document,
    InboundMessage,
    Membership,
    Observation,
    Patient,
    Resource,
    Result,
    Team,
)

auditlog.register(Team)
auditlog.register(Membership)
auditlog.register(Patient)
auditlog.register(CaseloadEntry)
auditlog.register(Diagnosis)
auditlog.register(Result)
auditlog.register(Observation)
auditlog.register(Appointment)
# PDF bytes are not copied into the change log; the document row keeps them.
auditlog.register(Document, exclude_fields=["content_pdf"])
auditlog.register(Resource)
# The raw message and the acknowledgement stay on the row itself, not copied into the log.
auditlog.register(InboundMessage, exclude_fields=["raw", "ack"])
