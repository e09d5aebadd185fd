"""What the FHIR tests share: a real sandbox with its FHIR side, settings pointing at it,
and the FHIR resources PKB would hold for a patient."""

from __future__ import annotations

import datetime as dt
import json
import urllib.request
from typing import Any

from django.utils import timezone

from devtools.sandbox import SandboxServer
from devtools.sandbox.fhir import FhirSandbox
from pkb_bridge.models import Enrolment

CLIENT_ID = "rms-fhir"
CLIENT_SECRET = "fhir-s3cret"
NHS_SYSTEM = "https://fhir.nhs.uk/Id/nhs-number"


def start_sandbox(port: int = 0) -> SandboxServer:
    server = SandboxServer(
        username="rms",
        password="pw",
        port=port,
        fhir=FhirSandbox(client_id=CLIENT_ID, client_secret=CLIENT_SECRET),
    )
    return server.start()


def point_settings_at(settings: Any, server: SandboxServer, *, secret: str = CLIENT_SECRET) -> None:
    settings.PKB_FHIR_ENABLED = True
    settings.PKB_FHIR_URL = f"{server.base_url}/fhir"
    settings.PKB_FHIR_TOKEN_URL = f"{server.base_url}/oauth/token"
    settings.PKB_FHIR_CLIENT_ID = CLIENT_ID
    settings.PKB_FHIR_CLIENT_SECRET = secret
    settings.PKB_FHIR_TIMEOUT_S = 3.0


def control(server: SandboxServer, path: str, payload: Any) -> Any:
    """A test control of the sandbox, over HTTP as a test harness would use it."""
    request = urllib.request.Request(  # noqa: S310 (the sandbox on loopback)
        f"{server.base_url}{path}",
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 (loopback)
        return json.loads(response.read())


def enrol(patient: Any, *, team: Any, actor: Any, registered: bool = True) -> Enrolment:
    """An active enrolment, as after PKB accepted the registration (ADT^A28)."""
    return Enrolment.objects.create(
        patient=patient,
        team=team,
        opted_in_by=actor,
        registered_at=timezone.now() if registered else None,
    )


def subject(nhs_number: str) -> dict[str, Any]:
    return {"identifier": {"system": NHS_SYSTEM, "value": nhs_number}}


def weight(fhir_id: str, nhs_number: str, kg: str, at: dt.datetime) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": fhir_id,
        "status": "final",
        "category": [{"coding": [{"code": "vital-signs"}]}],
        "code": {
            "coding": [{"system": "http://loinc.org", "code": "29463-7", "display": "Body weight"}]
        },
        "subject": subject(nhs_number),
        "effectiveDateTime": at.isoformat(),
        "valueQuantity": {"value": float(kg), "unit": "kg", "system": "http://unitsofmeasure.org"},
    }


def blood_pressure(fhir_id: str, nhs_number: str, at: dt.datetime) -> dict[str, Any]:
    def component(code: str, display: str, value: int) -> dict[str, Any]:
        return {
            "code": {"coding": [{"system": "http://loinc.org", "code": code, "display": display}]},
            "valueQuantity": {"value": value, "unit": "mmHg"},
        }

    return {
        "resourceType": "Observation",
        "id": fhir_id,
        "status": "final",
        "code": {
            "coding": [
                {"system": "http://loinc.org", "code": "85354-9", "display": "Blood pressure"}
            ]
        },
        "subject": subject(nhs_number),
        "effectiveDateTime": at.isoformat(),
        "component": [
            component("8480-6", "Systolic blood pressure", 142),
            component("8462-4", "Diastolic blood pressure", 91),
        ],
    }
