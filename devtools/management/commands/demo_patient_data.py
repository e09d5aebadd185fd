"""``manage.py demo_patient_data``: weights and a blood pressure the demo's patients entered
in PKB (``make demo``).

Run after ``demo_care``. The first two URO patients on the post-prostatectomy pathway with a
verified NHS number (the patients ``manage.py demo`` shares with PKB first) are shared with
PKB, and FHIR Observations as PKB would return them are filed through ``inbound_receive``,
the function the FHIR poll uses, so they are exactly what a poll of PKB would have filed. A
series with a weight loss of more than 5% in a month is entered only for a patient whose plan
has a rule on body weight. Fixed dates relative to today; idempotent (each Observation is
keyed by its id); refuses to run in production.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandError
from django.db.models import Q
from django.utils import timezone

from careplans.models import FollowUpPlan, Rule
from devtools.management.commands.demo import DEMO_ATTESTATION
from pkb_bridge import services
from pkb_bridge.fhir.observations import (
    BLOOD_PRESSURE_PANEL,
    BODY_WEIGHT,
    DIASTOLIC,
    LOINC,
    SYSTOLIC,
)
from pkb_bridge.fhir.services import OBSERVATION, inbound_receive
from rms import selectors
from rms.models import NhsNumberStatus, Patient

PATHWAY = "prostate-post-prostatectomy"
# Days ago and kg: a steady weight, and (for a plan with a weight rule) a loss of 6.4% in a month.
STEADY = ((84, 82.4), (56, 82.1), (28, 82.6), (3, 82.3))
LOSING = ((84, 78.0), (56, 77.8), (30, 77.6), (2, 72.6))
BLOOD_PRESSURE = (5, 138, 84)


def _at(days_ago: int) -> str:
    day = timezone.localdate() - dt.timedelta(days=days_ago)
    return timezone.make_aware(dt.datetime.combine(day, dt.time(8, 15))).isoformat()


def _subject(patient: Patient) -> dict[str, Any]:
    return {"identifier": {"system": settings.PKB_FHIR_PATIENT_SYSTEM, "value": patient.nhs_number}}


def _quantity(value: float, unit: str, code: str) -> dict[str, Any]:
    return {"value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": code}


def weight(patient: Patient, days_ago: int, kg: float) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": f"demo-weight-{patient.public_id}-{days_ago}",
        "status": "final",
        "category": [{"coding": [{"code": "vital-signs"}]}],
        "code": {"coding": [{"system": LOINC, "code": BODY_WEIGHT, "display": "Body weight"}]},
        "subject": _subject(patient),
        "effectiveDateTime": _at(days_ago),
        "valueQuantity": _quantity(kg, "kg", "kg"),
    }


def blood_pressure(
    patient: Patient, days_ago: int, systolic: int, diastolic: int
) -> dict[str, Any]:
    def part(code: str, name: str, value: int) -> dict[str, Any]:
        return {
            "code": {"coding": [{"system": LOINC, "code": code, "display": name}]},
            "valueQuantity": _quantity(value, "mmHg", "mm[Hg]"),
        }

    return {
        "resourceType": "Observation",
        "id": f"demo-bp-{patient.public_id}-{days_ago}",
        "status": "final",
        "category": [{"coding": [{"code": "vital-signs"}]}],
        "code": {
            "coding": [{"system": LOINC, "code": BLOOD_PRESSURE_PANEL, "display": "Blood pressure"}]
        },
        "subject": _subject(patient),
        "effectiveDateTime": _at(days_ago),
        "component": [
            part(SYSTOLIC, "Systolic blood pressure", systolic),
            part(DIASTOLIC, "Diastolic blood pressure", diastolic),
        ],
    }


def has_weight_rule(patient: Patient) -> bool:
    """True when an open plan of the patient has an active rule on body weight."""
    plans = FollowUpPlan.objects.filter(
        patient=patient, status__in=[FollowUpPlan.Status.ACTIVE, FollowUpPlan.Status.PAUSED]
    )
    return Rule.objects.filter(
        Q(plan__in=plans) | Q(pathway__plans__in=plans, plan__isnull=True),
        test_code=BODY_WEIGHT,
        active=True,
    ).exists()


class Command(BaseCommand):
    help = "Share two demo patients with PKB and file the weights and blood pressure they entered."

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.PRODUCTION:
            raise CommandError("The demo patient data are not made with DJANGO_ENV=production.")
        clinician = User.objects.filter(username="cns.uro").first()
        if clinician is None:
            raise CommandError("No demo data: run `manage.py load_demo` first.")
        on_pathway = FollowUpPlan.objects.filter(
            pathway__code=PATHWAY, status=FollowUpPlan.Status.ACTIVE
        ).values("patient_id")
        patients = list(
            selectors.patient_list(user=clinician, team_code="URO").filter(
                pk__in=on_pathway, nhs_number_status=NhsNumberStatus.VERIFIED
            )[:6]
        )
        # A patient who declined or withdrew consent to share is not shared.
        patients = [p for p in patients if not services.consent_refusal(p, DEMO_ATTESTATION)[1]][:2]
        filed = 0
        for index, patient in enumerate(patients):
            services.enrolment_opt_in(
                patient=patient, actor=clinician, attestation=DEMO_ATTESTATION
            )
            series = LOSING if index == 0 and has_weight_rule(patient) else STEADY
            resources = [weight(patient, days_ago, kg) for days_ago, kg in series]
            if index == 0:
                resources.append(blood_pressure(patient, *BLOOD_PRESSURE))
            for resource in resources:
                inbound_receive(resource_type=OBSERVATION, resource=resource)
                filed += 1
        self.stdout.write(
            f"Demo patient-entered data: {len(patients)} patients shared with PKB, "
            f"{filed} observations filed."
        )
