"""Opt-in, historic upload, withdrawal and the ongoing flow, at the outbox (no sending)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from pkb_bridge import services
from pkb_bridge.hl7 import pid3_identifiers
from pkb_bridge.models import Enrolment, OutboundMessage, Publication, ReleasePolicy
from rms import services as rms_services
from rms.services import AppointmentInput, ObservationInput, ResultInput
from tests.factories import (
    AppointmentFactory,
    DiagnosisFactory,
    DocumentFactory,
    ObservationFactory,
    PatientFactory,
    ResultFactory,
)

pytestmark = pytest.mark.django_db
Kind = OutboundMessage.Kind


def history(patient, *, labs: int = 3, radiology: bool = True, letters: bool = True) -> None:
    start = timezone.now() - dt.timedelta(days=400)
    for n in range(labs):
        result = ResultFactory(patient=patient, observed_at=start + dt.timedelta(days=60 * n))
        ObservationFactory(
            result=result, value_text=f"0.0{n + 1}", value_numeric=Decimal(f"0.0{n + 1}")
        )
    if radiology:
        ResultFactory(
            patient=patient,
            category="radiology",
            source_system="CRIS",
            service_code="CTCAP",
            service_name="CT chest abdomen pelvis",
            report_text="Findings: no evidence of recurrence.\nConclusion: stable.",
            observed_at=start + dt.timedelta(days=100),
        )
    if letters:
        DocumentFactory(patient=patient, authored_at=start + dt.timedelta(days=120))
    AppointmentFactory(patient=patient, starts_at=timezone.now() + dt.timedelta(days=30))


def outbox(patient) -> list[OutboundMessage]:
    return list(OutboundMessage.objects.filter(patient=patient).order_by("seq"))


def test_opt_in_queues_the_registration_first_then_the_history_in_clinical_order(
    patient, team, clinician
) -> None:
    ReleasePolicy.objects.create(team=team, category="radiology", mode="immediate")
    DiagnosisFactory(patient=patient)
    history(patient)
    enrolment = services.enrolment_opt_in(
        attestation="Consented in clinic, paper form filed", patient=patient, actor=clinician
    )
    messages = outbox(patient)
    assert messages[0].kind == Kind.REGISTRATION
    assert "DG1|1||399068003^Malignant tumour of prostate^SNOMED CT" in messages[0].payload
    assert [m.seq for m in messages] == list(range(1, len(messages) + 1))
    kinds = [m.kind for m in messages[1:]]
    # Labs on days 0 and 60 (packed), CT on day 100, letter on day 120, lab on day 120, clinic.
    assert kinds == [Kind.LAB, Kind.RADIOLOGY, Kind.DOCUMENT, Kind.LAB, Kind.APPOINTMENT_NEW]
    assert messages[1].payload.count("\rOBR|") == 2
    assert enrolment.opted_in_by == clinician
    # Every payload names this patient, and only this patient.
    for message in messages:
        numbers = {
            value for value, authority, _ in pid3_identifiers(message.payload) if authority == "NHS"
        }
        assert numbers == {patient.nhs_number}
        assert message.status == "pending"
    assert len({m.control_id for m in messages}) == len(messages)


def test_consecutive_lab_results_are_packed_into_one_message(patient, clinician, settings) -> None:
    history(patient, labs=6, radiology=False, letters=False)
    services.enrolment_opt_in(
        attestation="Consented in clinic, paper form filed", patient=patient, actor=clinician
    )
    labs = [m for m in outbox(patient) if m.kind == Kind.LAB]
    assert len(labs) == 1
    assert labs[0].payload.count("\rOBR|") == 6
    settings.PKB_PACK_MAX_REPORTS = 4
    other = PatientFactory(teams=list(patient.teams.all()))
    history(other, labs=6, radiology=False, letters=False)
    services.enrolment_opt_in(
        attestation="Consented in clinic, paper form filed", patient=other, actor=clinician
    )
    assert [m.payload.count("\rOBR|") for m in outbox(other) if m.kind == Kind.LAB] == [4, 2]


def test_opting_in_twice_queues_nothing_more(patient, clinician, team_admin) -> None:
    history(patient)
    first = services.enrolment_opt_in(
        attestation="Consented in clinic, paper form filed", patient=patient, actor=clinician
    )
    count = len(outbox(patient))
    second = services.enrolment_opt_in(
        attestation="Consented in clinic, paper form filed", patient=patient, actor=team_admin
    )
    assert first.pk == second.pk
    assert len(outbox(patient)) == count
    assert Enrolment.objects.count() == 1


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"nhs_number_status": "02"}, "not verified"),
        ({"nhs_number": None, "nhs_number_status": "07"}, "no NHS number"),
    ],
)
def test_opt_in_needs_a_verified_nhs_number(team, clinician, changes, reason) -> None:
    patient = PatientFactory(teams=[team], **changes)
    with pytest.raises(ValidationError) as refused:
        services.enrolment_opt_in(
            attestation="Consented in clinic, paper form filed", patient=patient, actor=clinician
        )
    assert reason in str(refused.value)
    assert not Enrolment.objects.exists()
    assert not OutboundMessage.objects.exists()


def test_only_a_clinician_of_the_patients_team_can_opt_in(
    patient, viewer, other_team_clinician
) -> None:
    for user in (viewer, other_team_clinician):
        with pytest.raises(PermissionDenied):
            services.enrolment_opt_in(
                attestation="Consented in clinic, paper form filed", patient=patient, actor=user
            )
    assert not Enrolment.objects.exists()


def test_withdrawal_cancels_what_is_still_pending_and_stops_the_flow(patient, clinician) -> None:
    history(patient)
    services.enrolment_opt_in(
        attestation="Consented in clinic, paper form filed", patient=patient, actor=clinician
    )
    services.enrolment_withdraw(patient=patient, actor=clinician, reason="Patient asked")
    assert {m.status for m in outbox(patient)} == {"cancelled"}
    before = len(outbox(patient))
    ResultFactory(patient=patient)  # no service: nothing is told
    rms_services.result_record(
        patient=patient,
        actor=clinician,
        data=ResultInput(
            category="lab",
            source_system="WINPATH",
            filler_order_number="AFTER-WITHDRAWAL",
            observed_at=timezone.now(),
            observations=[
                ObservationInput(
                    code="PSA",
                    name="PSA",
                    value_type="NM",
                    value_text="0.1",
                    observed_at=timezone.now(),
                )
            ],
        ),
    )
    assert len(outbox(patient)) == before


def new_result(patient, actor, *, fon: str = "LIVE1", value: str = "0.30", status: str = "final"):
    taken = timezone.now() - dt.timedelta(hours=3)
    return rms_services.result_record(
        patient=patient,
        actor=actor,
        data=ResultInput(
            category="lab",
            source_system="WINPATH",
            filler_order_number=fon,
            observed_at=taken,
            status=status,
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
    )


def test_a_new_result_a_correction_and_a_deletion_reach_the_outbox_in_order(
    patient, clinician
) -> None:
    services.enrolment_opt_in(
        attestation="Consented in clinic, paper form filed", patient=patient, actor=clinician
    )
    new_result(patient, clinician, value="0.30")
    new_result(patient, clinician, value="0.25", status="corrected")
    new_result(patient, clinician, value="0.25", status="deleted")
    live = [m for m in outbox(patient) if "LIVE1" in m.payload]
    assert [m.kind for m in live] == [Kind.LAB] * 3
    assert "|0.30|" in live[0].payload and "|0.25|" in live[1].payload
    obr_status = [m.payload.split("\rOBR|")[1].split("\r")[0].split("|")[24] for m in live]
    assert obr_status == ["F", "C", "R"]


def test_appointments_and_documents_follow(patient, clinician) -> None:
    services.enrolment_opt_in(
        attestation="Consented in clinic, paper form filed", patient=patient, actor=clinician
    )
    when = timezone.now() + dt.timedelta(days=10)
    booked = AppointmentInput(placer_id="APT-LIVE", starts_at=when, reason="PSA review")
    rms_services.appointment_record(patient=patient, data=booked, actor=clinician)
    cancelled = AppointmentInput(
        placer_id="APT-LIVE", starts_at=when, reason="PSA review", status="cancelled"
    )
    rms_services.appointment_record(patient=patient, data=cancelled, actor=clinician)
    kinds = [m.kind for m in outbox(patient)]
    assert kinds[-2:] == [Kind.APPOINTMENT_NEW, Kind.APPOINTMENT_CANCEL]


def test_a_diagnosis_change_sends_the_whole_set_again(patient, clinician) -> None:
    DiagnosisFactory(patient=patient)
    services.enrolment_opt_in(
        attestation="Consented in clinic, paper form filed", patient=patient, actor=clinician
    )
    rms_services.diagnosis_create(
        patient=patient,
        actor=clinician,
        code="94391008",
        code_system="SNOMED CT",
        text="Secondary malignant neoplasm of lung",
        diagnosed_on=dt.date(2026, 10, 1),
    )
    update = outbox(patient)[-1]
    assert update.kind == Kind.UPDATE
    assert update.payload.count("\rDG1|") == 2


def test_the_registration_lists_the_diagnoses_in_the_order_the_record_shows_them(
    patient, clinician
) -> None:
    """Oldest diagnosis first, as on the patient page (``selectors.diagnosis_list``), whatever
    order they were entered in: the secondary, entered first, comes after the primary."""
    DiagnosisFactory(
        patient=patient,
        code="94391008",
        text="Secondary malignant neoplasm of lung",
        diagnosed_on=dt.date(2026, 10, 1),
    )
    DiagnosisFactory(patient=patient, diagnosed_on=dt.date(2023, 3, 1))
    services.enrolment_opt_in(
        attestation="Consented in clinic, paper form filed", patient=patient, actor=clinician
    )
    registration = outbox(patient)[0]
    assert registration.kind == Kind.REGISTRATION
    dg1 = [s for s in registration.payload.split("\r") if s.startswith("DG1|")]
    assert [s.split("|")[3].split("^")[0] for s in dg1] == ["399068003", "94391008"]
    assert [s.split("|")[1] for s in dg1] == ["1", "2"]


def test_a_change_of_nhs_number_is_not_sent(patient, clinician) -> None:
    services.enrolment_opt_in(
        attestation="Consented in clinic, paper form filed", patient=patient, actor=clinician
    )
    count = len(outbox(patient))
    rms_services.patient_update(patient=patient, actor=clinician, family_name="Newname")
    assert len(outbox(patient)) == count + 1
    rms_services.patient_update(patient=patient, actor=clinician, nhs_number="9434765919")
    assert len(outbox(patient)) == count + 1


def test_a_held_result_is_not_sent_until_released(patient, team, clinician) -> None:
    ReleasePolicy.objects.create(team=team, category="lab", mode="hold")
    services.enrolment_opt_in(
        attestation="Consented in clinic, paper form filed", patient=patient, actor=clinician
    )
    new_result(patient, clinician)
    publication = Publication.objects.get(result__filler_order_number="LIVE1")
    assert publication.state == "held"
    assert not any("LIVE1" in m.payload for m in outbox(patient))
    services.publication_release(
        publication=publication, actor=clinician, reason="Discussed by phone"
    )
    assert [m.kind for m in outbox(patient) if "LIVE1" in m.payload] == [Kind.LAB]
    decisions = list(publication.decisions.values_list("state", "decided_by__username"))
    assert decisions[-1] == ("released", clinician.username)


def test_a_delay_policy_puts_the_days_in_the_first_obx(patient, team, clinician) -> None:
    ReleasePolicy.objects.create(team=team, category="lab", mode="delay", delay_days=7)
    services.enrolment_opt_in(
        attestation="Consented in clinic, paper form filed", patient=patient, actor=clinician
    )
    new_result(patient, clinician)
    message = next(m for m in outbox(patient) if "LIVE1" in m.payload)
    obx = message.payload.split("\rOBX|")[1].split("\r")[0].split("|")
    assert obx[12] == "7"  # OBX-13


def test_holding_a_waiting_item_cancels_its_message_but_a_delivered_one_cannot_be_held(
    patient, clinician
) -> None:
    services.enrolment_opt_in(
        attestation="Consented in clinic, paper form filed", patient=patient, actor=clinician
    )
    new_result(patient, clinician)
    publication = Publication.objects.get(result__filler_order_number="LIVE1")
    services.publication_hold(publication=publication, actor=clinician, reason="Awaiting MDT")
    assert (
        publication.message.__class__.objects.get(pk=publication.message_id).status == "cancelled"
    )
    services.publication_release(publication=publication, actor=clinician)
    publication.refresh_from_db()
    OutboundMessage.objects.filter(pk=publication.message_id).update(status="delivered")
    with pytest.raises(ValidationError):
        services.publication_hold(publication=publication, actor=clinician)


def test_auto_release_happens_when_its_time_comes_once_announced(patient, team, clinician) -> None:
    ReleasePolicy.objects.create(team=team, category="lab", mode="hold", auto_release_days=3)
    services.enrolment_opt_in(
        attestation="Consented in clinic, paper form filed", patient=patient, actor=clinician
    )
    new_result(patient, clinician)
    assert services.publications_auto_release() == 0
    later = timezone.now() + dt.timedelta(days=3, minutes=1)
    assert services.publications_auto_release(now=later) == 0, "not announced to the team yet"
    assert services.publications_auto_release_notify(now=timezone.now()) == 0
    assert services.publications_auto_release_notify(now=later - dt.timedelta(days=1)) == 1
    released = services.publications_auto_release(now=later)
    assert released == 1
    assert Publication.objects.get(result__filler_order_number="LIVE1").state == "released"


def test_holding_a_historic_lab_result_cancels_its_pack_and_requeues_the_others(
    patient, clinician
) -> None:
    history(patient, labs=3, radiology=False, letters=False)
    services.enrolment_opt_in(
        attestation="Consented in clinic, paper form filed", patient=patient, actor=clinician
    )
    [pack] = [m for m in outbox(patient) if m.kind == Kind.LAB]
    held, *others = list(Publication.objects.filter(message=pack).order_by("id"))
    services.publication_hold(publication=held, actor=clinician, reason="Discuss at MDT first")
    pack.refresh_from_db()
    assert pack.status == "cancelled"
    held_fon = held.result.filler_order_number
    waiting = [m for m in outbox(patient) if m.status == "pending" and m.kind == Kind.LAB]
    assert not any(held_fon in m.payload for m in waiting)
    for other in others:
        assert any(other.result.filler_order_number in m.payload for m in waiting)
    OutboundMessage.objects.filter(patient=patient).update(status="delivered")
    with pytest.raises(ValidationError):
        services.publication_hold(publication=others[0], actor=clinician)


def test_each_historic_item_gets_its_first_decision_once(patient, team, clinician) -> None:
    ReleasePolicy.objects.create(team=team, category="document", mode="hold")
    history(patient)
    enrolment = services.enrolment_opt_in(
        attestation="Consented in clinic, paper form filed", patient=patient, actor=clinician
    )
    publications = list(Publication.objects.filter(enrolment=enrolment))
    assert len(publications) == 6
    for publication in publications:
        decisions = list(
            publication.decisions.values_list(
                "state", "decided_by__username", "reason", "decided_at"
            )
        )
        assert decisions == [
            (
                publication.state,
                "rms-system",
                publication.reason,
                publication.decided_at,
            )
        ]
    held = Publication.objects.get(enrolment=enrolment, category="document")
    assert held.decisions.get().state == "held"
    assert held.reason == "Team policy: hold for clinician review"


def test_a_historic_lab_report_is_the_one_made_from_the_result(patient, clinician) -> None:
    """The upload reads lab results as plain values: the reports are those of the rows."""
    from pkb_bridge import compose

    observed = timezone.now() - dt.timedelta(days=30)
    first = ResultFactory(
        patient=patient, placer_order_number="P1", ordering_clinician="", observed_at=observed
    )
    ObservationFactory(result=first, sequence=2, code="B", comparator="<", value_text="<0.01")
    ObservationFactory(result=first, sequence=1, code="A", notes="one\n\n two ")
    ObservationFactory(result=first, sequence=3, code="OLD", superseded_at=timezone.now())
    ObservationFactory(result=first, sequence=4, code="TXT", value_type="TX", status="corrected")
    second = ResultFactory(
        patient=patient,
        service_code="",
        service_name="",
        status="preliminary",
        reported_at=None,
        observed_at=observed - dt.timedelta(days=1),
    )
    ResultFactory(patient=patient, status="deleted")  # withdrawn: not sent
    ResultFactory(patient=patient, category="radiology")  # not a lab result
    items = compose.lab_items(patient)
    assert [item.pk for item in items] == [second.pk, first.pk]
    for item, result in zip(items, [second, first], strict=True):
        assert item.observed_at == result.observed_at
        assert item.report == compose.lab_report(result, delay_days=None)
    assert [o.code for o in items[1].report.observations] == ["A", "B", "TXT"]
    assert items[0].report.observations == ()


def test_an_upload_reads_every_item_pkb_should_have_and_nothing_else(
    patient, django_assert_num_queries
) -> None:
    """The history an opt-in sends: lab and radiology results not withdrawn (radiology with
    its current observations), current documents and every appointment, in clinical order;
    never PKB's own data, a withdrawn result or a deleted document."""
    from pkb_bridge import compose
    from pkb_bridge.services.enrolment import _historic_items

    now = timezone.now()
    lab = ResultFactory(patient=patient, observed_at=now - dt.timedelta(days=9))
    ObservationFactory(result=lab)
    scan = ResultFactory(
        patient=patient, category="radiology", observed_at=now - dt.timedelta(days=8)
    )
    ObservationFactory(result=scan, sequence=2, code="IMP", value_type="TX")
    ObservationFactory(result=scan, sequence=1, code="OLD", superseded_at=now)
    ObservationFactory(result=scan, sequence=1, code="REP", value_type="TX")
    ResultFactory(patient=patient, category="radiology", status="deleted")
    ResultFactory(patient=patient, category="patient")
    ResultFactory(patient=patient, status="cancelled")
    letter = DocumentFactory(patient=patient, authored_at=now - dt.timedelta(days=7))
    DocumentFactory(patient=patient, status="deleted")
    visit = AppointmentFactory(patient=patient, starts_at=now - dt.timedelta(days=10))
    cancelled = AppointmentFactory(
        patient=patient, status="cancelled", starts_at=now + dt.timedelta(days=3)
    )
    ResultFactory(category="radiology")  # another patient's

    items = _historic_items(patient)
    assert [(type(item).__name__, item.pk) for item in items] == [
        ("Appointment", visit.pk),
        ("LabItem", lab.pk),
        ("Result", scan.pk),
        ("Document", letter.pk),
        ("Appointment", cancelled.pk),
    ]
    read = items[2]
    assert isinstance(read, type(scan)) and isinstance(items[1], compose.LabItem)
    with django_assert_num_queries(0):
        assert [o.code for o in read.observations.all()] == ["REP", "IMP"]
    assert (read.report_text, read.status) == (scan.report_text, scan.status)
