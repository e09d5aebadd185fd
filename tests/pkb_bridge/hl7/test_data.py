from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from pkb_bridge.hl7 import (
    Appointment,
    CarePlan,
    Diagnosis,
    Document,
    LabObservation,
    RadiologyReport,
)
from tests.pkb_bridge.hl7.support import OBSERVED_AT, context, lab_report, observation, patient

NAIVE = datetime(2025, 3, 1, 9, 0)  # naive on purpose


def test_a_context_refuses_a_naive_send_time() -> None:
    with pytest.raises(ValueError, match="sent_at must be timezone-aware"):
        context(sent_at=NAIVE)


@pytest.mark.parametrize("control_id", ["", "has space", "a|b", "x" * 65])
def test_a_context_refuses_a_control_id_a_receiver_could_change(control_id: str) -> None:
    with pytest.raises(ValueError, match="control_id"):
        context(control_id=control_id)


def test_a_context_refuses_an_unknown_processing_id() -> None:
    with pytest.raises(ValueError, match="processing_id"):
        context(processing_id="X")


@pytest.mark.parametrize(
    "nhs_number", ["", "943 476 5919", "943476591", "94347659190", "943476591x"]
)
def test_a_patient_needs_a_ten_digit_nhs_number(nhs_number: str) -> None:
    with pytest.raises(ValueError, match="nhs_number"):
        patient(nhs_number=nhs_number)


@pytest.mark.parametrize("status", ["00", "09", "1", "NSTS01"])
def test_a_patient_needs_an_nhs_number_status_from_01_to_08(status: str) -> None:
    with pytest.raises(ValueError, match="nhs_number_status"):
        patient(nhs_number_status=status)


def test_a_patient_refuses_an_mrn_without_its_assigning_authority() -> None:
    with pytest.raises(ValueError, match="mrn"):
        patient(mrn_assigning_authority="")


def test_a_patient_refuses_an_unknown_sex() -> None:
    with pytest.raises(ValueError, match="sex"):
        patient(sex="X")


def test_a_diagnosis_needs_a_code_system_pkb_maps() -> None:
    with pytest.raises(ValueError, match="SNOMED CT"):
        Diagnosis(code="C34.9", code_system_text="ICD10")


def test_a_lab_observation_refuses_a_value_type_we_do_not_send() -> None:
    with pytest.raises(ValueError, match="value_type"):
        observation(value_type="CE")


@pytest.mark.parametrize("delay", [-1, True, 1.5])
def test_a_delay_is_a_whole_number_of_days(delay: Any) -> None:
    with pytest.raises(ValueError, match="delay_days"):
        LabObservation(code="T", name="T", value="1", delay_days=delay)


def test_a_lab_report_needs_a_filler_order_number() -> None:
    with pytest.raises(ValueError, match="filler_order_number"):
        lab_report(filler_order_number=" ")


def test_a_lab_report_needs_an_aware_observation_time() -> None:
    with pytest.raises(ValueError, match="observed_at"):
        lab_report(observed_at=NAIVE)


@pytest.mark.parametrize("status", ["", "R\x1f", " R", "r", "D", "final"])
def test_a_report_status_is_one_of_obr_25s_codes(status: str) -> None:
    """OBR-25 (HL7 v2.4 table 0123; PKB interface §5: R deletes what PKB holds for the filler
    order number). Text that escapes to "R" must not slip past the deletion's rules."""
    with pytest.raises(ValueError, match="result_status"):
        lab_report(result_status=status)
    with pytest.raises(ValueError, match="result_status"):
        RadiologyReport(
            filler_order_number="RAD1",
            service_code="CT",
            service_name="CT chest",
            observed_at=OBSERVED_AT,
            report_text="No evidence of recurrence.",
            result_status=status,
        )


@pytest.mark.parametrize("status", ["F", "C", "P", "R", "X"])
def test_every_obr_25_code_is_accepted(status: str) -> None:
    assert lab_report(result_status=status).result_status == status


def test_a_radiology_report_needs_text_unless_it_is_a_deletion() -> None:
    values: dict[str, Any] = {
        "filler_order_number": "RAD1",
        "service_code": "CT",
        "service_name": "CT chest",
        "observed_at": OBSERVED_AT,
        "report_text": "",
    }
    with pytest.raises(ValueError, match="report_text"):
        RadiologyReport(**values)
    assert RadiologyReport(**values, result_status="R").report_text == ""


def test_a_document_cannot_be_a_care_plan() -> None:
    with pytest.raises(ValueError, match="CarePlan"):
        Document(
            document_number="D1",
            document_type="cp",
            title="Plan",
            authored_at=OBSERVED_AT,
            content_html="<p>x</p>",
        )


@pytest.mark.parametrize(
    ("html", "pdf"), [(None, None), ("<p>x</p>", b"%PDF-1.4"), (None, b"not a pdf")]
)
def test_a_document_needs_exactly_one_valid_content(html: str | None, pdf: bytes | None) -> None:
    with pytest.raises(ValueError, match="content"):
        CarePlan(
            document_number="P1",
            title="Plan",
            authored_at=OBSERVED_AT,
            content_html=html,
            content_pdf=pdf,
        )


def test_an_appointment_cannot_end_before_it_starts() -> None:
    with pytest.raises(ValueError, match="ends_at"):
        Appointment(
            placer_id="A1",
            starts_at=datetime(2025, 3, 1, 10, tzinfo=UTC),
            ends_at=datetime(2025, 3, 1, 9, tzinfo=UTC),
        )


def test_a_date_of_birth_is_a_date_not_a_datetime() -> None:
    with pytest.raises(ValueError, match="date_of_birth"):
        patient(date_of_birth=datetime(1960, 1, 1, tzinfo=UTC))
    assert patient(date_of_birth=date(1960, 1, 1)).date_of_birth == date(1960, 1, 1)
