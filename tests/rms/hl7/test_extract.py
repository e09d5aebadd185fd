from __future__ import annotations

import base64
from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from rms.hl7 import (
    Address,
    AppointmentAction,
    ErrorCode,
    Hl7ParseError,
    Hl7UnsupportedError,
    Telecom,
    extract_appointment,
    extract_document,
    extract_patient,
    extract_results,
    is_textual_report,
    parse,
    report_text,
    require_supported,
)
from rms.hl7.extract import parse_number, read_value
from tests.rms.hl7.samples import MSH_ORU, PID, SAMPLE_NAMES, message, sample_message

LONDON = ZoneInfo("Europe/London")
TAKEN = datetime(2026, 11, 10, 8, 30, tzinfo=LONDON)


# --- patient ---------------------------------------------------------------------------------


def test_it_reads_the_patient_of_the_pas_sample() -> None:
    patient = extract_patient(sample_message("adt_a28_pas_new_patient.hl7"))
    assert patient.nhs_number == "9990000018"
    assert (patient.mrn, patient.mrn_authority) == ("RXX1234567", "RXX")
    assert [(i.value, i.assigning_authority, i.type_code) for i in patient.identifiers] == [
        ("9990000018", "NHS", "NH"),
        ("RXX1234567", "RXX", "MR"),
    ]
    assert (patient.title, patient.given_name, patient.middle_names, patient.family_name) == (
        "Mr",
        "Alan",
        "James",
        "TESTER",
    )
    assert patient.date_of_birth == date(1958, 2, 14)
    assert patient.sex == "M"
    assert patient.address == Address(
        line1="12 Orchard Close",
        line2="",
        city="Taunton",
        county="Somerset",
        postcode="TA1 2AB",
        country="GBR",
    )
    assert patient.phones == (
        Telecom(number="01823000000", use_code="PRN", equipment_type="PH", kind="home"),
    )
    assert patient.email == "alan.tester@example.org"


def test_the_pas_samples_nsts01_one_field_early_in_pid31_is_still_read() -> None:
    # The sample puts NSTS01 one field early (PID-31, Identity Unknown Indicator, otherwise Y
    # or N). The NSTS prefix cannot mean anything else, so it is read; a bare code is not.
    msg = sample_message("adt_a28_pas_new_patient.hl7")
    assert msg.get_segment("PID").value(31) == "NSTS01"
    assert extract_patient(msg).nhs_number_status == "01"


def test_a_bare_status_code_in_pid31_is_not_read() -> None:
    text = message(MSH_ORU, "PID|||9990000018^^^NHS^NH||X^Y||19580214|M" + "|" * 23 + "01")
    assert parse(text).get_segment("PID").value(31) == "01"
    assert extract_patient(parse(text)).nhs_number_status == ""


@pytest.mark.parametrize("name", [n for n in SAMPLE_NAMES if n.startswith("oru")])
def test_every_result_sample_names_the_same_patient(name: str) -> None:
    patient = extract_patient(sample_message(name))
    assert (patient.nhs_number, patient.mrn, patient.family_name) == (
        "9990000018",
        "RXX1234567",
        "TESTER",
    )
    assert patient.date_of_birth == date(1958, 2, 14)


def _patient(pid: str) -> object:
    return extract_patient(parse(message(MSH_ORU, pid)))


def test_it_splits_the_pkb_status_suffix_off_the_nhs_identifier_type() -> None:
    patient = extract_patient(
        parse(message(MSH_ORU, "PID|||5760678914^^^NHS^NH{status:01}||Richards^Read^^Mr"))
    )
    assert patient.nhs_number == "5760678914"
    assert patient.nhs_number_status == "01"
    assert patient.identifiers[0].type_code == "NH"
    assert patient.identifiers[0].status == "01"


@pytest.mark.parametrize(("pid32", "status"), [("NSTS02", "02"), ("03", "03"), ("NSTS09", "")])
def test_it_reads_the_nhs_number_status_from_pid32(pid32: str, status: str) -> None:
    pid = "PID|||9990000018^^^NHS^NH||TESTER^Alan" + "|" * 27 + pid32
    msg = parse(message(MSH_ORU, pid))
    assert msg.get_segment("PID").value(32) == pid32
    assert extract_patient(msg).nhs_number_status == status


def test_the_status_suffix_wins_over_pid32() -> None:
    pid = "PID|||9990000018^^^NHS^NH{status:01}||TESTER^Alan" + "|" * 27 + "NSTS03"
    assert extract_patient(parse(message(MSH_ORU, pid))).nhs_number_status == "01"


def test_an_identifier_is_the_nhs_number_when_its_authority_is_nhs() -> None:
    patient = extract_patient(parse(message(MSH_ORU, "PID|||L123^^^RXX~9990000018^^^NHS||X")))
    assert patient.nhs_number == "9990000018"
    # No MR identifier: the first one that is not the NHS number stands in.
    assert (patient.mrn, patient.mrn_authority) == ("L123", "RXX")


def test_it_falls_back_to_an_nhs_number_in_pid2() -> None:
    patient = extract_patient(parse(message(MSH_ORU, "PID||9990000018^^^NHS^NH|L123^^^RXX^MR")))
    assert patient.nhs_number == "9990000018"
    assert patient.mrn == "L123"


def test_it_keeps_the_nhs_number_raw_without_validating_it() -> None:
    patient = extract_patient(parse(message(MSH_ORU, "PID|||999 000 0019^^^NHS^NH")))
    assert patient.nhs_number == "999 000 0019"


@pytest.mark.parametrize(
    ("sent", "sex"), [("F", "F"), ("m", "M"), ("U", "U"), ("O", "U"), ("", "U")]
)
def test_it_reads_sex_as_m_f_or_u(sent: str, sex: str) -> None:
    pid = f"PID|||9990000018^^^NHS^NH||TESTER^Alan||19580214|{sent}"
    assert extract_patient(parse(message(MSH_ORU, pid))).sex == sex


def test_it_prefers_the_legal_name_and_unescapes_names() -> None:
    pid = "PID|||9990000018^^^NHS^NH||Al^Ali^^^^^N~O'Brien \\T\\ Sons^Zoë^Ann Marie^^Dr^^L"
    patient = extract_patient(parse(message(MSH_ORU, pid)))
    assert (patient.title, patient.given_name, patient.middle_names, patient.family_name) == (
        "Dr",
        "Zoë",
        "Ann Marie",
        "O'Brien & Sons",
    )


def test_it_reads_pkbs_a2_telecoms_with_the_email_in_xtn1() -> None:
    pid = (
        "PID|||5555555555^^^NHS^NH||Smith^John^Joe^^Mr||19700101|M|||"
        "My flat name^1, The Road^London^London^SW1A 1AA^GBR||"
        "john.smith@hotmail.com^NET~01234567890^PRN~07123456789^PRS|"
        "john.smith@company.com^NET~01234098765^WPN||||||||||||||||N|"
    )
    patient = extract_patient(parse(message(MSH_ORU, pid)))
    assert patient.email == "john.smith@hotmail.com"
    assert [(p.number, p.kind) for p in patient.phones] == [
        ("01234567890", "home"),
        ("07123456789", "mobile"),
        ("01234098765", "work"),
    ]
    assert patient.address is not None
    assert (patient.address.line1, patient.address.line2) == ("My flat name", "1, The Road")


def test_it_reads_an_email_from_xtn4_and_a_mobile_from_the_equipment_type() -> None:
    pid = (
        "PID|||5555555555^^^NHS^NH||Smith^John||19700101|M|||||"
        "07700900000^PRN^CP~^ORN^PH^^^01823^000001|^NET^^john.smith@company.com"
    )
    patient = extract_patient(parse(message(MSH_ORU, pid)))
    assert patient.email == "john.smith@company.com"
    assert patient.phones == (
        Telecom(number="07700900000", use_code="PRN", equipment_type="CP", kind="mobile"),
        Telecom(number="01823000001", use_code="ORN", equipment_type="PH", kind="other"),
    )


def test_a_message_without_pid_is_refused_with_ae() -> None:
    with pytest.raises(Hl7ParseError) as caught:
        extract_patient(parse(message(MSH_ORU, "OBR|1||FON1")))
    assert caught.value.reason == "PID segment missing"
    assert caught.value.ack_code == "AE"
    assert caught.value.hl7_code == ErrorCode.SEGMENT_SEQUENCE_ERROR


def test_a_malformed_date_of_birth_names_pid7() -> None:
    with pytest.raises(Hl7ParseError) as caught:
        extract_patient(parse(message(MSH_ORU, "PID|||9990000018^^^NHS^NH||X^Y||19581314")))
    assert caught.value.field == "PID-7"


# --- results ---------------------------------------------------------------------------------


def test_it_reads_the_psa_sample() -> None:
    (group,) = extract_results(sample_message("oru_r01_psa.hl7"))
    assert (group.placer_order_number, group.filler_order_number) == ("ORD778899", "26L0045123")
    assert (group.service_code, group.service_name, group.service_system) == (
        "PSA",
        "Prostate specific antigen",
        "WINPATH",
    )
    assert group.observed_at == TAKEN
    assert group.reported_at == datetime(2026, 11, 10, 14, 15, tzinfo=LONDON)
    assert (group.status, group.diagnostic_service) == ("F", "CH")
    assert group.ordering_clinician == "Mr Sam Surgeon"
    (psa,) = group.observations
    assert (psa.set_id, psa.value_type, psa.code, psa.name, psa.code_system) == (
        1,
        "NM",
        "PSA",
        "PSA",
        "WINPATH",
    )
    assert (psa.value_text, psa.numeric, psa.comparator) == ("0.24", Decimal("0.24"), "")
    assert (psa.units, psa.reference_range, psa.abnormal_flags, psa.status) == (
        "ug/L",
        "0.00-0.10",
        "H",
        "F",
    )
    assert psa.observed_at == TAKEN


def test_it_reads_the_bloods_panel_with_its_note_on_the_last_obx() -> None:
    (group,) = extract_results(sample_message("oru_r01_bloods_panel.hl7"))
    assert group.filler_order_number == "26L0045124"
    assert group.notes == ()
    assert [(o.code, o.numeric, o.abnormal_flags) for o in group.observations] == [
        ("NA", Decimal("139"), "N"),
        ("K", Decimal("5.6"), "H"),
        ("CREA", Decimal("88"), "N"),
    ]
    assert group.observations[0].notes == ()
    assert group.observations[2].notes == (
        "Slightly haemolysed sample; potassium may be falsely raised.",
    )
    assert not is_textual_report(group)


def test_it_reads_the_corrected_sample_with_status_c() -> None:
    (group,) = extract_results(sample_message("oru_r01_corrected.hl7"))
    assert group.status == "C"
    assert group.filler_order_number == "26L0045123"
    (psa,) = group.observations
    assert (psa.status, psa.numeric) == ("C", Decimal("0.21"))
    assert psa.notes == ("Result corrected after re-analysis.",)


def test_it_joins_the_radiology_report_into_one_text() -> None:
    (group,) = extract_results(sample_message("oru_r01_radiology_report.hl7"))
    assert is_textual_report(group)
    assert group.diagnostic_service == "MR"
    assert group.filler_order_number == "RXX26R009911"
    assert report_text(group) == (
        "Clinical details: rising PSA after radical prostatectomy.\n"
        "Findings: no local recurrence in the prostate bed. No pelvic lymphadenopathy.\n"
        "Conclusion: no evidence of local recurrence & no nodal disease."
    )


MULTI = message(
    MSH_ORU,
    PID,
    "PV1|1|O",
    "NTE|1||a note about the patient, not a result",
    "ORC|RE|PL1|FON1",
    "OBR|1|PL1|FON1|PSA^Prostate specific antigen^WINPATH|||20261110083000|||||||||"
    "C1^Surgeon^Sam^^^Mr||||||20261110141500||CH|F",
    "NTE|1||note on the order",
    "OBX|1|NM|PSA^PSA^WINPATH||<0.01|ug/L|0.00-4.00|N|||F",
    "NTE|1||first note on PSA",
    "NTE|2||second note on PSA",
    "OBX|2|NM|FPSA^Free PSA^WINPATH||0.2|ug/L|||||F|||20261110090000+0000",
    "ORC|RE||FON2",
    "OBR|2|||CEA^CEA^WINPATH|||20261111083000",
    "OBX|1|NM|CEA^CEA^WINPATH||not done|ug/L|||||X",
)


def test_it_reads_several_obr_groups_with_their_notes_where_they_stand() -> None:
    first, second = extract_results(parse(MULTI))
    assert (first.placer_order_number, first.filler_order_number) == ("PL1", "FON1")
    assert first.notes == ("note on the order",)
    psa, free_psa = first.observations
    assert psa.notes == ("first note on PSA", "second note on PSA")
    assert free_psa.notes == ()
    assert (second.placer_order_number, second.filler_order_number) == ("", "FON2")
    assert second.notes == ()
    assert second.observed_at == datetime(2026, 11, 11, 8, 30, tzinfo=LONDON)
    assert second.ordering_clinician == ""


def test_an_undetectable_value_keeps_its_comparator() -> None:
    psa = extract_results(parse(MULTI))[0].observations[0]
    assert (psa.value_text, psa.comparator, psa.numeric) == ("<0.01", "<", Decimal("0.01"))


def test_an_obx_without_a_time_takes_the_obr_time_and_one_with_a_time_keeps_it() -> None:
    psa, free_psa = extract_results(parse(MULTI))[0].observations
    assert psa.observed_at == TAKEN
    assert free_psa.observed_at == datetime(2026, 11, 10, 9, 0, tzinfo=UTC)


def test_a_value_that_is_not_a_number_keeps_its_text_and_has_no_number() -> None:
    cea = extract_results(parse(MULTI))[1].observations[0]
    assert (cea.value_text, cea.numeric, cea.comparator, cea.status) == ("not done", None, "", "X")


@pytest.mark.parametrize(
    ("text", "number", "comparator"),
    [
        ("0.2", Decimal("0.2"), ""),
        ("<0.01", Decimal("0.01"), "<"),
        ("> 1000", Decimal("1000"), ">"),
        (">=5", Decimal("5"), ">="),
        ("<=.5", Decimal(".5"), "<="),
        ("-3", Decimal("-3"), ""),
        (" 7. ", Decimal("7"), ""),
        ("12..3", None, ""),
        ("1e5", None, ""),
        ("NaN", None, ""),
        ("=5", None, ""),
        ("", None, ""),
        ("<", None, ""),
    ],
)
def test_it_parses_numbers_with_their_comparator(
    text: str, number: Decimal | None, comparator: str
) -> None:
    assert parse_number(text) == (number, comparator)


def test_it_reads_structured_numeric_and_coded_values() -> None:
    msg = parse(
        message(
            MSH_ORU,
            PID,
            "OBR|1||FON1|X^X|||20261110083000",
            "OBX|1|SN|PSA^PSA||<^0.01|ug/L",
            "OBX|2|SN|TITRE^Titre||^1^:^128",
            "OBX|3|CE|HPV^HPV||POS^Positive^L",
        )
    )
    sn, ratio, coded = extract_results(msg)[0].observations
    assert (sn.value_text, sn.comparator, sn.numeric) == ("<0.01", "<", Decimal("0.01"))
    assert (ratio.value_text, ratio.numeric) == ("1:128", None)
    assert (coded.value_text, coded.numeric) == ("Positive", None)


def test_free_text_values_are_unescaped_with_line_breaks_and_repetitions_as_lines() -> None:
    msg = parse(
        message(
            MSH_ORU,
            PID,
            "OBR|1||FON1|XMRPR^MRI Prostate^CRIS|||20261112101500",
            "OBX|1|FT|XMRPR^MRI Prostate^CRIS||"
            "Line one\\.br\\a \\F\\ b \\S\\ c~Second rep\\X0D\\end",
            "NTE|1||Reported by Dr Smith",
        )
    )
    (group,) = extract_results(msg)
    (obx,) = group.observations
    assert obx.value_text == "Line one\na | b ^ c\nSecond rep\nend"
    assert report_text(group) == "Line one\na | b ^ c\nSecond rep\nend\nReported by Dr Smith"
    assert report_text(group, include_notes=False) == "Line one\na | b ^ c\nSecond rep\nend"


def test_a_report_line_with_an_unescaped_caret_is_kept_whole() -> None:
    msg = parse(message(MSH_ORU, PID, "OBR|1||FON1|X|||20261112", "OBX|1|TX|X||PSA ^ since May"))
    assert extract_results(msg)[0].observations[0].value_text == "PSA ^ since May"


def test_the_filler_order_number_falls_back_to_orc3_and_is_required() -> None:
    msg = parse(message(MSH_ORU, PID, "ORC|RE|PL1|", "OBR|1|PL1||PSA|||20261110083000"))
    with pytest.raises(Hl7ParseError) as caught:
        extract_results(msg)
    assert caught.value.field == "OBR-3"
    assert caught.value.hl7_code == ErrorCode.REQUIRED_FIELD_MISSING
    assert caught.value.ack_code == "AE"


def test_an_obx_before_any_obr_is_a_segment_sequence_error() -> None:
    with pytest.raises(Hl7ParseError) as caught:
        extract_results(parse(message(MSH_ORU, PID, "OBX|1|NM|PSA||1", "OBR|1||FON1")))
    assert caught.value.hl7_code == ErrorCode.SEGMENT_SEQUENCE_ERROR


def test_an_oru_without_obr_is_refused() -> None:
    with pytest.raises(Hl7ParseError, match="OBR segment missing"):
        extract_results(parse(message(MSH_ORU, PID)))


def test_a_malformed_observation_time_names_obx14() -> None:
    msg = parse(message(MSH_ORU, PID, "OBR|1||FON1", "OBX|1|NM|PSA||1|||||||||2026111"))
    with pytest.raises(Hl7ParseError) as caught:
        extract_results(msg)
    assert caught.value.field == "OBX-14"


def test_results_are_only_read_from_an_oru() -> None:
    with pytest.raises(Hl7UnsupportedError) as caught:
        extract_results(sample_message("adt_a28_pas_new_patient.hl7"))
    assert caught.value.hl7_code == ErrorCode.UNSUPPORTED_MESSAGE_TYPE
    assert caught.value.ack_code == "AR"


# --- appointments ----------------------------------------------------------------------------

PKB_PID = (
    "PID|||9999999999^^^NHS^NH||Smith^John^Joe^^Mr||19700101|M|||"
    "Flat name^1, The Road^London^London^SW1A 1AA^GBR||01234567890^PRN~07123456789^PRS|"
    "^NET^^john.smith@company.com~01234098765^WPN||||||||||||||||N|"
)


def _siu(trigger: str, *segments: str) -> str:
    msh = f"MSH|^~\\&|app|sender|HL7API|PKB|201303080949||SIU^{trigger}|ABC0000000001|P|2.4"
    return message(msh, PKB_PID, *segments)


def test_it_reads_pkbs_s12_booking() -> None:
    msg = parse(
        _siu(
            "S12",
            "SCH|ID123||||||^checkup^||||^^^201411201231^201411201232|||||||||||||||",
            "NTE|||My comment|",
            "PV1|||^^^^^^^^health centre",
            "RGS|",
            "AIP|||^Jones^Stuart^James^^Dr|^Doctor",
        )
    )
    appointment = extract_appointment(msg)
    assert appointment.placer_id == "ID123"
    assert appointment.action == AppointmentAction.BOOKED
    assert appointment.status == "booked"
    assert appointment.reason == "checkup"
    assert appointment.start == datetime(2014, 11, 20, 12, 31, tzinfo=LONDON)
    assert appointment.end == datetime(2014, 11, 20, 12, 32, tzinfo=LONDON)
    assert appointment.location == "health centre"
    assert appointment.clinician == "Dr Stuart Jones"
    assert appointment.notes == "My comment"
    assert extract_patient(msg).email == "john.smith@company.com"


def test_it_reads_a_cancellation_that_carries_only_the_id() -> None:
    appointment = extract_appointment(parse(_siu("S15", "SCH|ID123")))
    assert appointment.action == AppointmentAction.CANCELLED
    assert appointment.status == "cancelled"
    assert (appointment.placer_id, appointment.start, appointment.end) == ("ID123", None, None)


def test_it_reads_a_did_not_attend() -> None:
    appointment = extract_appointment(parse(_siu("S26", "SCH||FILLER9")))
    assert appointment.action == AppointmentAction.NO_SHOW
    assert appointment.status == "dna"
    assert appointment.placer_id == "FILLER9"


def test_a_change_takes_its_times_from_ais_and_its_place_from_ail() -> None:
    msg = parse(
        _siu(
            "S13",
            "SCH|ID123||||||FU^Follow-up|CLINIC^Clinic",
            "RGS|1",
            "AIS|1||FU^Follow-up|202611201400|||20|MIN",
            "AIL|1||URO^Room 4^^RXX01",
        )
    )
    appointment = extract_appointment(msg)
    assert appointment.action == AppointmentAction.CHANGED
    assert appointment.status == "booked"
    assert (appointment.reason, appointment.appointment_type) == ("Follow-up", "CLINIC")
    assert appointment.appointment_type_text == "Clinic"
    assert appointment.start == datetime(2026, 11, 20, 14, 0, tzinfo=LONDON)
    assert appointment.end == datetime(2026, 11, 20, 14, 20, tzinfo=LONDON)
    assert appointment.location == "URO, Room 4, RXX01"


def test_a_booking_without_a_start_is_refused() -> None:
    with pytest.raises(Hl7ParseError) as caught:
        extract_appointment(parse(_siu("S12", "SCH|ID123")))
    assert caught.value.field == "SCH-11.4"


def test_an_appointment_that_ends_before_it_starts_is_refused() -> None:
    sch = "SCH|ID123||||||||||^^^202611201400^202611201300"
    with pytest.raises(Hl7ParseError, match="ends before it starts"):
        extract_appointment(parse(_siu("S12", sch)))


def test_an_appointment_without_an_id_is_refused() -> None:
    with pytest.raises(Hl7ParseError) as caught:
        extract_appointment(parse(_siu("S15", "SCH|")))
    assert caught.value.field == "SCH-1"


def test_an_siu_event_we_do_not_take_is_refused_with_ar() -> None:
    with pytest.raises(Hl7UnsupportedError) as caught:
        extract_appointment(parse(_siu("S17", "SCH|ID123")))
    assert caught.value.hl7_code == ErrorCode.UNSUPPORTED_EVENT_CODE
    assert caught.value.ack_code == "AR"


# --- documents -------------------------------------------------------------------------------

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def _txa(**fields: str) -> str:
    values = [""] * 18
    values[0] = "TXA"
    for key, value in fields.items():
        values[int(key.removeprefix("f"))] = value
    return "|".join(values)


TXA = _txa(
    f1="1",
    f2="CL",
    f4="20261114100000",
    f5="C999^Registrar^Rita^^^Dr",
    f6="20261114110000",
    f7="20261114120000",
    f8="20261115090000",
    f9="C123456^Surgeon^Sam^^^Mr",
    f12="DOC-0001",
    f16="clinic-letter.pdf",
    f17="AU",
)


def _mdm(trigger: str, *segments: str) -> str:
    msh = f"MSH|^~\\&|EPR|RXX01|RMS|RXX|20261115120000||MDM^{trigger}^MDM_{trigger}|DOC1|P|2.4"
    return message(msh, f"EVN|{trigger}|20261115120000", PID, "PV1|1|O", *segments)


def test_it_reads_a_letter_sent_as_a_base64_pdf() -> None:
    data = base64.b64encode(PDF).decode()
    obx = f"OBX|1|ED|CL^Clinic letter after MRI^LOCAL||^APPLICATION^PDF^Base64^{data}||||||F"
    document = extract_document(parse(_mdm("T02", TXA, obx)))
    assert (document.document_type, document.document_number) == ("CL", "DOC-0001")
    assert document.title == "Clinic letter after MRI"
    assert (document.content_type, document.content_bytes, document.content_text) == (
        "pdf",
        PDF,
        "",
    )
    assert document.authored_at == datetime(2026, 11, 15, 9, 0, tzinfo=LONDON)
    assert document.activity_at == datetime(2026, 11, 14, 10, 0, tzinfo=LONDON)
    assert document.author == "Mr Sam Surgeon"
    assert (document.status, document.filename) == ("AU", "clinic-letter.pdf")
    assert not document.is_cancellation


def test_it_reads_a_letter_sent_as_text_lines() -> None:
    txa = _txa(f2="CL", f4="20261114100000", f5="C999^Registrar^Rita^^^Dr", f12="DOC-0002")
    document = extract_document(
        parse(
            _mdm(
                "T02",
                txa,
                "OBX|1|TX|||Dear Dr Smith,~I saw Mr Tester today.",
                "OBX|2|TX|||PSA 0.24 ug/L \\T\\ stable.",
            )
        )
    )
    assert document.content_type == "text"
    assert (
        document.content_text == "Dear Dr Smith,\nI saw Mr Tester today.\nPSA 0.24 ug/L & stable."
    )
    assert document.content_bytes is None
    assert document.title == "CL"  # no OBX-3.2: the TXA-2 code stands in
    assert document.authored_at == datetime(2026, 11, 14, 10, 0, tzinfo=LONDON)
    assert document.author == "Dr Rita Registrar"  # TXA-5, for want of TXA-9


def test_it_reads_html_sent_as_base64() -> None:
    data = base64.b64encode("<p>Zoë</p>".encode()).decode()
    obx = f"OBX|1|ED|CP^Care plan||^TEXT^HTML^Base64^{data}"
    document = extract_document(parse(_mdm("T02", TXA, obx)))
    assert (document.content_type, document.content_text) == ("html", "<p>Zoë</p>")


def test_a_cancellation_needs_no_content() -> None:
    document = extract_document(parse(_mdm("T11", _txa(f12="MYDOC00001"))))
    assert document.is_cancellation
    assert (document.document_number, document.content_type) == ("MYDOC00001", "")


def test_invalid_base64_is_refused_naming_obx5() -> None:
    obx = "OBX|1|ED|CL^Letter||^APPLICATION^PDF^Base64^not*base64!!"
    with pytest.raises(Hl7ParseError) as caught:
        extract_document(parse(_mdm("T02", TXA, obx)))
    assert caught.value.field == "OBX-5.5"
    assert caught.value.ack_code == "AE"


def test_data_labelled_pdf_that_is_not_a_pdf_is_refused() -> None:
    data = base64.b64encode(b"<html>not a pdf</html>").decode()
    obx = f"OBX|1|ED|CL^Letter||^APPLICATION^PDF^Base64^{data}"
    with pytest.raises(Hl7ParseError, match="not a PDF"):
        extract_document(parse(_mdm("T02", TXA, obx)))


def test_a_document_without_a_number_is_refused() -> None:
    with pytest.raises(Hl7ParseError) as caught:
        extract_document(parse(_mdm("T02", _txa(f2="CL"), "OBX|1|TX|||text")))
    assert caught.value.field == "TXA-12"
    assert caught.value.hl7_code == ErrorCode.REQUIRED_FIELD_MISSING


def test_an_original_document_without_content_is_refused() -> None:
    with pytest.raises(Hl7ParseError, match="no content"):
        extract_document(parse(_mdm("T02", TXA)))


# --- supported messages ----------------------------------------------------------------------


@pytest.mark.parametrize("name", SAMPLE_NAMES)
def test_every_sample_is_a_message_we_take(name: str) -> None:
    require_supported(sample_message(name))


@pytest.mark.parametrize(
    ("msh9", "version", "code"),
    [
        ("QRY^A19", "2.4", ErrorCode.UNSUPPORTED_MESSAGE_TYPE),
        ("ADT^A01", "2.4", ErrorCode.UNSUPPORTED_EVENT_CODE),
        ("ORU^R01", "2.6", ErrorCode.UNSUPPORTED_VERSION_ID),
        ("ORU^R01", "", ErrorCode.UNSUPPORTED_VERSION_ID),
    ],
)
def test_it_refuses_what_we_do_not_take_with_ar(msh9: str, version: str, code: ErrorCode) -> None:
    msg = parse(message(f"MSH|^~\\&|A|B|C|D|20260101||{msh9}|ID1|P|{version}", PID))
    with pytest.raises(Hl7UnsupportedError) as caught:
        require_supported(msg)
    assert caught.value.hl7_code == code
    assert caught.value.ack_code == "AR"


@pytest.mark.parametrize(
    ("text", "number", "comparator", "flag"),
    [
        # The shapes labs print a value in (the list, and what WinPath/TelePath send).
        ("<0.01", Decimal("0.01"), "<", ""),
        ("< 0.01", Decimal("0.01"), "<", ""),
        (">100", Decimal("100"), ">", ""),
        ("0.2 (H)", Decimal("0.2"), "", "H"),
        ("0.2 H", Decimal("0.2"), "", "H"),
        ("0.20*", Decimal("0.20"), "", "A"),
        ("6.1 HH", Decimal("6.1"), "", "HH"),
        ("0.8 [L]", Decimal("0.8"), "", "L"),
        ("\u22640.5", Decimal("0.5"), "<=", ""),
        # Not one number: kept as text (and raised for review where a plan monitors the test).
        ("see comment", None, "", ""),
        ("haemolysed", None, "", ""),
        ("0.2.3", None, "", ""),
        ("0.2 HIGH", None, "", ""),
        ("", None, "", ""),
    ],
)
def test_it_reads_printed_values_with_comparators_and_flags(
    text: str, number: Decimal | None, comparator: str, flag: str
) -> None:
    read = read_value(text)
    if number is None:
        assert read is None
    else:
        assert read is not None
        assert (read.number, read.comparator, read.flag) == (number, comparator, flag)


def test_a_value_sent_as_text_is_a_number_with_its_flag_and_kept_as_sent() -> None:
    msg = parse(
        message(
            MSH_ORU,
            PID,
            "OBR|1||F1|PSA^PSA|||20261110083000|||||||||||||||||CH|F",
            "OBX|1|ST|PSA^PSA^WINPATH||< 0.01|ug/L||||||F",
            "OBX|2|TX|CEA^CEA^WINPATH||6.1 (H)|ug/L||||||F",
            "OBX|3|ST|ALP^ALP^WINPATH||see comment|U/L||||||F",
        )
    )

    [group] = extract_results(msg)
    psa_value, cea_value, alp_value = group.observations

    assert (psa_value.numeric, psa_value.comparator, psa_value.value_text) == (
        Decimal("0.01"),
        "<",
        "< 0.01",
    )
    assert (cea_value.numeric, cea_value.abnormal_flags, cea_value.value_text) == (
        Decimal("6.1"),
        "H",
        "6.1 (H)",
    )
    assert alp_value.numeric is None and alp_value.value_text == "see comment"
