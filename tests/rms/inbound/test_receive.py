"""The inbound guarantees, message by message, through ``rms.inbound.receive``."""

from __future__ import annotations

import base64
import datetime as dt
from decimal import Decimal

import pytest
from django.db.models.signals import post_save

from rms.hl7 import decode_message, parse
from rms.inbound import inbound_reprocess, receive
from rms.models import (
    Appointment,
    CaseloadEntry,
    Document,
    DomainEvent,
    InboundMessage,
    Patient,
    Result,
)
from tests.factories import PatientFactory
from tests.rms.hl7.samples import MDM_T02, PID, message, sample_bytes

pytestmark = pytest.mark.django_db

Status = InboundMessage.Status


def ack_of(raw: bytes) -> tuple[str, str, list[str]]:
    """MSA-1, MSA-3 and the segment names of an ACK."""
    ack = parse(raw.decode("latin-1"))
    msa = ack.get_segment("MSA")
    return msa.value(1), msa.value(3), [s.name for s in ack.segments]


@pytest.fixture
def tester(team) -> Patient:
    """The patient of the shared samples (PID: TESTER, Alan; 9990000018; RXX1234567)."""
    return PatientFactory(
        nhs_number="9990000018",
        mrn="RXX1234567",
        given_name="Alan",
        family_name="Tester",
        date_of_birth=dt.date(1958, 2, 14),
        teams=[team],
    )


def test_a_result_for_a_known_patient_is_filed_and_acknowledged_aa(tester) -> None:
    code, _, _ = ack_of(
        receive(raw=sample_bytes("oru_r01_psa.hl7"), channel="mllp", peer="10.0.0.1")
    )
    assert code == "AA"
    stored = InboundMessage.objects.get()
    assert (stored.status, stored.patient, stored.control_id, stored.message_type) == (
        Status.PROCESSED,
        tester,
        "LAB0000101",
        "ORU^R01",
    )
    assert stored.raw_bytes == sample_bytes("oru_r01_psa.hl7")
    result = Result.objects.get()
    assert (result.patient, result.filler_order_number, result.status) == (
        tester,
        "26L0045123",
        "final",
    )
    psa = result.observations.get()
    assert (psa.value_numeric, psa.units, psa.abnormal_flag) == (Decimal("0.24"), "ug/L", "H")
    assert result.last_message == stored


def test_the_same_message_again_gets_the_same_ack_and_is_not_processed_twice(tester) -> None:
    first = receive(raw=sample_bytes("oru_r01_psa.hl7"), channel="mllp")
    second = receive(raw=sample_bytes("oru_r01_psa.hl7"), channel="mllp")
    assert first == second
    assert InboundMessage.objects.count() == 1
    assert Result.objects.count() == 1
    assert DomainEvent.objects.filter(kind=DomainEvent.Kind.RESULT_RECORDED).count() == 1


def test_the_same_control_id_from_another_sender_is_a_different_message(tester) -> None:
    raw = sample_bytes("oru_r01_psa.hl7")
    receive(raw=raw, channel="mllp")
    receive(raw=raw.replace(b"|WINPATH|RXX01|", b"|WINPATH|RXX02|", 1), channel="mllp")
    assert InboundMessage.objects.count() == 2


def test_a_correction_replaces_the_value_and_keeps_the_history(tester) -> None:
    receive(raw=sample_bytes("oru_r01_psa.hl7"), channel="mllp")
    code, _, _ = ack_of(receive(raw=sample_bytes("oru_r01_corrected.hl7"), channel="mllp"))
    assert code == "AA"
    result = Result.objects.get()
    assert (result.status, result.version) == ("corrected", 2)
    values = list(
        result.observations.order_by("result_version").values_list("value_text", "superseded_at")
    )
    assert values[0][0] == "0.24" and values[0][1] is not None
    assert values[1] == ("0.21", None)


def test_a_deletion_marks_the_result_so_that_it_no_longer_counts(tester) -> None:
    receive(raw=sample_bytes("oru_r01_psa.hl7"), channel="mllp")
    deletion = (
        sample_bytes("oru_r01_psa.hl7")
        .replace(b"LAB0000101", b"LAB0000199")
        .replace(b"||CH|F", b"||CH|R")
    )
    code, _, _ = ack_of(receive(raw=deletion, channel="mllp"))
    assert code == "AA"
    result = Result.objects.get()
    assert result.status == "deleted" and not result.counts


def test_a_multi_test_panel_with_a_note_is_one_result_with_three_values(tester) -> None:
    receive(raw=sample_bytes("oru_r01_bloods_panel.hl7"), channel="mllp")
    result = Result.objects.get()
    assert list(result.observations.values_list("code", flat=True)) == ["NA", "K", "CREA"]
    assert "haemolysed" in result.observations.get(code="CREA").notes


def test_a_radiology_report_is_one_textual_report(tester) -> None:
    receive(raw=sample_bytes("oru_r01_radiology_report.hl7"), channel="mllp")
    result = Result.objects.get()
    assert result.category == "radiology"
    assert result.report_text.splitlines() == [
        "Clinical details: rising PSA after radical prostatectomy.",
        "Findings: no local recurrence in the prostate bed. No pelvic lymphadenopathy.",
        "Conclusion: no evidence of local recurrence & no nodal disease.",
    ]


def test_an_unknown_patient_is_held_acknowledged_and_filed_after_an_admin_matches_it(
    team, superuser
) -> None:
    code, _, _ = ack_of(receive(raw=sample_bytes("oru_r01_psa.hl7"), channel="mllp"))
    assert code == "AA"
    held = InboundMessage.objects.get()
    assert (held.status, held.patient) == (Status.UNMATCHED, None)
    assert not Result.objects.exists()

    patient = PatientFactory(nhs_number="9434765919", teams=[team])
    inbound_reprocess(message=held, actor=superuser, patient=patient)
    held.refresh_from_db()
    assert (held.status, held.patient) == (Status.PROCESSED, patient)
    assert Result.objects.get().patient == patient


def test_a_held_message_is_filed_when_reprocessed_after_the_patient_arrives(
    team, superuser
) -> None:
    receive(raw=sample_bytes("oru_r01_psa.hl7"), channel="mllp")
    PatientFactory(
        nhs_number="9990000018",
        family_name="Tester",
        date_of_birth=dt.date(1958, 2, 14),
        teams=[team],
    )
    message = inbound_reprocess(message=InboundMessage.objects.get(), actor=superuser)
    assert message.status == Status.PROCESSED
    assert Result.objects.count() == 1


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"date_of_birth": dt.date(1958, 2, 15)}, "date of birth"),
        ({"family_name": "Tasker"}, "family name"),
    ],
)
def test_an_nhs_number_with_other_details_is_held_as_a_possible_wrong_patient(
    team, changes, reason
) -> None:
    PatientFactory(
        **{
            "nhs_number": "9990000018",
            "mrn": "OTHER1",
            "family_name": "Tester",
            "date_of_birth": dt.date(1958, 2, 14),
            "teams": [team],
            **changes,
        }
    )
    code, _, _ = ack_of(receive(raw=sample_bytes("oru_r01_psa.hl7"), channel="mllp"))
    assert code == "AA"
    held = InboundMessage.objects.get()
    assert held.status == Status.REVIEW
    assert reason in held.error
    assert held.patient is None
    assert not Result.objects.exists()


def test_an_nhs_number_failing_the_check_matches_nothing(tester) -> None:
    raw = sample_bytes("oru_r01_psa.hl7").replace(b"9990000018^^^NHS", b"9990000019^^^NHS")
    receive(raw=raw, channel="mllp")
    held = InboundMessage.objects.get()
    assert held.status == Status.UNMATCHED
    assert "not valid" in held.error
    assert not Result.objects.exists()


def test_a_new_patient_from_the_pas_is_registered_on_no_caseload(team) -> None:
    code, _, _ = ack_of(receive(raw=sample_bytes("adt_a28_pas_new_patient.hl7"), channel="mllp"))
    assert code == "AA"
    patient = Patient.objects.get()
    assert (patient.nhs_number, patient.nhs_number_status, patient.mrn) == (
        "9990000018",
        "01",
        "RXX1234567",
    )
    assert (patient.given_name, patient.family_name, patient.email) == (
        "Alan",
        "TESTER",
        "alan.tester@example.org",
    )
    assert (patient.postcode, patient.phone_home) == ("TA1 2AB", "01823000000")
    assert not CaseloadEntry.objects.exists()


def test_a_demographic_update_changes_the_known_patient(tester) -> None:
    update = (
        sample_bytes("adt_a28_pas_new_patient.hl7")
        .replace(b"ADT^A28^ADT_A05", b"ADT^A31^ADT_A05")
        .replace(b"PAS0000001", b"PAS0000002")
        .replace(b"TA1 2AB", b"TA2 9ZZ")
    )
    receive(raw=update, channel="mllp")
    tester.refresh_from_db()
    assert tester.postcode == "TA2 9ZZ"
    assert Patient.objects.count() == 1


def test_an_adt_event_we_do_not_use_is_acknowledged_and_ignored(tester) -> None:
    admission = sample_bytes("adt_a28_pas_new_patient.hl7").replace(
        b"ADT^A28^ADT_A05", b"ADT^A01^ADT_A01"
    )
    code, _, _ = ack_of(receive(raw=admission, channel="mllp"))
    assert code == "AA"
    assert InboundMessage.objects.get().status == Status.IGNORED


def test_appointments_are_booked_then_cancelled(tester) -> None:
    booked = message(
        "MSH|^~\\&|PAS|RXX01|RMS|RXX|20261102093000||SIU^S12^SIU_S12|SIU1|P|2.4",
        "SCH|APT-1||||||^PSA review^|TEL^Telephone|||^^^202612011030+0000^202612011045+0000",
        PID,
        "AIP|1||C1^Khan^Asha^^^Dr|",
    )
    receive(raw=booked.encode(), channel="mllp")
    appointment = Appointment.objects.get()
    assert (appointment.placer_id, appointment.status, appointment.reason) == (
        "APT-1",
        "booked",
        "PSA review",
    )
    cancelled = booked.replace("SIU^S12^SIU_S12|SIU1", "SIU^S15^SIU_S15|SIU2")
    receive(raw=cancelled.encode(), channel="mllp")
    appointment.refresh_from_db()
    assert appointment.status == "cancelled"


def test_a_pdf_letter_is_filed_and_a_t11_deletes_it(tester) -> None:
    receive(raw=MDM_T02.encode(), channel="mllp")
    document = Document.objects.get()
    assert (document.document_number, document.content_type, document.document_type) == (
        "DOC-0001",
        "pdf",
        "CL",
    )
    assert bytes(document.content_pdf) == base64.b64decode("JVBERi0xLjQKJSVFT0YK")
    deletion = MDM_T02.replace("MDM^T02^MDM_T02|DOC1", "MDM^T11^MDM_T11|DOC2")
    receive(raw=deletion.encode(), channel="mllp")
    document.refresh_from_db()
    assert document.status == "deleted"


@pytest.mark.parametrize(
    ("raw", "code", "reason"),
    [
        (
            b"MSH|^~\\&|X|Y|RMS|RXX|20261110||ZZZ^Q99|BAD1|P|2.4\rPID|||9990000018^^^NHS^NH\r",
            "AR",
            "not accepted",
        ),
        (
            b"MSH|^~\\&|X|Y|RMS|RXX|20261110||ORU^R01|BAD2|P|2.4\rOBR|1||F1|PSA|||20261110\r",
            "AE",
            "PID",
        ),
        (b"MSH|^\\&|X|Y|RMS|RXX|20261110||ORU^R01|BAD3|P|2.4\r", "AR", ""),
        (b"MSH|^~\\&|X|Y|RMS|RXX|20261110||ORU^R01||P|2.4\rPID|||1\r", "AR", "MSH-10"),
        (b"\x00\xff\xfe garbage \x0b\x1c", "AR", ""),
        (b"NOT-HL7 at all\r", "AR", ""),
    ],
)
def test_a_message_we_cannot_read_is_refused_with_the_reason_and_kept(raw, code, reason) -> None:
    ack_code, text, segments = ack_of(receive(raw=raw, channel="mllp"))
    assert ack_code == code
    assert reason in text
    assert segments[-1] == "ERR"
    stored = InboundMessage.objects.get()
    assert stored.status == Status.ERROR
    assert stored.raw_bytes == raw
    assert stored.ack_code == code


def test_text_in_latin_1_is_decoded_by_msh_18(team) -> None:
    raw = message(
        "MSH|^~\\&|PAS|RXX01|RMS|RXX|20261102093000||ADT^A28^ADT_A05|L1|P|2.4|||||GBR|8859/1",
        "PID|1||9434765919^^^NHS^NH{status:01}||Brontë^Zoë||19600101|F",
    ).encode("latin-1")
    code, _, _ = ack_of(receive(raw=raw, channel="mllp"))
    assert code == "AA"
    patient = Patient.objects.get()
    assert (patient.given_name, patient.family_name) == ("Zoë", "Brontë")


def test_bytes_that_do_not_decode_are_refused_never_stored_garbled(team) -> None:
    raw = message(
        "MSH|^~\\&|PAS|RXX01|RMS|RXX|20261102093000||ADT^A28^ADT_A05|U1|P|2.4|||||GBR|"
        "UNICODE UTF-8",
        "PID|1||9434765919^^^NHS^NH||Bront\xeb^Zo\xeb||19600101|F",
    ).encode("latin-1")
    code, text, _ = ack_of(receive(raw=raw, channel="mllp"))
    assert code == "AR"
    assert text
    assert not Patient.objects.exists()
    assert InboundMessage.objects.get().raw_bytes == raw


def test_a_result_filed_under_another_patient_is_held_not_moved(tester, team) -> None:
    receive(raw=sample_bytes("oru_r01_psa.hl7"), channel="mllp")
    PatientFactory(
        nhs_number="9434765919",
        mrn="RXX999",
        family_name="Other",
        date_of_birth=dt.date(1950, 1, 1),
        teams=[team],
    )
    stolen = sample_bytes("oru_r01_corrected.hl7").replace(
        b"9990000018^^^NHS^NH~RXX1234567^^^RXX^MR||TESTER^Alan^James^^Mr||19580214",
        b"9434765919^^^NHS^NH||OTHER^Bob||19500101",
    )
    code, _, _ = ack_of(receive(raw=stolen, channel="mllp"))
    assert code == "AA"
    held = InboundMessage.objects.get(control_id="LAB0000103")
    assert held.status == Status.REVIEW
    assert Result.objects.get().patient == tester
    assert Result.objects.get().version == 1


def test_a_failure_inside_filing_rolls_back_what_it_wrote_but_keeps_the_message(tester) -> None:
    def explode(sender, **kwargs) -> None:
        raise RuntimeError("the database refused the row")

    # Django's own signal, sent as the observations are written: a failure inside filing.
    post_save.connect(explode, sender=Result)
    try:
        code, text, _ = ack_of(receive(raw=sample_bytes("oru_r01_psa.hl7"), channel="mllp"))
    finally:
        post_save.disconnect(explode, sender=Result)
    assert code == "AE"
    assert "RuntimeError" in text
    assert not Result.objects.exists()
    assert not DomainEvent.objects.exists(), "the event is rolled back with the result"
    stored = InboundMessage.objects.get()
    assert stored.status == Status.ERROR


@pytest.fixture
def superuser(django_user_model):
    return django_user_model.objects.create_superuser("root", "root@example.org", "x" * 16)


def test_a_control_id_reused_for_a_different_message_is_refused_and_kept(tester) -> None:
    receive(raw=sample_bytes("oru_r01_psa.hl7"), channel="mllp")
    different = sample_bytes("oru_r01_psa.hl7").replace(b"||0.24|", b"||0.99|")
    code, text, _ = ack_of(receive(raw=different, channel="mllp"))
    assert code == "AE"
    assert "already used" in text
    assert InboundMessage.objects.count() == 2
    refused = InboundMessage.objects.get(control_id="")
    assert refused.raw_bytes == different and refused.status == Status.ERROR
    assert Result.objects.get().observations.get().value_text == "0.24"


def test_a_resend_with_a_new_message_time_is_still_a_repeat(tester) -> None:
    first = receive(raw=sample_bytes("oru_r01_psa.hl7"), channel="mllp")
    restamped = sample_bytes("oru_r01_psa.hl7").replace(b"|20261110141502||", b"|20261110142000||")
    assert receive(raw=restamped, channel="mllp") == first
    assert InboundMessage.objects.count() == 1


def test_a_message_with_an_empty_msh_2_is_refused_not_a_crash() -> None:
    # Found by the property test: "MSH||~\&..." once made the header reader split on "".
    code, _, _ = ack_of(
        receive(raw=b"MSH||~\\&|X|Y|RMS|RXX|20261110||ORU^R01|E1|P|2.4\r", channel="mllp")
    )
    assert code == "AR"
    assert InboundMessage.objects.get().status == Status.ERROR


def test_a_latin_1_message_that_starts_with_a_cr_is_answered_in_latin_1(team) -> None:
    """HL7 v2 MSH-18 (table 0211): the acknowledgement is written in the character set the
    message declares. Blank lines before MSH are skipped when the message is read, so they must
    not hide MSH-18 from the answer either: the control id "L1é" comes back as latin-1 bytes."""
    raw = b"\r" + message(
        "MSH|^~\\&|PAS|RXX01|RMS|RXX|20261102093000||ADT^A28^ADT_A05|L1\xe9|P|2.4|||||GBR|8859/1",
        "PID|1||9434765919^^^NHS^NH{status:01}||Brontë^Zoë||19600101|F",
    ).encode("latin-1")

    ack = receive(raw=raw, channel="mllp")

    assert b"|L1\xe9" in ack
    assert b"L1\xc3\xa9" not in ack


@pytest.mark.parametrize("leading", [b"\r", b"\r\n", b" \t\n"])
def test_a_refused_latin_1_message_after_blank_lines_is_answered_in_latin_1_and_says_so(
    leading: bytes,
) -> None:
    """HL7 v2 MSH-18 (table 0211): an acknowledgement is written in the sender's character set
    and declares it, since a receiver reads a message without MSH-18 as ASCII. A message we
    refuse (an order, which we do not take) is answered from its raw header: the answer must
    still say 8859/1 and carry the control id "L1é" as that character set writes it."""
    raw = leading + message(
        "MSH|^~\\&|PAS|RXX01|RMS|RXX|20261102093000||ORM^O01^ORM_O01|L1\xe9|P|2.4|||||GBR|8859/1",
        "PID|1||9434765919^^^NHS^NH||Brontë^Zoë||19600101|F",
    ).encode("latin-1")

    ack = parse(decode_message(receive(raw=raw, channel="mllp")))

    assert ack.value("MSA", 1) == "AR"
    assert ack.charset == "8859/1"
    assert ack.value("MSA", 2) == "L1é"
