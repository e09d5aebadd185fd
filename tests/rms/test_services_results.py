from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from rms import events, services
from rms.models import Appointment, Document, DomainEvent, Observation, Result
from rms.services import (
    AppointmentInput,
    DocumentInput,
    ObservationInput,
    Outcome,
    ResultInput,
)
from tests.factories import PatientFactory

pytestmark = pytest.mark.django_db

TAKEN = dt.datetime(2026, 11, 10, 9, 30, tzinfo=dt.UTC)


def psa(value: str, *, status: str = "final", fon: str = "FON1") -> ResultInput:
    return ResultInput(
        category="lab",
        source_system="WINPATH",
        filler_order_number=fon,
        observed_at=TAKEN,
        status=status,
        service_code="PSA",
        service_name="Prostate specific antigen",
        observations=[
            ObservationInput(
                code="PSA",
                name="PSA",
                value_type="NM",
                value_text=value,
                value_numeric=Decimal(value.lstrip("<")),
                comparator="<" if value.startswith("<") else "",
                units="ug/L",
                observed_at=TAKEN,
            )
        ],
    )


@pytest.fixture
def sent():
    """The result events a consumer took, after commit, as (what happened, filler order number)."""
    seen: list[tuple[str, object]] = []

    def consume(event: DomainEvent) -> None:
        result = Result.objects.get(pk=event.subject_id)
        seen.append((event.kind.removeprefix("result_"), result.filler_order_number))

    events.register_consumer("tests.sent", list(DomainEvent.Kind), consume)
    yield seen
    events.unregister_consumer("tests.sent")


def current_values(result: Result) -> list[str]:
    return list(
        result.observations.filter(superseded_at__isnull=True).values_list("value_text", flat=True)
    )


def test_a_new_report_creates_a_result(patient, clinician, sent) -> None:
    outcome = services.result_record(patient=patient, data=psa("0.05"), actor=clinician)
    assert outcome.outcome is Outcome.CREATED
    assert current_values(outcome.result) == ["0.05"]
    assert sent == [("recorded", "FON1")]


def test_the_same_report_again_changes_nothing(patient, clinician, sent) -> None:
    services.result_record(patient=patient, data=psa("0.05"), actor=clinician)
    again = services.result_record(patient=patient, data=psa("0.05"), actor=clinician)
    assert again.outcome is Outcome.UNCHANGED
    assert Observation.objects.count() == 1
    assert sent == [("recorded", "FON1")]


def test_a_correction_replaces_the_value_and_keeps_the_history(patient, clinician, sent) -> None:
    services.result_record(patient=patient, data=psa("0.25"), actor=clinician)
    outcome = services.result_record(
        patient=patient, data=psa("0.15", status="corrected"), actor=clinician
    )
    assert outcome.outcome is Outcome.CORRECTED
    result = outcome.result
    assert (result.version, result.status) == (2, "corrected")
    assert current_values(result) == ["0.15"]
    history = list(
        result.observations.order_by("result_version").values_list("value_text", "result_version")
    )
    assert history == [("0.25", 1), ("0.15", 2)]
    assert sent == [("recorded", "FON1"), ("corrected", "FON1")]


def test_a_late_preliminary_never_replaces_a_final(patient, clinician) -> None:
    services.result_record(patient=patient, data=psa("0.05"), actor=clinician)
    outcome = services.result_record(
        patient=patient, data=psa("9.9", status="preliminary"), actor=clinician
    )
    assert outcome.outcome is Outcome.IGNORED
    assert current_values(outcome.result) == ["0.05"]


def test_a_deletion_marks_the_result_and_it_no_longer_counts(patient, clinician, sent) -> None:
    services.result_record(patient=patient, data=psa("0.05"), actor=clinician)
    outcome = services.result_record(
        patient=patient, data=psa("0.05", status="deleted"), actor=clinician
    )
    assert outcome.outcome is Outcome.DELETED
    assert not outcome.result.counts
    assert set(outcome.result.observations.values_list("status", flat=True)) == {"deleted"}
    assert sent[-1] == ("deleted", "FON1")


def test_deleting_a_result_never_received_files_nothing(patient, clinician) -> None:
    outcome = services.result_record(
        patient=patient, data=psa("0.05", status="deleted"), actor=clinician
    )
    assert outcome.outcome is Outcome.IGNORED
    assert not Result.objects.exists()


def test_a_filler_order_number_of_another_patient_is_refused(patient, clinician) -> None:
    services.result_record(patient=patient, data=psa("0.05"), actor=clinician)
    stranger = PatientFactory()
    with pytest.raises(ValidationError) as refused:
        services.result_record(patient=stranger, data=psa("0.07"), actor=clinician)
    assert "different patient" in str(refused.value)
    assert not stranger.results.exists()


def test_the_same_test_twice_in_one_report_is_refused(patient, clinician) -> None:
    data = psa("0.05")
    doubled = ResultInput(
        **{**data.__dict__, "observations": [*data.observations, *data.observations]}
    )
    with pytest.raises(ValidationError) as refused:
        services.result_record(patient=patient, data=doubled, actor=clinician)
    assert "observations" in refused.value.message_dict
    assert not Result.objects.exists()


@pytest.mark.parametrize(
    ("report", "observation", "field"),
    [
        ({"category": "pathology"}, {}, "category"),
        ({"status": "done"}, {}, "status"),
        ({}, {"value_type": "XX"}, "observations[1].value_type"),
    ],
)
def test_a_category_status_or_value_type_outside_the_choices_is_refused(
    patient, clinician, report, observation, field
) -> None:
    data = psa("0.05")
    changed = dataclasses.replace(
        data,
        **report,
        observations=[dataclasses.replace(data.observations[0], **observation)],
    )
    with pytest.raises(ValidationError) as refused:
        services.result_record(patient=patient, data=changed, actor=clinician)
    assert list(refused.value.message_dict) == [field]
    assert not Result.objects.exists()
    services.result_record(patient=patient, data=data, actor=clinician)
    assert Result.objects.count() == 1


def test_appointments_are_upserted_by_placer_id(patient, clinician) -> None:
    booked = AppointmentInput(placer_id="APT1", starts_at=TAKEN, reason="PSA review")
    _, changed = services.appointment_record(patient=patient, data=booked, actor=clinician)
    assert changed
    _, changed_again = services.appointment_record(patient=patient, data=booked, actor=clinician)
    assert not changed_again
    cancelled = AppointmentInput(**{**booked.__dict__, "status": "cancelled"})
    services.appointment_record(patient=patient, data=cancelled, actor=clinician)
    assert Appointment.objects.get().status == "cancelled"


def test_an_appointment_id_of_another_patient_is_refused(patient, clinician) -> None:
    booked = AppointmentInput(placer_id="APT1", starts_at=TAKEN)
    services.appointment_record(patient=patient, data=booked, actor=clinician)
    with pytest.raises(ValidationError):
        services.appointment_record(patient=PatientFactory(), data=booked, actor=clinician)


def test_documents_are_replaced_by_number_and_deleted(patient, clinician, settings) -> None:
    letter = DocumentInput(
        document_number="DOC1",
        document_type="CL",
        title="Clinic letter",
        authored_at=TAKEN,
        content_type="html",
        content_html="<p>Well.</p>",
    )
    document, _ = services.document_record(patient=patient, data=letter, actor=clinician)
    _, changed = services.document_record(patient=patient, data=letter, actor=clinician)
    assert not changed
    pdf = DocumentInput(**{**letter.__dict__, "content_type": "pdf", "content_pdf": b"%PDF-1.4 x"})
    document, changed = services.document_record(patient=patient, data=pdf, actor=clinician)
    assert changed and bytes(document.content_pdf) == b"%PDF-1.4 x" and document.content_html == ""
    assert services.document_delete(document=document, actor=clinician)
    assert not services.document_delete(document=document, actor=clinician)
    assert Document.objects.get().status == "deleted"
    settings.DOCUMENT_MAX_BYTES = 4
    with pytest.raises(ValidationError):
        services.document_record(patient=patient, data=pdf, actor=clinician)


def test_a_result_taken_before_the_patients_birth_is_refused(patient, clinician) -> None:
    """A mistyped year or the wrong patient: refused with the reason, nothing filed."""
    patient.date_of_birth = dt.date(1950, 6, 1)
    patient.save()
    early = dataclasses.replace(
        psa("0.05"), observed_at=dt.datetime(1950, 5, 31, 12, 0, tzinfo=dt.UTC)
    )
    with pytest.raises(ValidationError) as refused:
        services.result_record(patient=patient, data=early, actor=clinician)
    assert refused.value.message_dict["observed_at"] == [
        "The observation time is before the patient's date of birth."
    ]
    assert not Result.objects.exists()
    # The day of birth itself is possible (a newborn's bloods).
    birthday = dataclasses.replace(early, observed_at=dt.datetime(1950, 6, 1, 12, 0, tzinfo=dt.UTC))
    services.result_record(patient=patient, data=birthday, actor=clinician)
    assert Result.objects.count() == 1


def test_an_appointment_before_the_patients_birth_is_refused(patient, clinician) -> None:
    patient.date_of_birth = dt.date(1950, 6, 1)
    patient.save()
    booked = AppointmentInput(
        placer_id="APT1", starts_at=dt.datetime(1905, 6, 1, 9, 0, tzinfo=dt.UTC)
    )
    with pytest.raises(ValidationError) as refused:
        services.appointment_record(patient=patient, data=booked, actor=clinician)
    assert "starts_at" in refused.value.message_dict
    assert not Appointment.objects.exists()
