"""Patient-entered data from PKB: a FHIR Observation read into the core record's result shape.

Pure (no ORM): validated with ``fhir.resources`` (R4B, which is R4 for Observation), then one
``ResultInput`` of category "patient" per Observation. A panel with components (blood pressure:
LOINC 85354-9 with systolic 8480-6 and diastolic 8462-4) is one result with one observation a
component; a single value (weight, 29463-7; a symptom score) is one result with one observation.
The test code of each value is its code (LOINC where PKB sends one), so a plan's rule on
``29463-7`` sees the patient's weights. The result is keyed by the FHIR id under the source
system "PKB", so fetching the same Observation again files nothing new, and an amended one is
a correction.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Any

from fhir.resources.R4B.observation import Observation as FhirObservation
from pydantic import ValidationError as PydanticValidationError

from rms.models import Observation, Result
from rms.services import ObservationInput, ResultInput

SOURCE_SYSTEM = "PKB"
LOINC = "http://loinc.org"
BLOOD_PRESSURE_PANEL = "85354-9"
SYSTOLIC = "8480-6"
DIASTOLIC = "8462-4"
BODY_WEIGHT = "29463-7"

_STATUS = {
    "registered": Result.Status.PRELIMINARY,
    "preliminary": Result.Status.PRELIMINARY,
    "final": Result.Status.FINAL,
    "amended": Result.Status.CORRECTED,
    "corrected": Result.Status.CORRECTED,
    "cancelled": Result.Status.CANCELLED,
    "entered-in-error": Result.Status.DELETED,
}


class ObservationError(ValueError):
    """The Observation cannot be filed as it is; the message says why, for a person."""


def filler_order_number(fhir_id: str) -> str:
    return f"Observation/{fhir_id}"


def _coding(concept: Any) -> tuple[str, str, str]:
    """(code, system, name) of a CodeableConcept, LOINC first."""
    codings = list(getattr(concept, "coding", None) or [])
    codings.sort(key=lambda c: 0 if c.system == LOINC else 1)
    text = getattr(concept, "text", None) or ""
    for coding in codings:
        if coding.code:
            system = "LN" if coding.system == LOINC else (coding.system or "")
            return str(coding.code), system[:40], str(text or coding.display or coding.code)
    return "", "", str(text)


def _value(holder: Any, *, code: str, name: str, system: str, at: dt.datetime) -> ObservationInput:
    quantity = getattr(holder, "valueQuantity", None)
    if quantity is not None and quantity.value is not None:
        try:
            number = Decimal(str(quantity.value))
        except InvalidOperation:
            raise ObservationError(f"{name}: the value is not a number") from None
        return ObservationInput(
            code=code,
            code_system=system,
            name=name,
            value_type=Observation.ValueType.NUMERIC,
            value_text=f"{quantity.comparator or ''}{number}",
            value_numeric=number,
            comparator=quantity.comparator or "",
            units=str(quantity.unit or quantity.code or "")[:40],
            observed_at=at,
        )
    integer = getattr(holder, "valueInteger", None)
    if integer is not None:
        return ObservationInput(
            code=code,
            code_system=system,
            name=name,
            value_type=Observation.ValueType.NUMERIC,
            value_text=str(integer),
            value_numeric=Decimal(integer),
            observed_at=at,
        )
    text: str | None = getattr(holder, "valueString", None)
    concept = getattr(holder, "valueCodeableConcept", None)
    if text is None and concept is not None:
        text = concept.text or next((c.display or c.code for c in concept.coding or []), None)
    boolean = getattr(holder, "valueBoolean", None)
    if text is None and boolean is not None:
        text = "Yes" if boolean else "No"
    if text is None:
        raise ObservationError(f"{name}: no value the record can hold")
    return ObservationInput(
        code=code,
        code_system=system,
        name=name,
        value_type=Observation.ValueType.TEXT,
        value_text=str(text),
        observed_at=at,
    )


def result_input(resource: dict[str, Any]) -> ResultInput:
    """The result to file for one FHIR Observation; ObservationError if it cannot be."""
    try:
        observation = FhirObservation.model_validate(resource)
    except PydanticValidationError as exc:
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": str(exc)}
        where = ".".join(str(part) for part in first.get("loc", ()))
        raise ObservationError(
            f"Not a valid FHIR Observation ({where}: {first.get('msg')})"
        ) from None
    if not observation.id:
        raise ObservationError("The Observation has no id")
    at = (
        observation.effectiveDateTime
        or (observation.effectivePeriod.start if observation.effectivePeriod else None)
        or observation.effectiveInstant
        or observation.issued
    )
    if not isinstance(at, dt.datetime):
        if isinstance(at, dt.date):
            at = dt.datetime.combine(at, dt.time(12, 0), tzinfo=dt.UTC)
        else:
            raise ObservationError("The Observation says nothing of when it was taken")
    if at.tzinfo is None:
        at = at.replace(tzinfo=dt.UTC)
    code, system, name = _coding(observation.code)
    if not code:
        raise ObservationError("The Observation has no code")
    if observation.component:
        values = []
        for component in observation.component:
            part_code, part_system, part_name = _coding(component.code)
            if not part_code:
                raise ObservationError(f"{name}: a component has no code")
            values.append(
                _value(component, code=part_code, name=part_name, system=part_system, at=at)
            )
    else:
        values = [_value(observation, code=code, name=name, system=system, at=at)]
    notes = "\n".join(note.text for note in observation.note or [] if note.text)
    return ResultInput(
        category=Result.Category.PATIENT,
        source_system=SOURCE_SYSTEM,
        filler_order_number=filler_order_number(observation.id),
        observed_at=at,
        status=_STATUS.get(observation.status or "", Result.Status.FINAL),
        service_code=code[:40],
        service_name=name[:200],
        report_text=notes,
        observations=tuple(values),
    )
