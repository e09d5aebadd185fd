"""Every message type, parsed by hl7apy against its v2.4 structure (tolerantly), has the
structure a v2.4 receiver expects and the values we meant, read by hl7apy's own field access."""

from __future__ import annotations

from pkb_bridge.hl7 import (
    build_adt,
    build_care_plan,
    build_mdm,
    build_mdm_delete,
    build_oru_lab,
    build_oru_radiology,
    build_siu,
)
from tests.pkb_bridge.hl7.support import (
    context,
    hl7apy_parse,
    lab_report,
    observation,
    patient,
    shape,
)
from tests.pkb_bridge.hl7.test_build_adt import DIAGNOSES
from tests.pkb_bridge.hl7.test_build_mdm import _document, _plan
from tests.pkb_bridge.hl7.test_build_oru import _radiology
from tests.pkb_bridge.hl7.test_build_siu import _appointment

ORU_PATIENT = ("ORU_R01_PATIENT", ("PID", ("ORU_R01_VISIT", ("PV1",))))
OBSERVATION = ("ORU_R01_OBSERVATION", ("OBX",))


def test_adt_parses_as_adt_a05() -> None:
    parsed = hl7apy_parse(build_adt(context(), patient(), DIAGNOSES))
    assert shape(parsed) == ("ADT_A05", ("MSH", "EVN", "PID", "DG1", "DG1"))
    nhs, mrn = parsed.pid.pid_3
    assert (nhs.cx_1.to_er7(), nhs.cx_4.to_er7(), nhs.cx_5.to_er7()) == (
        "9434765919",
        "NHS",
        "NH{status:01}",
    )
    assert (mrn.cx_1.to_er7(), mrn.cx_4.to_er7(), mrn.cx_5.to_er7()) == ("RMS000123", "RXX", "MR")
    assert parsed.pid.pid_5.xpn_1.to_er7() == "Smith"
    assert parsed.pid.pid_5.xpn_5.to_er7() == "Mrs"
    assert parsed.pid.pid_11.xad_6.to_er7() == "GBR"
    emails = [xtn.to_er7() for xtn in parsed.pid.pid_13]
    # By default the email is in XTN-1 and XTN-4 both (pkb-hl7-interface.md 6: which one PKB
    # reads is unverified).
    assert emails[0] == "jane.smith@example.org^NET^^jane.smith@example.org"
    assert parsed.pid.pid_13[0].xtn_4.to_er7() == "jane.smith@example.org"
    assert parsed.dg1[1].dg1_3.ce_3.to_er7() == "ICD-10"
    assert parsed.msh.msh_9.to_er7() == "ADT^A28^ADT_A05"
    assert parsed.msh.msh_18.to_er7() == "UNICODE UTF-8"


def test_a_packed_lab_oru_parses_as_oru_r01_with_one_order_group_per_report() -> None:
    reports = [
        lab_report(1, notes=("note",), observations=(observation(1, notes=("obx note",)),)),
        lab_report(2, count=2, delay_days=4),
    ]
    parsed = hl7apy_parse(build_oru_lab(context(), patient(), reports))
    assert shape(parsed) == (
        "ORU_R01",
        (
            "MSH",
            (
                "ORU_R01_PATIENT_RESULT",
                (
                    ORU_PATIENT,
                    (
                        "ORU_R01_ORDER_OBSERVATION",
                        ("ORC", "OBR", "NTE", ("ORU_R01_OBSERVATION", ("OBX", "NTE"))),
                    ),
                    ("ORU_R01_ORDER_OBSERVATION", ("ORC", "OBR", OBSERVATION, OBSERVATION)),
                ),
            ),
        ),
    )
    result = parsed.oru_r01_patient_result
    assert result.oru_r01_patient.oru_r01_visit.pv1.pv1_10.to_er7() == "ONC"
    second = result.oru_r01_order_observation[1]
    assert second.obr.obr_3.to_er7() == "FON0002"
    assert second.obr.obr_7.to_er7() == "20250301090000+0000"
    first_obx, second_obx = (group.obx for group in second.oru_r01_observation)
    assert first_obx.obx_13.to_er7() == "4"
    assert second_obx.obx_13.to_er7() == "4"
    assert first_obx.obx_5.to_er7() == "3.1"
    assert first_obx.obx_14.to_er7() == "20250301090000+0000"


def test_a_radiology_oru_parses_as_oru_r01_with_one_obx_a_line() -> None:
    parsed = hl7apy_parse(build_oru_radiology(context(), patient(), _radiology(delay_days=2)))
    order = parsed.oru_r01_patient_result.oru_r01_order_observation[0]
    assert shape(order) == ("ORU_R01_ORDER_OBSERVATION", ("ORC", "OBR", *[OBSERVATION] * 4))
    assert parsed.msh.msh_3.to_er7() == "RADIOLOGY"
    assert order.obr.obr_4.ce_2.to_er7() == "CT chest abdomen pelvis"
    assert [group.obx.obx_13.to_er7() for group in order.oru_r01_observation] == [
        "2",
        "2",
        "2",
        "2",
    ]


def test_mdm_t02_parses_as_mdm_t02() -> None:
    parsed = hl7apy_parse(build_mdm(context(), patient(), _document(delay_days=3)))
    assert shape(parsed) == ("MDM_T02", ("MSH", "EVN", "PID", "PV1", "TXA", "OBX"))
    assert parsed.txa.txa_12.to_er7() == "DOC0001"
    assert parsed.txa.txa_17.to_er7() == "AU"
    ed = parsed.obx.obx_5
    assert ed.to_er7().startswith("^TEXT^HTML^Base64^")
    assert parsed.obx.obx_13.to_er7() == "3"


def test_a_care_plan_parses_as_mdm_t02() -> None:
    parsed = hl7apy_parse(build_care_plan(context(), patient(), _plan()))
    assert shape(parsed) == ("MDM_T02", ("MSH", "EVN", "PID", "PV1", "TXA", "OBX"))
    assert parsed.txa.txa_2.to_er7() == "CP"
    assert parsed.obx.obx_3.ce_2.to_er7() == "Prostate cancer follow-up plan"


def test_mdm_t11_parses_as_mdm_t01() -> None:
    parsed = hl7apy_parse(build_mdm_delete(context(), patient(), "DOC0001"))
    assert shape(parsed) == ("MDM_T01", ("MSH", "EVN", "PID", "PV1", "TXA"))
    assert parsed.txa.txa_12.to_er7() == "DOC0001"


def test_siu_parses_as_siu_s12_with_patient_and_resource_groups() -> None:
    parsed = hl7apy_parse(build_siu(context(), patient(), _appointment(), trigger="S15"))
    assert shape(parsed) == (
        "SIU_S12",
        (
            "MSH",
            "SCH",
            "NTE",
            ("SIU_S12_PATIENT", ("PID", "PV1")),
            ("SIU_S12_RESOURCES", ("RGS", ("SIU_S12_PERSONNEL_RESOURCE", ("AIP",)))),
        ),
    )
    assert parsed.msh.msh_9.to_er7() == "SIU^S15^SIU_S12"
    assert parsed.sch.sch_11.to_er7() == "^^^20251120123100+0000^20251120123200+0000"
    assert parsed.siu_s12_patient.pv1.pv1_3.to_er7() == "^^^^^^^^health centre"
    personnel = parsed.siu_s12_resources.siu_s12_personnel_resource
    assert personnel.aip.aip_3.to_er7() == "^Jones^Stuart^James^^Dr"
