"""Presenters of the caseload page."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from django.utils import timezone

from careplans.models import FollowUpPlan
from clinic.reads import OPEN_PLANS_ATTR
from rms.models import Observation, Patient
from rms.presenters import ObservationPresenter, PatientPresenter, format_date


class CaseloadRow:
    """One patient of the caseload: their open plans, latest followed result, next test due,
    open items and PKB status."""

    def __init__(self, patient: Patient, *, today: dt.date, last: Observation | None) -> None:
        self.patient = PatientPresenter(patient, today=today, teams=())
        self.today = today
        self._patient = patient
        self._last = last

    @property
    def plans(self) -> list[str]:
        plans: Sequence[FollowUpPlan] = getattr(self._patient, OPEN_PLANS_ATTR, ())
        return [
            f"{plan.pathway.name} from {format_date(plan.anchor_date)}"
            + ("" if plan.status == FollowUpPlan.Status.ACTIVE else " (paused)")
            for plan in plans
        ]

    @property
    def last_result(self) -> str:
        if self._last is None:
            return ""
        value = ObservationPresenter(self._last)
        return f"{value.name} {value.value} {value.units}".strip()

    @property
    def last_result_date(self) -> str:
        return format_date(timezone.localdate(self._last.observed_at)) if self._last else ""

    @property
    def next_due(self) -> str:
        return format_date(getattr(self._patient, "next_due", None))

    @property
    def is_overdue(self) -> bool:
        due: dt.date | None = getattr(self._patient, "next_due", None)
        return due is not None and due < self.today

    @property
    def open_items(self) -> int:
        return int(getattr(self._patient, "open_items", 0))

    @property
    def pkb_status(self) -> str:
        return "Shared" if getattr(self._patient, "pkb_shared", False) else "Not shared"
