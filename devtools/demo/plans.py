"""The shapes of the demo plan (plain data, no ORM) and the date helpers it is built with."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.utils import timezone

from rms.models import Observation

LAB = "WINPATH"
RADIOLOGY = "CRIS"
# Every demo id starts with this, so a re-run finds the earlier rows with one query each.
ID_PREFIX = "DEMO-"


@dataclass
class ObservationPlan:
    code: str
    name: str
    value_text: str
    value_numeric: Decimal | None
    units: str = ""
    reference_range: str = ""
    abnormal_flag: str = ""
    comparator: str = ""
    value_type: str = Observation.ValueType.NUMERIC


@dataclass
class ResultPlan:
    source_system: str
    filler_order_number: str
    category: str
    service_code: str
    service_name: str
    observed_at: dt.datetime
    reported_at: dt.datetime
    ordering_clinician: str
    report_text: str = ""
    observations: list[ObservationPlan] = field(default_factory=list)


@dataclass
class AppointmentPlan:
    placer_id: str
    starts_at: dt.datetime
    ends_at: dt.datetime
    appointment_type: str
    reason: str
    location: str
    clinician: str
    status: str


@dataclass
class DocumentPlan:
    document_number: str
    title: str
    authored_at: dt.datetime
    author: str
    content_html: str


@dataclass
class PatientPlan:
    index: int
    team_code: str
    pathway: str
    rising: bool
    treated_on: dt.date
    demographics: dict[str, Any]
    diagnosis: dict[str, Any]
    results: list[ResultPlan] = field(default_factory=list)
    appointments: list[AppointmentPlan] = field(default_factory=list)
    documents: list[DocumentPlan] = field(default_factory=list)


@dataclass
class Marker:
    """One tumour-marker value, kept for the clinic letters that quote it."""

    on: dt.date
    text: str
    value: float


def weekday(day: dt.date) -> dt.date:
    """The day itself, or the Monday after a weekend (clinics and phlebotomy are weekdays)."""
    return day + dt.timedelta(days=max(0, 7 - day.weekday()) if day.weekday() >= 5 else 0)


def at(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=timezone.get_current_timezone())


def months(n: float) -> dt.timedelta:
    return dt.timedelta(days=round(n * 30.44))


def long_date(day: dt.date) -> str:
    return f"{day.day} {day:%B %Y}"
