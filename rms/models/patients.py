"""Patients and the team caseloads they are on."""

from __future__ import annotations

import datetime as dt
import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from rms import nhs_number


class NhsNumberStatus(models.TextChoices):
    """NHS Data Dictionary, NHS NUMBER STATUS INDICATOR CODE. PKB needs 01 (verified)."""

    VERIFIED = "01", "01 — present and verified"
    NOT_TRACED = "02", "02 — present but not traced"
    TRACE_REQUIRED = "03", "03 — trace required"
    TRACE_NO_MATCH = "04", "04 — trace attempted, no or multiple match"
    TRACE_TO_RESOLVE = "05", "05 — trace needs to be resolved"
    TRACE_IN_PROGRESS = "06", "06 — trace in progress"
    NOT_PRESENT = "07", "07 — not present and trace not required"
    TRACE_POSTPONED = "08", "08 — trace postponed (baby under six weeks)"


class Sex(models.TextChoices):
    MALE = "M", "Male"
    FEMALE = "F", "Female"
    UNKNOWN = "U", "Unknown"


class Patient(models.Model):
    """A person followed by one or more teams.

    Identified by the NHS number where there is one (unique, stored without spaces) and by
    the Trust's local MRN. At least one of the two is present. ``public_id`` is the only id
    that appears in URLs and the API; NHS numbers never do.
    """

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    nhs_number = models.CharField(
        "NHS number",
        max_length=10,
        null=True,
        blank=True,
        validators=[nhs_number.validate_nhs_number],
    )
    nhs_number_status = models.CharField(
        "NHS number status",
        max_length=2,
        choices=NhsNumberStatus.choices,
        default=NhsNumberStatus.NOT_TRACED,
    )
    mrn = models.CharField("MRN", max_length=40, blank=True, help_text="Local hospital number")
    title = models.CharField(max_length=20, blank=True)
    given_name = models.CharField(max_length=100)
    family_name = models.CharField(max_length=100)
    date_of_birth = models.DateField()
    sex = models.CharField(max_length=1, choices=Sex.choices, default=Sex.UNKNOWN)
    address_line_1 = models.CharField(max_length=200, blank=True)
    address_line_2 = models.CharField(max_length=200, blank=True)
    address_city = models.CharField("Town or city", max_length=100, blank=True)
    address_county = models.CharField("County", max_length=100, blank=True)
    postcode = models.CharField(max_length=10, blank=True)
    phone_home = models.CharField("Home phone", max_length=30, blank=True)
    phone_mobile = models.CharField("Mobile phone", max_length=30, blank=True)
    phone_work = models.CharField("Work phone", max_length=30, blank=True)
    email = models.EmailField(blank=True)
    teams = models.ManyToManyField(
        "rms.Team",
        through="rms.CaseloadEntry",
        through_fields=("patient", "team"),
        related_name="patients",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["family_name", "given_name"]
        constraints = [
            models.UniqueConstraint(fields=["nhs_number"], name="patient_nhs_number_unique"),
            models.UniqueConstraint(
                fields=["mrn"], condition=~Q(mrn=""), name="patient_mrn_unique_when_present"
            ),
            models.CheckConstraint(
                condition=Q(nhs_number__isnull=False) | ~Q(mrn=""),
                name="patient_has_nhs_number_or_mrn",
            ),
            models.CheckConstraint(
                condition=Q(nhs_number__isnull=True) | Q(nhs_number__regex=r"^[0-9]{10}$"),
                name="patient_nhs_number_ten_digits",
            ),
        ]
        indexes = [
            models.Index(fields=["family_name", "given_name"], name="patient_name_idx"),
        ]

    def __str__(self) -> str:
        # Deliberately no identifiers: __str__ ends up in logs and admin messages.
        return f"Patient {self.public_id}"

    @property
    def full_name(self) -> str:
        return " ".join(p for p in (self.title, self.given_name, self.family_name.upper()) if p)

    @property
    def nhs_number_display(self) -> str:
        return nhs_number.display(self.nhs_number or "")

    def age_on(self, day: dt.date) -> int:
        born = self.date_of_birth
        return day.year - born.year - ((day.month, day.day) < (born.month, born.day))

    @property
    def address_lines(self) -> list[str]:
        parts = (
            self.address_line_1,
            self.address_line_2,
            self.address_city,
            self.address_county,
            self.postcode,
        )
        return [p for p in parts if p]


class CaseloadEntry(models.Model):
    """A patient on a team's caseload, from a date and (when discharged) to a date.

    Access follows the caseload: a team's members see the patients whose entry is open.
    """

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="caseload_entries")
    team = models.ForeignKey("rms.Team", on_delete=models.PROTECT, related_name="caseload_entries")
    started_on = models.DateField()
    ended_on = models.DateField(null=True, blank=True)
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "caseload entries"
        constraints = [
            models.UniqueConstraint(
                fields=["patient", "team"],
                condition=Q(ended_on__isnull=True),
                name="caseload_one_open_entry_per_team",
            ),
            models.CheckConstraint(
                condition=Q(ended_on__isnull=True) | Q(ended_on__gte=models.F("started_on")),
                name="caseload_ends_after_start",
            ),
        ]
        indexes = [
            models.Index(
                fields=["team", "patient"],
                condition=Q(ended_on__isnull=True),
                name="caseload_open_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.patient} on {self.team.code} from {self.started_on}"
