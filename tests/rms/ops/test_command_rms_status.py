"""``manage.py rms_status``: the readiness checks and the state of the queues, in counts."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings

from pkb_bridge import services as pkb_services
from pkb_bridge.models import OutboundMessage
from rms.inbound import receive
from tests.factories import PatientFactory
from tests.rms.hl7.samples import sample_bytes

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = StringIO()
    call_command("rms_status", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_it_says_ready_and_counts_the_outbox_and_the_held_messages(team, clinician) -> None:
    patient = PatientFactory(teams=[team], nhs_number="9434765919", family_name="Zebedee")
    pkb_services.enrolment_opt_in(
        attestation="Consented in clinic, paper form filed", patient=patient, actor=clinician
    )
    pending = OutboundMessage.objects.filter(status="pending").count()
    receive(raw=sample_bytes("oru_r01_psa.hl7"), channel="mllp")

    output = run()

    assert "Database     ok" in output
    assert "Migrations   ok" in output
    assert f"pending {pending}, in_flight 0, delivered 0" in output
    assert "oldest pending message: none" not in output
    assert "unmatched 1" in output
    assert "last received over mllp" in output
    assert "unmatched_message (open) 1" in output
    assert "9434765919" not in output and "943 476 5919" not in output
    assert "Zebedee" not in output


def test_json_output_is_one_object_for_scripts(team, clinician) -> None:
    pkb_services.enrolment_opt_in(
        attestation="Consented in clinic, paper form filed",
        patient=PatientFactory(teams=[team]),
        actor=clinician,
    )
    data = json.loads(run("--json"))
    assert data["ready"] is True
    assert data["checks"]["database"] == "ok"
    assert data["pkb"]["outbox"]["pending"] >= 1
    assert data["inbound"]["messages"]["unmatched"] == 0


@override_settings(CELERY_BROKER_URL="redis://127.0.0.1:1/0")
def test_it_fails_naming_the_broker_when_the_broker_is_unreachable() -> None:
    out = StringIO()
    with pytest.raises(CommandError, match="Not ready: broker"):
        call_command("rms_status", stdout=out, stderr=StringIO())
    assert "Broker       failed" in out.getvalue()
    assert "Database     ok" in out.getvalue()
