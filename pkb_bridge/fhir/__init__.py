"""PKB's FHIR API: questionnaire requests out; questionnaire responses and patient-entered
observations in. ``client`` speaks to PKB (OAuth2 client credentials), ``bodies`` holds the
shapes we assume PKB uses (unverified: docs/pkb.md), ``observations`` reads patient-entered data
into the core record's shape, and ``services`` sends, polls and files."""

from __future__ import annotations

from pkb_bridge.fhir.client import FhirClient, FhirError, client_from_settings

__all__ = ["FhirClient", "FhirError", "client_from_settings"]
