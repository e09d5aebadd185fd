"""django-auditlog registration of every clinical model (changes: who, when, what)."""

from __future__ import annotations

from auditlog.registry import auditlog

from rms.models import (
    Appointment,
    CaseloadEntry,
    Diagnosis,
    Document,
    Membership,
    Observation,
    Patient,
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
# InboundMessage is not registered: it is the record of what a sender said, written once and
# then only moved on by processing; every action a person takes on it (reprocess, match,
# create the patient) is written to Django admin's own log, and what it filed is in the
# clinical models' history. Registering it would cost three queries a message on the feed's
# hot path for no extra information.
