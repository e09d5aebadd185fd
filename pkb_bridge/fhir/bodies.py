"""The shapes we send to and read from PKB's FHIR API, as pure functions (no ORM, no I/O).

UNVERIFIED: PKB's public pages name the ``$send-questionnaire-request`` operation and OAuth2
client credentials, but not the operation's parameters, its answer, or how a patient is named
in a QuestionnaireResponse or Observation. The shapes below are our best reading (FHIR R4
conventions, the patient by NHS number under ``PKB_FHIR_PATIENT_SYSTEM``) and live only here,
so confirming them with PKB changes this module alone (docs/pkb.md, "FHIR API").
"""

from __future__ import annotations

from typing import Any


def send_questionnaire_parameters(
    *, nhs_number: str, patient_system: str, request_id: str, due_date: str | None = None
) -> dict[str, Any]:
    """The body of ``POST Questionnaire/<id>/$send-questionnaire-request``: a FHIR
    ``Parameters`` resource naming the patient by NHS number (``patient``, valueIdentifier),
    our request's id (``requestId``, so PKB's answer can be matched) and the due date if any."""
    parameter: list[dict[str, Any]] = [
        {"name": "patient", "valueIdentifier": {"system": patient_system, "value": nhs_number}},
        {"name": "requestId", "valueString": request_id},
    ]
    if due_date:
        parameter.append({"name": "dueDate", "valueDate": due_date})
    return {"resourceType": "Parameters", "parameter": parameter}


def request_external_id(answer: dict[str, Any], location: str = "") -> str:
    """PKB's id for a sent request: the answer's own ``id``, a ``requestId``/``id`` parameter
    of a Parameters answer, or the last part of the Location header; "" if none."""
    if answer.get("resourceType") == "Parameters":
        for parameter in answer.get("parameter") or []:
            if isinstance(parameter, dict) and parameter.get("name") in ("requestId", "id"):
                value = parameter.get("valueString") or parameter.get("valueId")
                if value:
                    return str(value)[:120]
    if answer.get("id") and answer.get("resourceType") not in (None, "OperationOutcome"):
        return str(answer["id"])[:120]
    if location:
        parts = [part for part in location.split("/_history")[0].split("/") if part]
        return parts[-1][:120] if parts else ""
    return ""


def patient_nhs_number(resource: dict[str, Any], *, patient_system: str) -> str | None:
    """The NHS number a QuestionnaireResponse or Observation is about: ``subject.identifier``
    (or ``source.identifier`` of a QuestionnaireResponse) under ``patient_system``."""
    for field in ("subject", "source"):
        reference = resource.get(field)
        if not isinstance(reference, dict):
            continue
        identifier = reference.get("identifier")
        if (
            isinstance(identifier, dict)
            and identifier.get("system") == patient_system
            and isinstance(identifier.get("value"), str)
        ):
            return identifier["value"].replace(" ", "")
    return None


def questionnaire_reference(resource: dict[str, Any]) -> str:
    """The PKB questionnaire id a QuestionnaireResponse answers: the last part of its
    ``questionnaire`` canonical ("Questionnaire/abc", "https://…/Questionnaire/abc|2")."""
    canonical = resource.get("questionnaire")
    if not isinstance(canonical, str) or not canonical:
        return ""
    return canonical.split("|", 1)[0].rstrip("/").rsplit("/", 1)[-1]


def last_updated(resource: dict[str, Any]) -> str:
    meta = resource.get("meta")
    value = meta.get("lastUpdated") if isinstance(meta, dict) else None
    return value if isinstance(value, str) else ""
