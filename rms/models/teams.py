"""Teams and who belongs to them. The team is the boundary of every patient read."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models

from rms.uk_formats import validate_uk_phone


class TumourSite(models.TextChoices):
    PROSTATE = "prostate", "Prostate"
    COLORECTAL = "colorectal", "Colorectal"
    BREAST = "breast", "Breast"
    LUNG = "lung", "Lung"
    GYNAECOLOGICAL = "gynaecological", "Gynaecological"
    HAEMATOLOGICAL = "haematological", "Haematological"
    SKIN = "skin", "Skin"
    UPPER_GI = "upper_gi", "Upper GI"
    UROLOGICAL = "urological", "Urological (other)"
    OTHER = "other", "Other"


class Team(models.Model):
    """A clinical team (usually one tumour site) whose caseload its members can see."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=200)
    code = models.CharField(
        max_length=20,
        unique=True,
        validators=[RegexValidator(r"^[A-Z0-9][A-Z0-9_-]*$", "Use capitals, digits, - and _.")],
        help_text="Short stable code, e.g. URO. Used by commands and imports.",
    )
    tumour_site = models.CharField(max_length=30, choices=TumourSite.choices)
    # PKB reads MSH-4 as a team alias (when PKB has configured one) to pick the creating team
    # and its default privacy label; PV1-10 is the hospital service code PKB maps to a label.
    pkb_team_alias = models.CharField("PKB team alias (MSH-4)", max_length=60, blank=True)
    pv1_service_code = models.CharField("Hospital service code (PV1-10)", max_length=20, blank=True)
    # The number a patient calls: filled into care plans' "who to contact" sections.
    contact_phone = models.CharField(
        "Contact telephone",
        max_length=30,
        blank=True,
        validators=[validate_uk_phone],
        help_text=(
            "The number patients call to reach the team (e.g. 0113 496 0000); care plans' "
            "'Who to contact' sections give it"
        ),
    )
    review_radiology_reports = models.BooleanField(
        default=True,
        help_text=(
            "Raise a 'result to review' work item, with the report's conclusion, for every new "
            "radiology report of a patient on one of the team's active follow-up plans"
        ),
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"


class Role(models.TextChoices):
    CLINICIAN = "clinician", "Clinician"
    TEAM_ADMIN = "team_admin", "Team admin"
    VIEWER = "viewer", "Viewer"


# Roles that may change a patient's record; a viewer only reads.
WRITE_ROLES = frozenset({Role.CLINICIAN, Role.TEAM_ADMIN})


class Membership(models.Model):
    """A user's role in one team."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=20, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "team"], name="membership_one_role_per_team"),
        ]

    def __str__(self) -> str:
        return f"{self.user} — {self.team.code} ({self.get_role_display()})"
