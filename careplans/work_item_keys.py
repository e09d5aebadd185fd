"""The care plans' work-item causes, as typed keys (see ``worklists.keys``): monitoring's
breaches, repeats, set-aside and unreadable values and misconfigured rules, overdue tests,
radiology reports to review, library resources due for review and questionnaire alerts.

Their stored forms are those of earlier releases; only this module renders or reads them.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import ClassVar

from worklists.keys import CauseKey, join


@dataclass(frozen=True)
class BreachKey(CauseKey):
    """The breaches one evaluation found on one plan (``digest``: of the rules and findings)."""

    cause: ClassVar[str] = "breach"
    plan_pk: int
    digest: str


@dataclass(frozen=True)
class AwaitingKey(CauseKey):
    """A value that waits for a repeat test to confirm it (the rule's finding)."""

    cause: ClassVar[str] = "awaiting"
    rule_pk: int
    finding: str

    @classmethod
    def rule_of(cls, stored: str) -> int:
        """The rule of a stored awaiting key (the finding itself may hold ':')."""
        cause, rule_pk, _ = stored.split(":", 2)
        if cause != cls.cause:
            raise ValueError(f"Not an awaiting key: {stored!r}")
        return int(rule_pk)


@dataclass(frozen=True)
class RuleConfigKey(CauseKey):
    """A rule that cannot be checked as configured (``digest``: of its parameters)."""

    cause: ClassVar[str] = "config"
    rule_pk: int
    digest: str


@dataclass(frozen=True)
class SetAsideKey(CauseKey):
    """A value set aside for its units (``point``: the observation's reference or time)."""

    cause: ClassVar[str] = "units"
    point: str


@dataclass(frozen=True)
class UnreadableKey(CauseKey):
    """A result that could not be read as a number."""

    cause: ClassVar[str] = "unreadable"
    observation_pk: int


@dataclass(frozen=True)
class OverdueKey(CauseKey):
    """A plan test overdue, once per due date."""

    cause: ClassVar[str] = "overdue"
    plan_test_pk: int
    due: dt.date


@dataclass(frozen=True)
class RadiologyReviewKey(CauseKey):
    """A radiology report to review, per version of its text (``digest``) and team."""

    cause: ClassVar[str] = "radiology"
    result_pk: int
    version: int
    digest: str
    team_pk: int

    def render(self) -> str:
        return join(
            self.cause, self.result_pk, f"v{self.version}", self.digest, "team", self.team_pk
        )


@dataclass(frozen=True)
class ResourceReviewKey(CauseKey):
    """A library resource due for review, once per review date (``None``: no date)."""

    cause: ClassVar[str] = "resource_review"
    resource_pk: int
    review_date: dt.date | None


@dataclass(frozen=True)
class QuestionnaireAlertKey(CauseKey):
    """A completed questionnaire whose answers fired alerts."""

    cause: ClassVar[str] = "questionnaire_response"
    response_public_id: uuid.UUID
