"""Records the PKB bridge tests file through the services: a live PSA result."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.utils import timezone

from rms import services as rms_services
from rms.models import Result
from rms.services import ObservationInput, ResultInput


def lab(patient: Any, actor: Any, fon: str = "LIVE1", value: str = "0.30") -> Result:
    """A PSA taken three hours ago, filed as the lab's live feed files it."""
    taken = timezone.now() - dt.timedelta(hours=3)
    return rms_services.result_record(
        patient=patient,
        actor=actor,
        data=ResultInput(
            category="lab",
            source_system="WINPATH",
            filler_order_number=fon,
            observed_at=taken,
            service_code="PSA",
            service_name="Prostate specific antigen",
            observations=[
                ObservationInput(
                    code="PSA",
                    name="PSA",
                    value_type="NM",
                    value_text=value,
                    value_numeric=Decimal(value),
                    units="ug/L",
                    observed_at=taken,
                )
            ],
        ),
    ).result
