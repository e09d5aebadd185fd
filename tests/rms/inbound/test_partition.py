"""Filing keys: what a stored message must be filed in order with.

Source: the requirement that filing keeps order per patient and per filler order number but
not across patients (docs/operations.md, "Acknowledging on storing"), with the HL7 v2.4
fields that name those things: PID-3 (patient identifier list; PID-2 in older feeds), OBR-3
(filler order number; ORC-3 when OBR-3 is empty), SCH-1/SCH-2 (placer / filler appointment
id), TXA-12 (unique document number). Two messages must wait for each other exactly when
their keys meet; the cases below are worked out from those fields by hand.
"""

from __future__ import annotations

from rms.hl7 import decode_message, parse
from rms.inbound import partition
from tests.rms.hl7.samples import MDM_T02, MSH_ORU, SIU_S12, message, sample_bytes, sample_message


def keys_of(raw: bytes | str) -> set[str]:
    text = raw if isinstance(raw, str) else decode_message(raw)
    return set(partition.filing_keys(parse(text)))


def test_a_result_is_keyed_by_each_patient_identifier_and_its_filler_order_number() -> None:
    # PID-3: 9990000018 (NHS) ~ RXX1234567 (MRN); OBR-3: 26L0045123.
    assert keys_of(sample_bytes("oru_r01_psa.hl7")) == {
        "id:9990000018",
        "id:RXX1234567",
        "order:26L0045123",
    }


def test_a_correction_meets_its_original_through_the_filler_order_number() -> None:
    original = keys_of(sample_bytes("oru_r01_psa.hl7"))
    correction = keys_of(sample_bytes("oru_r01_corrected.hl7"))
    assert "order:26L0045123" in original & correction


def test_a_correction_sent_under_another_patient_still_meets_its_original() -> None:
    # A wrong-patient correction: same OBR-3, a different PID-3. It must wait for the
    # original, or it could be filed first and find nothing to correct.
    moved = (
        sample_bytes("oru_r01_corrected.hl7")
        .replace(b"9990000018", b"9990000026")
        .replace(b"RXX1234567", b"RXX7654321")
    )
    original = keys_of(sample_bytes("oru_r01_psa.hl7"))
    assert original & keys_of(moved) == {"order:26L0045123"}


def test_two_patients_results_share_no_key() -> None:
    first = keys_of(sample_bytes("oru_r01_psa.hl7"))
    other = keys_of(
        sample_bytes("oru_r01_psa.hl7")
        .replace(b"9990000018", b"9990000026")
        .replace(b"RXX1234567", b"RXX7654321")
        .replace(b"26L0045123", b"26L0099999")
    )
    assert not first & other


def test_a_patient_named_by_mrn_alone_meets_one_named_by_nhs_number_and_mrn() -> None:
    by_mrn = message(
        MSH_ORU,
        "PID|1||RXX1234567^^^RXX^MR||TESTER^Alan||19580214|M",
        "OBR|1||F77|PSA|||20261110083000||||||||||||||20261110141500||CH|F",
        "OBX|1|NM|PSA^PSA^WINPATH||0.30|ug/L|||||F",
    )
    assert "id:RXX1234567" in keys_of(by_mrn) & keys_of(sample_bytes("oru_r01_psa.hl7"))


def test_identifiers_are_compared_without_spaces_and_case() -> None:
    spaced = message(
        MSH_ORU,
        "PID|1||999 000 0018^^^NHS^NH~rxx1234567^^^RXX^MR||TESTER^Alan||19580214|M",
        "OBR|1||26l0045123|PSA|||20261110083000||||||||||||||20261110141500||CH|F",
        "OBX|1|NM|PSA^PSA^WINPATH||0.30|ug/L|||||F",
    )
    assert keys_of(spaced) == keys_of(sample_bytes("oru_r01_psa.hl7"))


def test_the_filler_order_number_falls_back_to_orc_3() -> None:
    orc_only = message(
        MSH_ORU,
        "PID|1||9990000018^^^NHS^NH||TESTER^Alan||19580214|M",
        "ORC|RE|ORD1|ORCFILLER9",
        "OBR|1|ORD1||PSA|||20261110083000||||||||||||||20261110141500||CH|F",
        "OBX|1|NM|PSA^PSA^WINPATH||0.30|ug/L|||||F",
    )
    assert "order:ORCFILLER9" in keys_of(orc_only)


def test_an_appointment_is_keyed_by_its_id_and_a_document_by_its_number() -> None:
    assert "appointment:ID123" in keys_of(SIU_S12)  # SCH-1 empty, SCH-2 = ID123
    assert "id:9999999999" in keys_of(SIU_S12)
    assert "document:DOC-0001" in keys_of(MDM_T02)  # TXA-12
    assert "id:9990000018" in keys_of(MDM_T02)


def test_a_demographic_update_is_keyed_by_the_patient_alone() -> None:
    keys = set(partition.filing_keys(sample_message("adt_a28_pas_new_patient.hl7")))
    assert keys and all(key.startswith("id:") for key in keys)


def test_a_message_naming_no_one_shares_the_one_key_of_such_messages() -> None:
    nobody = message(MSH_ORU, "PID|1||||NOBODY^Known||19580214|M", "OBR|1||||PSA")
    assert keys_of(nobody) == {partition.UNKEYED}


def test_keys_survive_the_row_and_hash_to_postgresql_int4() -> None:
    keys = partition.filing_keys(sample_message("oru_r01_psa.hl7"))
    assert partition.keys_from_text(partition.keys_text(keys)) == keys
    for key in keys:
        assert -(2**31) <= partition.lock_id(key) < 2**31
    assert partition.lock_id("id:9990000018") == partition.lock_id("id:9990000018")
    assert partition.lock_id("id:9990000018") != partition.lock_id("id:9990000026")
