"""The core clinical record. Import models from here: ``from rms.models import Patient``."""

from __future__ import annotations

from rms.models.accounts import AccountSecurity
from rms.models.audit import AccessEvent, NhsNumberStatusChange
from rms.models.clinical import (
    Appointment,
    Diagnosis,
    Document,
    Observation,
    Result,
)
from rms.models.events import DomainEvent, EventDelivery
from rms.models.inbound import InboundMessage
from rms.models.patients import CaseloadEntry, NhsNumberStatus, Patient, Sex
from rms.models.teams import Membership, Role, Team, TumourSite

__all__ = [
    "AccessEvent",
    "AccountSecurity",
    "Appointment",
    "CaseloadEntry",
    "Diagnosis",
    "Document",
    "DomainEvent",
    "EventDelivery",
    "InboundMessage",
    "Membership",
    "NhsNumberStatus",
    "NhsNumberStatusChange",
    "Observation",
    "Patient",
    "Result",
    "Role",
    "Sex",
    "Team",
    "TumourSite",
]
