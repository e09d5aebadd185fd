"""``manage.py pkb_opt_in``: sharing a patient with PKB (and stopping) from the command line."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from pkb_bridge import services
from pkb_bridge.models import Enrolment, OutboundMessage
from rms import nhs_number
from tests.factories import PatientFactory, ResultFactory

pytestmark = pytest.mark.django_db

Kind = OutboundMessage.Kind
Status = OutboundMessage.Status


ATTEST = ("--attest-consent", "Consented in clinic, paper form filed")


def run(*args: str) -> str:
    out = StringIO()
    call_command("pkb_opt_in", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_it_shares_the_patient_as_the_user_and_prints_what_was_queued(clinician, patient) -> None:
    ResultFactory(patient=patient)
    out = run(
        "--nhs-number", nhs_number.display(patient.nhs_number), "--user", "clinician", *ATTEST
    )
    assert out.strip() == (
        "Shared with PKB as team URO (consent attested by the user): queued 1 registration "
        "and 1 message of the record; they are sent to PKB in the background, registration first."
    )
    enrolment = Enrolment.objects.get(patient=patient)
    assert enrolment.opted_in_by == clinician
    first = OutboundMessage.objects.filter(patient=patient).order_by("seq").first()
    assert first.kind == Kind.REGISTRATION


def test_it_shares_as_the_named_team(clinician, patient) -> None:
    run("--nhs-number", patient.nhs_number, "--user", "clinician", "--team", "uro", *ATTEST)
    assert Enrolment.objects.get().team.code == "URO"


def test_running_it_again_queues_nothing(clinician, patient) -> None:
    run("--nhs-number", patient.nhs_number, "--user", "clinician", *ATTEST)
    out = run("--nhs-number", patient.nhs_number, "--user", "clinician")
    assert "already shared" in out
    assert "nothing queued again" in out
    assert OutboundMessage.objects.count() == 1


def test_an_unverified_nhs_number_is_refused_with_the_reason(clinician, team) -> None:
    patient = PatientFactory(teams=[team], nhs_number_status="02")
    with pytest.raises(CommandError, match=r"not verified \(status 02\)"):
        run("--nhs-number", patient.nhs_number, "--user", "clinician")
    assert not Enrolment.objects.exists()


def test_a_viewer_cannot_share_a_patient(viewer, patient) -> None:
    with pytest.raises(CommandError, match="Only a clinician of the patient's team"):
        run("--nhs-number", patient.nhs_number, "--user", "viewer")
    assert not Enrolment.objects.exists()


def test_a_team_the_user_cannot_share_as_is_refused(clinician, patient, other_team) -> None:
    with pytest.raises(CommandError, match="Only a clinician of the patient's team"):
        run("--nhs-number", patient.nhs_number, "--user", "clinician", "--team", "CRC")
    assert not Enrolment.objects.exists()


def test_a_patient_of_another_team_is_not_found(other_team_clinician, patient) -> None:
    with pytest.raises(CommandError, match="No patient with this NHS number") as error:
        run("--nhs-number", patient.nhs_number, "--user", "otherclinician")
    assert patient.nhs_number not in str(error.value)
    assert not Enrolment.objects.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--nhs-number", "943 476 5918", "--user", "clinician"], "check digit"),
        (["--nhs-number", "9434765919", "--user", "nobody"], "No active user 'nobody'"),
        (
            ["--nhs-number", "9434765919", "--user", "clinician", "--team", "XYZ"],
            "No team has the code 'XYZ'",
        ),
    ],
)
def test_bad_arguments_are_refused_with_the_reason(clinician, args, message) -> None:
    with pytest.raises(CommandError, match=message):
        run(*args)


def test_withdraw_stops_sharing_and_cancels_what_is_waiting(clinician, patient) -> None:
    ResultFactory(patient=patient)
    services.enrolment_opt_in(
        attestation="Consented in clinic, paper form filed", patient=patient, actor=clinician
    )
    out = run(
        "--nhs-number", patient.nhs_number, "--user", "clinician",
        "--withdraw", "--reason", "Patient asked to stop",
    )  # fmt: skip
    assert out.strip() == "Sharing with PKB stopped: 2 messages cancelled."
    enrolment = Enrolment.objects.get()
    assert enrolment.status == Enrolment.Status.WITHDRAWN
    assert enrolment.withdrawn_by == clinician
    assert enrolment.withdrawal_reason == "Patient asked to stop"
    assert set(OutboundMessage.objects.values_list("status", flat=True)) == {Status.CANCELLED}


def test_withdrawing_a_patient_not_shared_does_nothing(clinician, patient) -> None:
    out = run("--nhs-number", patient.nhs_number, "--user", "clinician", "--withdraw")
    assert "not shared" in out
    assert not Enrolment.objects.exists()


def test_a_viewer_cannot_withdraw(viewer, clinician, patient) -> None:
    services.enrolment_opt_in(
        attestation="Consented in clinic, paper form filed", patient=patient, actor=clinician
    )
    with pytest.raises(CommandError, match="Only a clinician"):
        run("--nhs-number", patient.nhs_number, "--user", "viewer", "--withdraw")
    assert Enrolment.objects.get().status == Enrolment.Status.ACTIVE
