from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from pkb_bridge.hl7 import (
    RadiologyReport,
    build_oru_lab,
    build_oru_radiology,
    pid3_identifiers,
    segment_counts,
)
from rms.hl7 import extract_patient, extract_results, parse, report_text
from tests.pkb_bridge.hl7.support import (
    NASTY,
    OBSERVED_AT,
    context,
    field,
    lab_report,
    observation,
    patient,
    segment,
    segments,
)

NHS_ONLY = [("9434765919", "NHS", "NH")]


def _names(message: str) -> list[str]:
    return [line[:3] for line in segments(message)]


# --- Lab --------------------------------------------------------------------------------------


def test_a_lab_message_has_pkbs_lab_structure() -> None:
    message = build_oru_lab(context(), patient(), [lab_report(count=2)])
    assert _names(message) == ["MSH", "PID", "PV1", "ORC", "OBR", "OBX", "OBX"]
    msh = segment(message, "MSH")
    assert field(msh, 3) == "RMS"
    assert field(msh, 9) == "ORU^R01^ORU_R01"


def test_pid_carries_only_the_nhs_number_outside_adt() -> None:
    message = build_oru_lab(context(), patient(), [lab_report()])
    assert pid3_identifiers(message) == NHS_ONLY
    pid = segment(message, "PID")
    assert field(pid, 5) == "Smith^Jane^Ann^^Mrs"
    assert (field(pid, 7), field(pid, 8)) == ("19600101", "F")
    # No address, telephone or email outside ADT.
    assert (field(pid, 11), field(pid, 13), field(pid, 14)) == ("", "", "")


def test_the_local_id_can_be_included_when_pkb_agrees() -> None:
    message = build_oru_lab(context(), patient(), [lab_report()], include_local_id=True)
    assert pid3_identifiers(message) == [*NHS_ONLY, ("RMS000123", "RXX", "MR")]


def test_pv1_carries_the_service_code_for_the_privacy_label() -> None:
    assert segment(build_oru_lab(context(), patient(), [lab_report()]), "PV1") == (
        "PV1|1|O||||||||ONC"
    )
    assert segment(build_oru_lab(context(service_code=""), patient(), [lab_report()]), "PV1") == (
        "PV1|1|O"
    )


def test_orc_obr_and_obx_match_the_reference_example() -> None:
    # pkb-hl7-interface.md Appendix B, with our reported time and clinician added.
    report = lab_report(
        filler_order_number="FON0001",
        service_code="CEA",
        service_name="Carcinoembryonic antigen",
        delay_days=14,
        observations=(observation(code="CEA", name="CEA"),),
    )
    message = build_oru_lab(context(), patient(), [report])
    assert segment(message, "ORC") == "ORC|RE||FON0001"
    obr = segment(message, "OBR")
    assert field(obr, 1) == "1"
    assert field(obr, 3) == "FON0001"
    assert field(obr, 4) == "CEA^Carcinoembryonic antigen^RMS"
    assert field(obr, 7) == "20250301090000+0000"
    assert field(obr, 16) == "^Jones^Stuart^James^^Dr"
    assert field(obr, 22) == "20250301153000+0000"
    assert field(obr, 25) == "F"
    assert segment(message, "OBX") == (
        "OBX|1|NM|CEA^CEA^RMS||3.1|ug/L|0-5|N|||F||14|20250301090000+0000"
    )


def test_timestamps_in_summer_carry_the_bst_offset() -> None:
    summer = datetime(2025, 7, 1, 8, 0, tzinfo=UTC)
    report = lab_report(observed_at=summer, observations=(observation(observed_at=summer),))
    message = build_oru_lab(context(), patient(), [report])
    assert field(segment(message, "OBR"), 7) == "20250701090000+0100"
    assert field(segment(message, "OBX"), 14) == "20250701090000+0100"


def test_every_obx_of_a_discrete_report_carries_the_delay() -> None:
    """pkb-hl7-interface.md 8 and 9.2: a discrete report is one result per OBX, and PKB hides a
    result's content for OBX-13 days; a later OBX without it would show at once."""
    message = build_oru_lab(context(), patient(), [lab_report(delay_days=7)])
    delays = [field(segment(message, "OBX", n), 13) for n in range(1, 6)]
    assert delays == ["7", "7", "7", "7", "7"]
    assert field(segment(message, "OBR"), 13) == ""


def test_the_delay_can_go_in_obr_13_as_well() -> None:
    """pkb-hl7-interface.md 8: PKB's pathology FAQ names OBR-13 [UNVERIFIED]; set to OBR-13 the
    delay is written there and still on every OBX."""
    message = build_oru_lab(context(), patient(), [lab_report(delay_days=7)], delay_field="OBR-13")
    assert field(segment(message, "OBR"), 13) == "7"
    assert all(field(segment(message, "OBX", n), 13) == "7" for n in range(1, 6))


def test_an_unknown_delay_field_is_refused() -> None:
    with pytest.raises(ValueError, match="delay_field"):
        build_oru_lab(context(), patient(), [lab_report()], delay_field="OBX-14")  # type: ignore[arg-type]


def test_the_longest_delay_asked_for_in_a_group_is_the_one_sent() -> None:
    report = lab_report(
        delay_days=2,
        observations=(observation(1, delay_days=1), observation(2, delay_days=10)),
    )
    message = build_oru_lab(context(), patient(), [report])
    assert [field(segment(message, "OBX", n), 13) for n in (1, 2)] == ["10", "10"]


def test_a_delay_of_zero_is_sent_to_release_an_earlier_delay() -> None:
    message = build_oru_lab(context(), patient(), [lab_report(delay_days=0)])
    assert field(segment(message, "OBX"), 13) == "0"


def test_no_delay_leaves_obx_13_empty() -> None:
    message = build_oru_lab(context(), patient(), [lab_report()])
    assert field(segment(message, "OBX"), 13) == ""


def test_a_delayed_report_without_observations_is_refused() -> None:
    with pytest.raises(ValueError, match="delay"):
        build_oru_lab(context(), patient(), [lab_report(count=0, delay_days=3)])


def test_a_deletion_keeps_the_filler_order_number_and_may_omit_the_observations() -> None:
    report = lab_report(count=0, result_status="R", delay_days=3)
    message = build_oru_lab(context(), patient(), [report])
    assert _names(message) == ["MSH", "PID", "PV1", "ORC", "OBR"]
    obr = segment(message, "OBR")
    assert (field(obr, 3), field(obr, 25)) == ("FON0001", "R")


def test_a_deletion_sends_no_observation_values() -> None:
    """pkb-hl7-interface.md 9.2: OBR-25 R deletes every result of the filler order number; a
    deletion has no value the patient should see, so none is sent."""
    message = build_oru_lab(context(), patient(), [lab_report(result_status="R")])
    assert "OBX" not in segment_counts(message)
    assert field(segment(message, "OBR"), 25) == "R"


def test_several_reports_are_several_orc_obr_groups_in_order() -> None:
    reports = [lab_report(n, count=2) for n in (1, 2, 3)]
    message = build_oru_lab(context(), patient(), reports)
    assert _names(message) == ["MSH", "PID", "PV1"] + ["ORC", "OBR", "OBX", "OBX"] * 3
    assert [field(segment(message, "OBR", n), 1) for n in (1, 2, 3)] == ["1", "2", "3"]
    assert [field(segment(message, "OBR", n), 3) for n in (1, 2, 3)] == [
        "FON0001",
        "FON0002",
        "FON0003",
    ]
    # OBX set ids restart in each group.
    assert [field(segment(message, "OBX", n), 1) for n in range(1, 7)] == ["1", "2"] * 3


def test_an_empty_report_list_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one report"):
        build_oru_lab(context(), patient(), [])


def test_notes_follow_the_obr_and_the_obx_they_belong_to() -> None:
    report = lab_report(
        notes=("Report note",),
        observations=(observation(1, notes=("First note", "Second note")), observation(2)),
    )
    message = build_oru_lab(context(), patient(), [report])
    assert _names(message) == ["MSH", "PID", "PV1", "ORC", "OBR", "NTE", "OBX", "NTE", "NTE", "OBX"]
    assert segment(message, "NTE", 1) == "NTE|1||Report note"
    assert segment(message, "NTE", 3) == "NTE|2||Second note"


def test_a_lab_message_reads_back_with_the_inbound_parser() -> None:
    report = lab_report(
        placer_order_number="PL1",
        notes=("Haemolysed sample",),
        observations=(
            observation(1, value="<0.01", value_type="ST", abnormal_flag="L", status="C"),
            observation(2, notes=("Repeat in 3 months",), observed_at=None),
        ),
    )
    parsed = parse(build_oru_lab(context(), patient(), [report]))
    assert extract_patient(parsed).nhs_number == "9434765919"
    (group,) = extract_results(parsed)
    assert group.filler_order_number == "FON0001"
    assert group.placer_order_number == "PL1"
    assert (group.service_code, group.service_name, group.service_system) == (
        "CEA",
        "Tumour markers",
        "RMS",
    )
    assert group.observed_at == OBSERVED_AT
    assert group.reported_at == report.reported_at
    assert group.status == "F"
    assert group.ordering_clinician == "Dr Stuart Jones"
    assert group.notes == ("Haemolysed sample",)
    first, second = group.observations
    assert (first.value_type, first.value_text, first.abnormal_flags, first.status) == (
        "ST",
        "<0.01",
        "L",
        "C",
    )
    assert (second.code, second.name, second.code_system) == ("T2", "Test 2", "RMS")
    assert (second.numeric, second.units, second.reference_range) == (
        second.numeric.__class__("3.1"),
        "ug/L",
        "0-5",
    )
    assert second.notes == ("Repeat in 3 months",)
    # No OBX-14: the receiver falls back to OBR-7.
    assert field(segment(build_oru_lab(context(), patient(), [report]), "OBX", 2), 14) == ""
    assert second.observed_at == OBSERVED_AT


@pytest.mark.parametrize(
    "text",
    [
        NASTY,
        "O'Brien Zoë Łukasz 🙂",
        "line one\rline two",
        "line one\nline two",
        "line one\r\nline two\r\n",
        "\rPID|1||9999999999^^^NHS^NH",  # E7: text that looks like a segment
        "\r\nMSH|^~\\&|X",
        "a\x0bb\x1cc",  # E3: MLLP frame bytes
    ],
)
def test_free_text_never_adds_a_segment_and_reads_back_exactly(text: str) -> None:
    report = lab_report(
        service_name=text,
        ordering_clinician=text,
        notes=(text,),
        observations=(
            observation(1, value=text, value_type="TX", name=text, units=text, notes=(text,)),
            observation(2, reference_range=text, abnormal_flag=text),
        ),
    )
    plain = lab_report(notes=("x",), observations=(observation(1, notes=("x",)), observation(2)))
    message = build_oru_lab(context(), patient(family_name=text), [report])
    assert segment_counts(message) == segment_counts(build_oru_lab(context(), patient(), [plain]))
    assert pid3_identifiers(message) == NHS_ONLY
    expected = text.replace("\r\n", "\n").replace("\r", "\n")
    parsed = parse(message)
    assert extract_patient(parsed).family_name == expected
    (group,) = extract_results(parsed)
    first, second = group.observations
    assert group.service_name == group.ordering_clinician == expected
    assert group.notes == first.notes == (expected,)
    assert first.value_text == first.name == first.units == expected
    assert second.reference_range == second.abnormal_flags == expected


# --- Radiology --------------------------------------------------------------------------------

REPORT_TEXT = "CT chest, abdomen and pelvis.\r\nFindings: no change.\n\nImpression: stable disease."


def _radiology(**overrides: object) -> RadiologyReport:
    values: dict[str, object] = {
        "filler_order_number": "RAD0001",
        "service_code": "CTCAP",
        "service_name": "CT chest abdomen pelvis",
        "observed_at": OBSERVED_AT,
        "report_text": REPORT_TEXT,
        "ordering_clinician": "Dr A Smith",
    }
    values.update(overrides)
    return RadiologyReport(**values)  # type: ignore[arg-type]


def test_a_radiology_message_is_sent_as_radiology() -> None:
    message = build_oru_radiology(context(), patient(), _radiology())
    msh = segment(message, "MSH")
    assert (field(msh, 3), field(msh, 9)) == ("RADIOLOGY", "ORU^R01^ORU_R01")
    assert (
        field(
            segment(
                build_oru_radiology(context(radiology_application="CRIS"), patient(), _radiology()),
                "MSH",
            ),
            3,
        )
        == "CRIS"
    )
    assert pid3_identifiers(message) == NHS_ONLY


def test_a_radiology_report_is_one_tx_obx_a_line_under_one_code() -> None:
    message = build_oru_radiology(context(), patient(), _radiology())
    assert _names(message) == ["MSH", "PID", "PV1", "ORC", "OBR", "OBX", "OBX", "OBX", "OBX"]
    obr = segment(message, "OBR")
    assert field(obr, 4) == "CTCAP^CT chest abdomen pelvis"
    assert field(obr, 7) == "20250301090000+0000"
    assert field(obr, 16) == "^Dr A Smith"
    obxs = [segment(message, "OBX", n) for n in range(1, 5)]
    assert {field(obx, 2) for obx in obxs} == {"TX"}
    assert {field(obx, 3) for obx in obxs} == {"CTCAP^CT chest abdomen pelvis"}
    assert [field(obx, 5) for obx in obxs] == [
        "CT chest, abdomen and pelvis.",
        "Findings: no change.",
        "",
        "Impression: stable disease.",
    ]


def test_the_radiology_delay_is_on_every_line() -> None:
    """pkb-hl7-interface.md 9.3 and 8: PKB reads the delay from the first OBX of a report; it is
    written on every line too, so that no line depends on how PKB joins them."""
    message = build_oru_radiology(context(), patient(), _radiology(delay_days=5))
    assert [field(segment(message, "OBX", n), 13) for n in range(1, 5)] == ["5", "5", "5", "5"]


def test_a_radiology_deletion_needs_no_text() -> None:
    message = build_oru_radiology(
        context(), patient(), _radiology(report_text="", result_status="R")
    )
    assert _names(message) == ["MSH", "PID", "PV1", "ORC", "OBR"]
    assert field(segment(message, "OBR"), 25) == "R"


def test_a_corrected_radiology_report_marks_its_lines_corrected() -> None:
    message = build_oru_radiology(context(), patient(), _radiology(result_status="C"))
    assert field(segment(message, "OBR"), 25) == "C"
    assert field(segment(message, "OBX"), 11) == "C"


@pytest.mark.parametrize(
    "text",
    [
        REPORT_TEXT,
        NASTY + "\n" + NASTY,
        "\rPID|1||9999999999^^^NHS^NH\rOBX|1|TX|X||injected",
        "Zoë 🙂\r\n\r\nŁukasz\n",
        "ends with a backslash \\",
    ],
)
def test_a_radiology_report_reads_back_exactly(text: str) -> None:
    message = build_oru_radiology(context(), patient(), _radiology(report_text=text))
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    counts = segment_counts(message)
    assert counts["PID"] == 1
    assert counts["OBX"] == len(lines)
    assert pid3_identifiers(message) == NHS_ONLY
    (group,) = extract_results(parse(message))
    assert report_text(group) == "\n".join(lines)


def test_building_an_oru_takes_microseconds_not_hl7apys_milliseconds() -> None:
    # hl7apy takes ~14 ms a message; string building ~20-40 µs here. 1 ms leaves room for a
    # loaded CI machine and still fails if someone builds through hl7apy.
    report = lab_report()
    runs = 500
    started = time.perf_counter()
    for _ in range(runs):
        build_oru_lab(context(), patient(), [report])
    assert (time.perf_counter() - started) / runs < 0.001


def _as_zoneinfo_writes_it(moment: datetime) -> str:
    """The reference: Python's own conversion to Europe/London, with its offset."""
    local = moment.astimezone(ZoneInfo("Europe/London"))
    offset = local.utcoffset()
    assert offset is not None
    minutes = int(offset.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    return f"{local:%Y%m%d%H%M%S}{sign}{abs(minutes) // 60:02d}{abs(minutes) % 60:02d}"


def _obr7(moment: datetime) -> str:
    return field(
        segment(build_oru_lab(context(), patient(), [lab_report(observed_at=moment)]), "OBR"), 7
    )


def _clock_changes(first_year: int, last_year: int) -> list[datetime]:
    """Every change of Europe/London's offset in these years, to the second, from zoneinfo."""
    london = ZoneInfo("Europe/London")
    changes = []
    day = timedelta(days=1)
    moment = datetime(first_year, 1, 1, tzinfo=UTC)
    while moment.year <= last_year:
        before = moment.astimezone(london).utcoffset()
        if (moment + day).astimezone(london).utcoffset() != before:
            low, high = moment, moment + day
            while high - low > timedelta(seconds=1):
                middle = low + (high - low) / 2
                if middle.astimezone(london).utcoffset() == before:
                    low = middle
                else:
                    high = middle
            changes.append(high.replace(microsecond=0))
        moment += day
    return changes


def test_every_change_of_londons_clocks_is_written_with_the_offset_zoneinfo_gives() -> None:
    # Times are written with an offset looked up once an hour of UTC: right only if the clocks
    # never change within an hour. Each change since GMT, and the seconds around it.
    changes = _clock_changes(1847, 2100)
    assert len(changes) > 300  # summer time since 1916, twice a year
    for change in changes:
        for moment in (
            change - timedelta(seconds=1),
            change,
            change + timedelta(minutes=59, seconds=59),
        ):
            assert _obr7(moment) == _as_zoneinfo_writes_it(moment), moment


@given(
    st.datetimes(
        min_value=datetime(1800, 1, 1),
        max_value=datetime(2200, 12, 31),
        timezones=st.just(UTC),
    )
)
@hypothesis_settings(max_examples=300, deadline=None)
def test_any_instant_is_written_as_zoneinfo_writes_it(moment: datetime) -> None:
    assert _obr7(moment) == _as_zoneinfo_writes_it(moment)


def test_the_two_half_past_ones_of_the_night_the_clocks_go_back_keep_their_offsets() -> None:
    london = ZoneInfo("Europe/London")
    first = datetime(2025, 10, 26, 1, 30, tzinfo=london)  # BST
    second = datetime(2025, 10, 26, 1, 30, tzinfo=london, fold=1)  # GMT, an hour later
    assert first == second  # Python compares them as equal: a cache keyed on them would err
    formatted = [
        field(segment(build_oru_lab(context(), patient(), [lab_report(observed_at=t)]), "OBR"), 7)
        for t in (first, second)
    ]
    assert formatted == ["20251026013000+0100", "20251026013000+0000"]
