"""Fixtures shared by the inbound tests."""

from __future__ import annotations

import datetime as dt

import pytest

from rms.models import Patient
from tests.factories import PatientFactory


@pytest.fixture
def tester(team) -> Patient:  # type: ignore[no-untyped-def]
    """The patient of the shared samples (PID: TESTER; 9990000018; RXX1234567)."""
    return PatientFactory(
        nhs_number="9990000018",
        mrn="RXX1234567",
        family_name="Tester",
        date_of_birth=dt.date(1958, 2, 14),
        teams=[team],
    )
