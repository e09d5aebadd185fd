from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from pkb_bridge.hl7 import Diagnosis, build_adt
from rms.hl7 import extract_patient, parse
from tests.pkb_bridge.hl7.support import (
    CONTROL_ID,
    NASTY,
    context,
    field,
    patient,
    sample_segment,
    segment,
    segments,
)

SAMPLE_A2 = "adt_a28_with_email_and_gp.hl7"
SAMPLE_A1 = "adt_a28_verified_nhs.hl7"

# The patient of PKB's A2 sample, so our PID can be compared with PKB's field by field.
PKB_PATIENT = patient(
    nhs_number="5555555555",
    family_name="Smith",
    given_name="John",
    middle_names="Joe",
    title="Mr",
    date_of_birth=date(1970, 1, 1),
    sex="M",
    address_line1="My flat name",
    address_line2="1, The Road",
    city="London",
    county="London",
    postcode="SW1A 1AA",
    email="john.smith@hotmail.com",
    phone_home="01234567890",
    phone_mobile="07123456789",
    phone_work="01234098765",
)
DIAGNOSES = (
    Diagnosis(
        code="254637007",
        code_system_text="SNOMED CT",
        text="Non-small cell lung cancer",
        diagnosed_at=date(2024, 5, 1),
    ),
    Diagnosis(
        code="C61",
        code_system_text="ICD-10",
        text="Malignant neoplasm of prostate",
        diagnosed_at=datetime(2024, 6, 3, 10, 15, tzinfo=UTC),
    ),
)


def test_its_msh_has_the_shape_of_pkbs_sample() -> None:
    msh = segment(build_adt(context(), PKB_PATIENT), "MSH")
    theirs = sample_segment(SAMPLE_A2, "MSH")
    for number in (1, 2, 5, 6, 11, 12):
        assert field(msh, number) == field(theirs, number), f"MSH-{number}"
    # PKB's sample leaves MSH-9.3 out; v2.4 (table 0354) gives ADT_A05 for A28.
    assert field(msh, 9) == field(theirs, 9) + "^ADT_A05"
    assert field(msh, 3) == "RMS"
    assert field(msh, 4) == "RXX_URO"
    assert field(msh, 10) == CONTROL_ID
    assert field(msh, 18) == "UNICODE UTF-8"


def test_msh_7_is_london_local_time_without_an_offset() -> None:
    summer = build_adt(context(sent_at=datetime(2025, 7, 1, 11, 0, tzinfo=UTC)), PKB_PATIENT)
    winter = build_adt(context(sent_at=datetime(2025, 1, 15, 9, 30, 5, tzinfo=UTC)), PKB_PATIENT)
    assert field(segment(summer, "MSH"), 7) == "20250701120000"
    assert field(segment(winter, "MSH"), 7) == "20250115093005"


def test_evn_carries_the_trigger_and_the_send_time_with_its_offset() -> None:
    summer = build_adt(context(sent_at=datetime(2025, 7, 1, 11, 0, tzinfo=UTC)), PKB_PATIENT)
    winter = build_adt(context(sent_at=datetime(2025, 1, 15, 9, 30, tzinfo=UTC)), PKB_PATIENT)
    assert segment(summer, "EVN") == "EVN|A28|20250701120000+0100"
    assert segment(winter, "EVN") == "EVN|A28|20250115093000+0000"


def test_its_pid_matches_pkbs_sample_field_by_field() -> None:
    pid = segment(
        build_adt(context(email_component="XTN-1"), PKB_PATIENT, include_local_id=False), "PID"
    )
    theirs = sample_segment(SAMPLE_A2, "PID")
    for number in (5, 7, 8, 11, 13):
        assert field(pid, number) == field(theirs, number), f"PID-{number}"
    # PKB's A2 sample also has a second email in PID-14; we send the work phone only.
    assert field(pid, 14) == field(theirs, 14).split("~")[1] == "01234098765^WPN"


def test_pid_3_carries_the_verified_nhs_number_as_pkbs_a1_sample_does() -> None:
    pid = segment(
        build_adt(context(), patient(nhs_number="5760678914"), include_local_id=False), "PID"
    )
    assert field(pid, 3) == field(sample_segment(SAMPLE_A1, "PID"), 3)
    assert field(pid, 32) == "NSTS01"


def test_pid_3_adds_the_local_id_in_adt_by_default() -> None:
    pid = segment(build_adt(context(), patient()), "PID")
    assert field(pid, 3) == "9434765919^^^NHS^NH{status:01}~RMS000123^^^RXX^MR"


def test_pid_3_carries_an_unverified_status_as_it_is() -> None:
    pid = segment(build_adt(context(), patient(nhs_number_status="02")), "PID")
    assert field(pid, 3).startswith("9434765919^^^NHS^NH{status:02}~")
    assert field(pid, 32) == "NSTS02"


def test_blank_demographics_leave_their_fields_empty() -> None:
    bare = patient(
        address_line1="",
        address_line2="",
        city="",
        county="",
        postcode="",
        email="",
        phone_home="",
        phone_mobile="",
        phone_work="",
        mrn="",
        middle_names="",
        title="",
    )
    pid = segment(build_adt(context(), bare), "PID")
    assert (
        pid == "PID|||9434765919^^^NHS^NH{status:01}||Smith^Jane||19600101|F" + "|" * 24 + "NSTS01"
    )


def test_it_sends_one_dg1_per_diagnosis() -> None:
    message = build_adt(context(), patient(), DIAGNOSES)
    assert segment(message, "DG1", 1) == (
        "DG1|1||254637007^Non-small cell lung cancer^SNOMED CT||20240501"
    )
    assert segment(message, "DG1", 2) == (
        "DG1|2||C61^Malignant neoplasm of prostate^ICD-10||20240603111500+0100"
    )


def test_an_empty_diagnosis_list_sends_no_dg1() -> None:
    message = build_adt(context(), patient(), [])
    assert [line[:3] for line in segments(message)] == ["MSH", "EVN", "PID"]


def test_a31_is_the_same_message_with_another_trigger() -> None:
    message = build_adt(context(), patient(), DIAGNOSES, trigger="A31")
    assert field(segment(message, "MSH"), 9) == "ADT^A31^ADT_A05"
    assert field(segment(message, "EVN"), 1) == "A31"
    a28 = build_adt(context(), patient(), DIAGNOSES)
    assert segments(message)[2:] == segments(a28)[2:]


def test_it_refuses_an_adt_trigger_pkb_does_not_take() -> None:
    with pytest.raises(ValueError, match="A28 or A31"):
        build_adt(context(), patient(), trigger="A04")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "name", ["O'Brien", "Zoë", "Łukasz", "Smith 🙂", NASTY, "line\rbreak", "crlf\r\nbreak"]
)
def test_names_and_addresses_read_back_exactly(name: str) -> None:
    sent = patient(
        family_name=name,
        given_name=name,
        middle_names=name,
        title=name,
        address_line1=name,
        city=name,
        mrn="MRN^" + name,
        email=name + "@example.org",
    )
    message = build_adt(
        context(), sent, [Diagnosis(code="C61", code_system_text="ICD-10", text=name)]
    )
    assert [line[:3] for line in segments(message)] == ["MSH", "EVN", "PID", "DG1"]
    read = extract_patient(parse(message))
    expected = name.replace("\r\n", "\n").replace("\r", "\n")
    assert read.family_name == read.given_name == read.middle_names == read.title == expected
    assert read.address is not None
    assert read.address.line1 == read.address.city == expected
    assert read.mrn == "MRN^" + expected
    assert read.email == expected + "@example.org"
    assert parse(message).value("DG1", 3, 2) == expected


def test_the_whole_patient_reads_back_with_the_inbound_parser() -> None:
    read = extract_patient(parse(build_adt(context(), patient())))
    assert read.nhs_number == "9434765919"
    assert read.nhs_number_status == "01"
    assert (read.mrn, read.mrn_authority) == ("RMS000123", "RXX")
    assert (read.family_name, read.given_name, read.middle_names, read.title) == (
        "Smith",
        "Jane",
        "Ann",
        "Mrs",
    )
    assert read.date_of_birth == date(1960, 1, 1)
    assert read.sex == "F"
    assert read.address is not None
    assert (read.address.postcode, read.address.country) == ("SW1A 1AA", "GBR")
    assert read.email == "jane.smith@example.org"
    assert {(phone.kind, phone.number) for phone in read.phones} == {
        ("home", "01234567890"),
        ("mobile", "07123456789"),
        ("work", "01234098765"),
    }
