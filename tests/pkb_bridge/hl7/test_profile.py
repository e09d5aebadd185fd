"""PKB's conformance profile (``pkb_bridge.hl7.profile``): what it accepts and what it refuses.

The messages here are written by hand from PKB's interface (pkb-hl7-interface.md, Appendix B's
illustrative ORU and Appendix A's samples), not produced by the builders, and changed one field
at a time to break one rule of the section each test names.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, assume, given, settings

from pkb_bridge.hl7 import profile
from tests.pkb_bridge.hl7.test_properties import NON_BLANK, _messages

MSH = "MSH|^~\\&|SCR_RMS|RXX|HL7API|PKB|20250301120000||ORU^R01^ORU_R01|3f6c2a9e|P|2.4"
PID = "PID|||9434765919^^^NHS^NH{status:01}||Smith^Jane^^^Mrs||19600101|F"
PV1 = "PV1|1|O||||||||ONC"
ORC = "ORC|RE||FON0001"
OBR = "OBR|1||FON0001|CEA^Carcinoembryonic antigen^RMS|||20250301090000+0000"
OBX_1 = "OBX|1|NM|CEA^CEA^RMS||3.1|ug/L|0-5|N|||F||14|20250301090000+0000"
OBX_2 = "OBX|2|NM|CA125^CA 125^RMS||40|kU/L|0-35|H|||F||14|20250301090000+0000"


def message(*segments: str) -> str:
    return "\r".join(segments) + "\r"


LAB = message(MSH, PID, PV1, ORC, OBR, OBX_1, OBX_2)
T11 = message(
    "MSH|^~\\&|RMS|RXX|HL7API|PKB|20140529180000||MDM^T11^MDM_T01|ABC0000000001|P|2.4",
    "EVN|T11|20140529180000+0100",
    "PID|||9999999999^^^NHS^NH{status:01}||Smith^John^Joe^^Mr||19700101|M",
    PV1,
    "TXA||||||||||||MYDOC00001",
)


def test_pkbs_illustrative_lab_message_with_the_delay_on_every_obx_conforms() -> None:
    """Appendix B, with both results carrying the delay (section 8) and MSH-9.3 (v2.4)."""
    assert profile.check(LAB) == []
    assert profile.profile_name(LAB) == "ORU^R01 lab"


def test_pkbs_document_deletion_sample_conforms() -> None:
    """Appendix A4 (MDM^T11), with EVN and PV1 of the v2.4 MDM_T01 structure."""
    assert profile.check(T11) == []


def _problems(text: str) -> str:
    return " | ".join(profile.check(text))


@pytest.mark.parametrize("status", ["W", "D", "X", "w"])
def test_a_withdrawn_observation_never_conforms(status: str) -> None:
    """Section 9.2: PKB shows values and does not use OBX-11; an observation the lab withdrew
    (W wrong, D deleted, X not obtained: HL7 table 0085) must not be published."""
    withdrawn = OBX_2.replace("|H|||F|", f"|H|||{status}|")
    assert "withdrawn observation" in _problems(message(MSH, PID, PV1, ORC, OBR, OBX_1, withdrawn))


def test_a_delay_on_the_first_obx_only_does_not_conform() -> None:
    """Section 8: the patient delay is OBX-13; a discrete report's later results without it
    would show at once."""
    undelayed = OBX_2.replace("|F||14|", "|F|||")
    assert "same delay" in _problems(message(MSH, PID, PV1, ORC, OBR, OBX_1, undelayed))


def test_an_obr_13_that_differs_from_the_obx_delay_does_not_conform() -> None:
    """Section 8: OBR-13 [UNVERIFIED] may be read instead; it must say the same."""
    obr = OBR + "||||||7"
    assert "OBR-13" in _problems(message(MSH, PID, PV1, ORC, obr, OBX_1, OBX_2))


def test_a_line_break_escape_in_a_tx_value_does_not_conform_but_in_ft_it_does() -> None:
    """HL7 v2.4 2.7: ``\\.br\\`` is a formatting command of FT; in TX PKB shows it as typed."""
    tx = "OBX|1|TX|COM^Comment^RMS||line one\\.br\\line two||||||F||14|20250301090000+0000"
    ft = tx.replace("|TX|", "|FT|")
    assert "formatting escape" in _problems(message(MSH, PID, PV1, ORC, OBR, tx))
    assert profile.check(message(MSH, PID, PV1, ORC, OBR, ft)) == []


def test_a_backslash_that_starts_no_escape_does_not_conform() -> None:
    """HL7 v2.4 2.7: the escape character only ever starts an escape sequence."""
    obx = OBX_1.replace("|N|||", "|N\\x|||")
    assert "backslash" in _problems(message(MSH, PID, PV1, ORC, OBR, obx, OBX_2))


def test_two_values_for_one_test_id_in_a_report_do_not_conform() -> None:
    """Section 9.2 [S15]: one filler order number may contain only one value per test id."""
    again = OBX_2.replace("CA125^CA 125^RMS", "CEA^CEA^RMS")
    assert "one value per test id" in _problems(message(MSH, PID, PV1, ORC, OBR, OBX_1, again))


def test_a_deletion_carries_no_obx() -> None:
    """Section 9.2: OBR-25 R deletes every result of the filler order number."""
    deletion = OBR + "||||||||||||||||||R"
    assert profile.check(message(MSH, PID, PV1, ORC, deletion)) == []
    assert "deletion" in _problems(message(MSH, PID, PV1, ORC, deletion, OBX_1))


def test_an_observation_time_is_required() -> None:
    """Section 9.2 and PKB's AR example (A5): no timestamp in OBX-14 or OBR-7 is rejected."""
    obr = OBR.replace("|||20250301090000+0000", "")
    obx = OBX_1.replace("|14|20250301090000+0000", "|14")
    assert "observation time" in _problems(message(MSH, PID, PV1, ORC, obr, obx))


def test_a_problem_names_the_report_and_the_observation_it_is_in() -> None:
    """A packed message carries many reports (section 9.2: several OBR groups a message): a
    refusal names the group and the OBX in it, counted from one, so the outbox's reason
    points at the value. Here the second report's second OBX is withdrawn (W) and has no
    observation time while its OBR has none either."""
    obr_2 = "OBR|2||FON0002|CEA^Carcinoembryonic antigen^RMS"
    obx_2 = OBX_2.replace("|H|||F||14|20250301090000+0000", "|H|||W||14")
    problems = profile.check(
        message(MSH, PID, PV1, ORC, OBR, OBX_1, "ORC|RE||FON0002", obr_2, OBX_1, obx_2)
    )
    assert problems == [
        "OBR[2].OBX[2]: OBX-11 W is a withdrawn observation, which is never published",
        "OBR[2].OBX[2]: an observation time (OBX-14 or OBR-7) is required",
    ]


def test_a_segment_whose_name_is_not_one_does_not_conform() -> None:
    """HL7 v2.4 section 2.7: a segment starts with its three-character name (an upper-case
    letter, then upper-case letters or digits). A lower-case "obx" is not one, nor a line that
    is a value's continuation."""
    problems = profile.check(message(MSH, PID, PV1, ORC, OBR, OBX_1, "obx|2|NM|X^X||1"))
    assert "Segment 7 does not start with a segment name" in problems
    problems = profile.check(message(MSH, PID, PV1, ORC, OBR, OBX_1, "Zx1|2"))
    assert "Segment 7 does not start with a segment name" in problems
    assert profile.check(message(MSH, PID, PV1, ORC, OBR, OBX_1, "ZX1|2")) == []


def test_a_timestamp_without_its_offset_does_not_conform_except_msh_7() -> None:
    """Section 10: every TS carries its UTC offset, except MSH-7 where one is discouraged (4)."""
    obx = OBX_1.replace("20250301090000+0000", "20250301090000")
    assert "OBX-14 must carry its UTC offset" in _problems(message(MSH, PID, PV1, ORC, OBR, obx))
    msh = MSH.replace("|20250301120000|", "|20250301120000+0000|")
    assert "MSH-7" in _problems(message(msh, PID, PV1, ORC, OBR, OBX_1))


def test_msh_9_must_name_the_v2_4_structure() -> None:
    """HL7 v2.4 table 0354: ORU^R01 is ORU_R01, SIU^S15 is SIU_S12, and so on."""
    msh = MSH.replace("ORU^R01^ORU_R01", "ORU^R01")
    assert "MSH-9.3 must be ORU_R01" in _problems(message(msh, PID, PV1, ORC, OBR, OBX_1))


def test_the_nhs_number_must_be_in_pkbs_form_and_valid() -> None:
    """Sections 5.1 and 11: NHSNO^^^NHS^NH{status:NN}, modulus 11 (9434765910 is invalid)."""
    bad_digit = PID.replace("9434765919", "9434765910")
    no_status = PID.replace("NH{status:01}", "NH")
    assert "modulus 11" in _problems(message(MSH, bad_digit, PV1, ORC, OBR, OBX_1))
    assert "NHSNO" in _problems(message(MSH, no_status, PV1, ORC, OBR, OBX_1))


def test_a_local_identifier_is_only_for_adt() -> None:
    """Section 5 [S8]: PKB cannot merge records and asks for local ids in A28/A31 only."""
    with_mrn = PID.replace("NH{status:01}|", "NH{status:01}~RMS000123^^^RXX^MR|")
    assert "local identifiers" in _problems(message(MSH, with_mrn, PV1, ORC, OBR, OBX_1))


def test_txa_12_and_txa_16_over_thirty_characters_do_not_conform() -> None:
    """HL7 v2.4: TXA-12 (EI) and TXA-16 (ST) are at most 30 characters."""
    long_number = "CP-7bcc517d-ce86-4a34-a128-b4bb4c1aaa21"
    too_long = T11.replace("MYDOC00001", long_number)
    assert "TXA-12.1 is longer than 30" in _problems(too_long)


def test_mdm_t11_for_a_care_plan_does_not_conform() -> None:
    """Sections 2 and 9.5 [S31-S33]: MDM^T11 does not apply to care plans; they cannot be
    deleted."""
    care_plan = T11.replace("TXA||", "TXA||CP|")
    assert "care plans" in _problems(care_plan)


def test_a_care_plan_without_its_required_fields_does_not_conform() -> None:
    """Section 9.5: TXA-4, TXA-12, TXA-17 AU, OBX-2 ED, OBX-3.2, OBX-5.2 TEXT, 5.3, 5.4."""
    plan = message(
        "MSH|^~\\&|RMS|RXX|HL7API|PKB|20250301120000||MDM^T02^MDM_T02|ABC1|P|2.4",
        "EVN|T02|20250301120000+0000",
        PID,
        PV1,
        "TXA|1|CP||20250301090000+0000||||||||PLAN0001||||plan.html|AU",
        "OBX|1|ED|CP^My care plan||^TEXT^HTML^Base64^PHA+SGk8L3A+||||||F",
    )
    assert profile.check(plan) == []
    assert profile.profile_name(plan) == "MDM^T02 care plan"
    assert "TXA-17" in _problems(plan.replace("|AU\r", "|\r"))
    assert "OBX-3.2" in _problems(plan.replace("CP^My care plan", "CP"))
    assert "not Base64" in _problems(plan.replace("PHA+SGk8L3A+", "not*base64"))


def test_a_raw_line_break_in_a_field_does_not_conform() -> None:
    """reliability-and-security.md E2/E7: a raw line break would end the segment at PKB."""
    broken = LAB.replace("Carcinoembryonic antigen", "Carcino\nembryonic")
    assert "line feed" in _problems(broken)


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(NON_BLANK)
def test_every_message_the_builders_make_conforms_whatever_the_free_text(text: str) -> None:
    """Every builder, with ``text`` in every free-text field it has (test_properties), makes a
    message the profile accepts: escaping never breaks the profile. (Text of control characters
    alone is dropped by the escape, which XML cannot carry, and leaves required fields blank.)"""
    assume(any(character.isprintable() and not character.isspace() for character in text))
    for kind, built in _messages(text).items():
        assert profile.check(built) == [], kind
