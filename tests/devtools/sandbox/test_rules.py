"""The sandbox answers and stores as PKB does (reference 3.2, 5, 6, 8, 9)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from devtools.sandbox import SandboxState
from pkb_bridge.hl7.ack import Ack, parse_ack
from tests.devtools.sandbox.messages import (
    BAD_NHS,
    NHS,
    OTHER_NHS,
    a28,
    dg1,
    join,
    mdm,
    msh,
    obx,
    oru,
    pid,
    siu,
)

NOW = datetime(2025, 3, 5, 12, 0, tzinfo=UTC)


@pytest.fixture
def state() -> SandboxState:
    return SandboxState(clock=lambda: NOW)


def send(state: SandboxState, message: str) -> Ack:
    return parse_ack(state.receive(message).ack_text)


def registered(state: SandboxState, nhs: str = NHS, **pid_args: str) -> SandboxState:
    assert send(state, a28(f"A28-{nhs}", nhs=nhs, **pid_args)).code == "AA"
    return state


# -- the ACK itself ----------------------------------------------------------------------------


def test_it_answers_aa_in_pkbs_ack_shape_echoing_the_control_id(state):
    text = state.receive(a28("CTRL-42")).ack_text

    msh_line, msa_line = text.split("\r")
    assert msh_line.startswith("MSH|^~\\&|HL7API|PKB|RMS|RXX|20250305120000+0000||ACK^R01|PKB-")
    assert msh_line.endswith("|P|2.4")
    assert msa_line == "MSA|AA|CTRL-42"


def test_it_answers_ae_unexpected_error_for_a_message_that_does_not_parse(state):
    ack = send(state, "this is not HL7")

    assert (ack.code, ack.text) == ("AE", "Unexpected error while processing: null")


def test_it_answers_ar_when_the_processing_id_is_not_the_configured_one(state):
    message = a28().replace("|P|2.4", "|T|2.4")

    ack = send(state, message)

    assert ack.code == "AR"
    assert ack.text == "Parsing or validation error: MSH-11: Processing ID must be P"
    assert state.patient(NHS) is None


def test_it_accepts_the_processing_id_it_was_configured_with():
    state = SandboxState(processing_id="T", clock=lambda: NOW)

    assert send(state, a28().replace("|P|2.4", "|T|2.4")).code == "AA"


# -- identifying the patient -------------------------------------------------------------------


@pytest.mark.parametrize(
    "identifiers",
    [
        "RMS000123^^^RXX^MR",  # a local id PKB was never told about
        f"{NHS}^^^XYZ^NH",  # the right type code under the wrong authority
        f"{NHS}^^^NHS^MR",
    ],
)
def test_it_rejects_a_message_with_no_identifier_pkb_recognises(state, identifiers):
    ack = send(state, a28(identifiers=identifiers))

    assert ack.code == "AR"
    assert ack.text.startswith("Parsing or validation error: PID: No recognised patient identifier")


def test_it_rejects_an_nhs_number_that_fails_modulus_11(state):
    ack = send(state, a28(nhs=BAD_NHS))

    assert ack.code == "AR"
    assert "Modulus 11" in ack.text
    assert BAD_NHS not in ack.text


def test_it_finds_a_record_by_its_pkb_id(state):
    registered(state)
    pkb_id = state.patient(NHS)["pkb_id"]

    ack = send(state, oru(identifiers=f"{pkb_id}^^^PKB^PI"))

    assert ack.code == "AA"
    assert "FON1" in state.patient(NHS)["lab_results"]


def test_it_answers_patient_not_found_for_an_unknown_pkb_id(state):
    ack = send(state, oru(identifiers="00000000-0000-0000-0000-000000000000^^^PKB^PI"))

    assert (ack.code, ack.text) == ("AR", "Patient not found")


# -- ADT^A28 / A31 -----------------------------------------------------------------------------


def test_an_a28_creates_the_record_with_its_demographics(state):
    ack = send(state, a28(email="jane@example.org"))

    patient = state.patient(NHS)
    assert ack.code == "AA"
    assert (patient["given_name"], patient["family_name"]) == ("Jane", "Smith")
    assert (patient["date_of_birth"], patient["sex"]) == ("1960-01-01", "F")
    assert patient["nhs_number_status"] == "01"
    assert patient["address"]["postcode"] == "AB1 2CD"


def test_an_a31_creates_a_record_exactly_as_an_a28_does(state):
    assert send(state, a28(event="A31")).code == "AA"

    assert state.patient(NHS) is not None


@pytest.mark.parametrize(
    ("field", "args"),
    [
        ("PID-5.2: Given name is required", {"given": ""}),
        ("PID-5.1: Family name is required", {"family": ""}),
        ("PID-7: Date of birth is required", {"dob": ""}),
        ("PID-8: Sex is required", {"sex": ""}),
    ],
)
def test_it_refuses_to_create_a_record_without_name_birth_date_or_sex(state, field, args):
    ack = send(state, a28(**args))

    assert ack.code == "AR"
    assert ack.text == f"Parsing or validation error: {field}"
    assert state.patient(NHS) is None


def test_an_update_ignores_blank_fields(state):
    registered(state)

    ack = send(state, a28("A31-2", event="A31", given="", dob="", sent="20250302120000"))

    patient = state.patient(NHS)
    assert ack.code == "AA"
    assert (patient["given_name"], patient["date_of_birth"]) == ("Jane", "1960-01-01")


def test_the_first_email_on_a_record_sends_an_invitation(state):
    send(state, a28(email="jane@example.org"))

    patient = state.patient(NHS)
    assert patient["email"] == "jane@example.org"
    assert patient["invited"] is True
    assert patient["invited_at"] == NOW.isoformat()


def test_a_record_without_an_email_is_not_invited(state):
    registered(state)

    assert state.patient(NHS)["invited"] is False


def test_a_later_email_is_added_unconfirmed_without_another_invitation(state):
    send(state, a28(email="jane@example.org"))
    invited_at = state.patient(NHS)["invited_at"]

    ack = send(state, a28("A31-2", event="A31", email="jane@work.example", sent="20250302120000"))

    patient = state.patient(NHS)
    assert ack.code == "AA"
    assert patient["email"] == "jane@example.org"
    assert patient["unconfirmed_emails"] == ["jane@work.example"]
    assert patient["invited_at"] == invited_at


def test_it_rejects_an_email_already_on_another_record(state):
    send(state, a28(email="shared@example.org"))

    ack = send(state, a28("A28-2", nhs=OTHER_NHS, given="Ann", email="Shared@Example.org"))

    assert (ack.code, ack.text) == ("AR", "Email address already in use by another patient")
    assert state.patient(OTHER_NHS) is None


def test_it_accepts_the_same_email_again_on_the_same_record(state):
    send(state, a28(email="jane@example.org"))

    assert send(state, a28("A31-2", event="A31", email="jane@example.org")).code == "AA"


def test_diagnoses_are_replaced_as_a_set(state):
    two = "\r".join([dg1(1, "363406005", "Colon cancer"), dg1(2, "254837009", "Breast cancer")])
    send(state, a28(dg1=two))

    send(state, a28("A31-2", event="A31", sent="20250302120000", dg1=dg1(1, "X1", "Other")))

    assert [d["code"] for d in state.patient(NHS)["diagnoses"]] == ["X1"]


def test_an_update_without_dg1_leaves_the_diagnoses_alone(state):
    send(state, a28(dg1=dg1(1, "363406005", "Colon cancer")))

    send(state, a28("A31-2", event="A31", sent="20250302120000"))

    assert [d["code"] for d in state.patient(NHS)["diagnoses"]] == ["363406005"]


def test_an_update_older_than_the_record_is_acknowledged_but_not_applied(state):
    send(state, a28(sent="20250302120000"))

    ack = send(state, a28("A31-old", event="A31", family="Older", sent="20250301120000"))

    assert ack.code == "AA"
    assert state.patient(NHS)["family_name"] == "Smith"


def test_unverified_nhs_numbers_are_quarantined_when_status_checking_is_on():
    state = SandboxState(nhs_status_checking=True, clock=lambda: NOW)

    ack = send(state, a28(status="02"))

    assert ack.code == "AA"  # PKB acknowledges queued messages too
    assert state.patient(NHS) is None
    assert state.snapshot()["quarantine"] == [{"control_id": "A28-1", "nhs_number": NHS}]


# -- ORU^R01 lab -------------------------------------------------------------------------------


def test_a_result_for_a_patient_with_no_record_is_refused(state):
    ack = send(state, oru())

    assert (ack.code, ack.text) == ("AR", "Patient not found")


def test_it_stores_lab_results_by_filler_order_number_and_test_code(state):
    registered(state)
    message = oru(observations=[obx(1, "CEA", "3.1", delay="14"), obx(2, "CA125", "20")])

    assert send(state, message).code == "AA"

    results = state.patient(NHS)["lab_results"]["FON1"]
    assert set(results) == {"CEA^RMS", "CA125^RMS"}
    cea = results["CEA^RMS"]
    assert (cea["value"], cea["units"], cea["panel"]) == ("3.1", "ug/L", "Tumour markers")
    assert cea["observed_at"] == "2025-03-01T09:00:00+00:00"
    # The delay of the first OBX applies to every item of the report.
    assert results["CA125^RMS"]["delay_days"] == 14


def test_it_reads_the_delay_from_obr_13_when_configured_to():
    state = registered(SandboxState(delay_field="OBR-13", clock=lambda: NOW))

    send(state, oru(obr_delay="7", observations=[obx(1, "CEA", "3.1", delay="14")]))

    assert state.patient(NHS)["lab_results"]["FON1"]["CEA^RMS"]["delay_days"] == 7


def test_an_observation_time_falls_back_to_obr_7(state):
    registered(state)

    ack = send(state, oru(observations=[obx(1, "CEA", "3.1", taken="")]))

    assert ack.code == "AA"
    observed = state.patient(NHS)["lab_results"]["FON1"]["CEA^RMS"]["observed_at"]
    assert observed == "2025-03-01T09:00:00+00:00"


def test_it_rejects_an_observation_with_no_time_in_obx_or_obr_in_pkbs_words(state):
    registered(state)
    message = oru(obr_time="", observations=[obx(1, "CEA", "3.1"), obx(2, "CA125", "20", taken="")])

    ack = send(state, message)

    assert ack.code == "AR"
    assert ack.text == (
        "Parsing or validation error: OBR[1].OBX[2]: No observation timestamp in OBX or OBR"
    )
    assert state.patient(NHS)["lab_results"] == {}


def test_it_rejects_the_same_test_twice_under_one_filler_order_number(state):
    registered(state)

    ack = send(state, oru(observations=[obx(1, "CEA", "3.1"), obx(2, "CEA", "3.2")]))

    assert ack.code == "AR"
    assert ack.text.startswith("Parsing or validation error: OBR[1].OBX[2]: Test CEA appears")
    assert state.patient(NHS)["lab_results"] == {}


def test_a_textual_report_may_repeat_its_test_code_line_by_line(state):
    registered(state)
    lines = [
        obx(1, "REP", "Line one", value_type="TX", units=""),
        obx(2, "REP", "Line two", value_type="TX", units=""),
    ]

    ack = send(state, oru(panel="Histology", observations=lines))

    assert ack.code == "AA"
    report = state.patient(NHS)["lab_results"]["FON1"]["TM^RMS"]
    assert report["is_report"] is True
    assert report["value"] == "Line one\nLine two"


def test_a_resend_with_a_different_value_is_a_correction_kept_with_its_history(state):
    registered(state)
    send(state, oru("ORU-1", observations=[obx(1, "CEA", "3.1")]))

    send(state, oru("ORU-2", observations=[obx(1, "CEA", "4.0")]))

    cea = state.patient(NHS)["lab_results"]["FON1"]["CEA^RMS"]
    assert (cea["value"], cea["corrected"]) == ("4.0", True)
    assert [old["value"] for old in cea["history"]] == ["3.1"]


def test_an_identical_resend_changes_nothing(state):
    registered(state)
    send(state, oru("ORU-1"))

    send(state, oru("ORU-1"))

    cea = state.patient(NHS)["lab_results"]["FON1"]["CEA^RMS"]
    assert (cea["times_received"], cea["corrected"], cea["history"]) == (2, False, [])


def test_obr_25_r_deletes_every_result_of_the_filler_order_number(state):
    registered(state)
    send(state, oru("ORU-1", observations=[obx(1, "CEA", "3.1"), obx(2, "CA125", "20")]))
    send(state, oru("ORU-OTHER", fon="FON2"))

    ack = send(state, oru("ORU-2", status="R", observations=[]))

    results = state.patient(NHS)["lab_results"]
    assert ack.code == "AA"
    assert all(item["deleted"] for item in results["FON1"].values())
    assert results["FON2"]["CEA^RMS"]["deleted"] is False


def test_a_test_under_a_new_panel_name_moves_to_other(state):
    registered(state)
    send(state, oru("ORU-1", fon="FON1", panel="Tumour markers"))

    send(state, oru("ORU-2", fon="FON2", panel="Misc"))

    assert state.patient(NHS)["lab_results"]["FON2"]["CEA^RMS"]["panel"] == "Other"


# -- ORU^R01 radiology -------------------------------------------------------------------------


def test_a_radiology_report_is_stored_by_filler_order_number_and_replaced_on_resend(state):
    registered(state)
    first = [obx(1, "CTCAP", "No evidence of recurrence.", value_type="TX", units="")]
    second = [obx(1, "CTCAP", "Addendum: small node.", value_type="TX", units="")]
    send(state, oru("RAD-1", fon="RAD1", panel="CT chest", radiology=True, observations=first))

    ack = send(
        state, oru("RAD-2", fon="RAD1", panel="CT chest", radiology=True, observations=second)
    )

    report = state.patient(NHS)["radiology"]["RAD1"]
    assert ack.code == "AA"
    assert (report["title"], report["text"], report["versions"]) == (
        "CT chest",
        "Addendum: small node.",
        2,
    )
    assert state.patient(NHS)["lab_results"] == {}


def test_a_radiology_report_needs_obr_7(state):
    registered(state)

    ack = send(state, oru(radiology=True, obr_time="", observations=[]))

    assert ack.code == "AR"
    assert "OBR-7" in ack.text


# -- MDM^T02 / T11 -----------------------------------------------------------------------------


def test_it_stores_a_document_by_txa_12_and_deletes_it_on_t11(state):
    registered(state)
    assert send(state, mdm("MDM-1", delay="3")).code == "AA"
    document = state.patient(NHS)["documents"]["DOC1"]
    assert (document["title"], document["text"], document["delay_days"]) == (
        "Clinic letter",
        "<p>Dear patient</p>",
        3,
    )

    assert send(state, mdm("MDM-2", event="T11")).code == "AA"

    assert state.patient(NHS)["documents"]["DOC1"]["deleted"] is True


def test_it_rejects_a_document_that_is_not_authenticated(state):
    registered(state)

    ack = send(state, mdm(status="PA"))

    assert ack.code == "AR"
    assert "TXA-17" in ack.text


def test_a_care_plan_keeps_every_version(state):
    registered(state)
    send(state, mdm("CP-1", document_type="CP", number="PLAN1", content="<p>v1</p>"))

    send(state, mdm("CP-2", document_type="CP", number="PLAN1", content="<p>v2</p>"))

    plan = state.patient(NHS)["care_plans"]["PLAN1"]
    assert [v["text"] for v in plan["versions"]] == ["<p>v1</p>", "<p>v2</p>"]


def test_a_care_plan_cannot_be_deleted(state):
    registered(state)
    send(state, mdm("CP-1", document_type="CP", number="PLAN1"))

    ack = send(state, mdm("CP-2", event="T11", document_type="CP", number="PLAN1"))

    assert (ack.code, ack.text) == ("AR", "Care plans cannot be deleted")
    assert len(state.patient(NHS)["care_plans"]["PLAN1"]["versions"]) == 1


def test_a_t11_naming_a_care_plan_without_its_type_is_refused_too(state):
    registered(state)
    send(state, mdm("CP-1", document_type="CP", number="PLAN1"))

    ack = send(state, mdm("CP-2", event="T11", document_type="", number="PLAN1"))

    assert (ack.code, ack.text) == ("AR", "Care plans cannot be deleted")


# -- SIU ---------------------------------------------------------------------------------------


def test_appointments_are_booked_cancelled_marked_dna_and_rebooked_by_placer_id(state):
    registered(state)

    assert send(state, siu("S-1")).code == "AA"
    appointment = state.patient(NHS)["appointments"]["APPT1"]
    assert (appointment["status"], appointment["reason"]) == ("booked", "Follow-up")
    assert appointment["start"].startswith("2025-03-15T09:30")

    send(state, siu("S-2", event="S15", start=""))
    assert state.patient(NHS)["appointments"]["APPT1"]["status"] == "cancelled"
    send(state, siu("S-3", event="S26", start=""))
    assert state.patient(NHS)["appointments"]["APPT1"]["status"] == "dna"
    assert send(state, siu("S-4", event="S13", start="202503150900")).code == "AA"
    assert state.patient(NHS)["appointments"]["APPT1"]["status"] == "booked"


def test_an_appointment_needs_a_placer_id(state):
    registered(state)

    ack = send(state, siu(placer=""))

    assert ack.code == "AR"
    assert "SCH-1" in ack.text


@pytest.mark.parametrize("event", ["S12", "S13", "S14"])
def test_a_booking_or_change_needs_a_start_time(state, event):
    registered(state)

    ack = send(state, siu(event=event, start=""))

    assert ack.code == "AR"
    assert "SCH-11.4" in ack.text


def test_cancelling_an_unknown_appointment_needs_the_full_booking(state):
    registered(state)

    assert send(state, siu("S-1", event="S15", start="")).code == "AR"
    assert send(state, siu("S-2", event="S15")).code == "AA"
    assert state.patient(NHS)["appointments"]["APPT1"]["status"] == "cancelled"


def test_it_rejects_a_message_type_pkb_does_not_take(state):
    registered(state)
    message = join(msh("ADT^A40", "MERGE-1"), pid())

    ack = send(state, message)

    assert ack.code == "AR"
    assert "ADT^A40 is not supported" in ack.text


# -- the message log ---------------------------------------------------------------------------


def test_it_logs_every_message_in_arrival_order_with_its_ack_code(state):
    send(state, oru("ORU-EARLY"))
    send(state, a28("A28-1"))
    send(state, oru("ORU-1"))
    send(state, oru("ORU-1"))

    log = state.messages()

    assert [(m["control_id"], m["ack_code"]) for m in log] == [
        ("ORU-EARLY", "AR"),
        ("A28-1", "AA"),
        ("ORU-1", "AA"),
        ("ORU-1", "AA"),
    ]
    assert [m["seq"] for m in log] == [1, 2, 3, 4]
    assert {m["nhs_number"] for m in log} == {NHS}
    assert log[1]["message_type"] == "ADT^A28"
    assert "raw" not in log[0]


def test_an_update_found_by_pkb_id_may_repeat_the_records_own_email(state):
    send(state, a28(email="jane@example.org"))
    pkb_id = state.patient(NHS)["pkb_id"]
    message = a28("A31-2", event="A31", identifiers=f"{pkb_id}^^^PKB^PI", email="jane@example.org")

    ack = send(state, message)

    assert ack.code == "AA"
    assert state.messages()[-1]["nhs_number"] == NHS
