"""Questionnaires (FHIR R4 Questionnaire JSON) with scoring and alert rules; responses."""

from __future__ import annotations

__all__: list[str] = []
