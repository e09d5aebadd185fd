"""Whatever text lands in any free-text field, the message keeps its segments and its patient."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pkb_bridge.hl7 import (
    Appointment,
    CarePlan,
    Diagnosis,
    Document,
    PersonName,
    RadiologyReport,
    build_adt,
    build_care_plan,
    build_envelope,
    build_mdm,
    build_oru_lab,
    build_oru_radiology,
    build_siu,
    parse_envelope_request,
    pid3_identifiers,
    segment_counts,
)
from tests.pkb_bridge.hl7.support import OBSERVED_AT, context, lab_report, observation, patient

# Text that stresses the escape: delimiters, line breaks, frame bytes, fake segments, CDATA ends.
_ALPHABET = st.sampled_from(
    [
        "a",
        "Z",
        " ",
        "ë",
        "Ł",
        "🙂",
        "|",
        "^",
        "&",
        "~",
        "\\",
        "\r",
        "\n",
        "\x0b",
        "\x1c",
        "]]>",
        "MSH|",
        "PID|",
        "\rPID|1||9999999999^^^NHS^NH",
        "\\.br\\",
        "\\F\\",
        "{status:02}",
    ]
)
TEXT = st.one_of(st.text(), st.lists(_ALPHABET, max_size=12).map("".join))
NON_BLANK = TEXT.filter(lambda text: text.strip() != "")
IDENTIFIERS = [("9434765919", "NHS", "NH")]


def _messages(text: str) -> dict[str, str]:
    """Every builder with ``text`` in every free-text field it has, and one without."""
    name = PersonName(text, text, text, text)
    return {
        "adt": build_adt(
            context(),
            patient(
                family_name=text,
                given_name=text,
                middle_names=text,
                title=text,
                address_line1=text,
                address_line2=text,
                city=text,
                county=text,
                postcode=text,
                email=text,
                phone_home=text,
                phone_mobile=text,
                phone_work=text,
                mrn="M" + text,
            ),
            [Diagnosis(code="C" + text, code_system_text="ICD-10", text=text)],
            include_local_id=False,
        ),
        "lab": build_oru_lab(
            context(sending_facility=text, service_code=text),
            patient(family_name=text),
            [
                lab_report(
                    filler_order_number="F" + text,
                    placer_order_number=text,
                    service_code="S" + text,
                    service_name=text,
                    service_system=text,
                    # OBR-25 is coded: the data refuse anything but its codes (test_data.py).
                    ordering_clinician=name,
                    notes=(text, text),
                    observations=(
                        observation(
                            1,
                            code="O" + text,
                            name=text,
                            code_system=text,
                            value=text,
                            value_type="TX",
                            units=text,
                            reference_range=text,
                            abnormal_flag=text,
                            # "F" first: a withdrawn status (W, D, X) leaves the OBX out.
                            status="F" + text,
                            notes=(text,),
                        ),
                    ),
                )
            ],
        ),
        "radiology": build_oru_radiology(
            context(),
            patient(),
            RadiologyReport(
                filler_order_number="F" + text,
                service_code="S" + text,
                service_name=text,
                observed_at=OBSERVED_AT,
                report_text="line " + text,
                ordering_clinician=text,
            ),
        ),
        "document": build_mdm(
            context(),
            patient(),
            Document(
                document_number="D" + text,
                document_type="L" + text,  # never "CP": that is a CarePlan
                title=text,
                authored_at=OBSERVED_AT,
                author=text,
                filename=text,
                content_html="<p>" + text,
            ),
            html_encoding="A",
        ),
        "care_plan": build_care_plan(
            context(),
            patient(),
            CarePlan(
                document_number="P" + text,
                title=text,
                authored_at=OBSERVED_AT,
                content_html="<p>" + text,
                author=name,
            ),
        ),
        "appointment": build_siu(
            context(),
            patient(),
            Appointment(
                placer_id="A" + text,
                starts_at=datetime(2025, 11, 20, 12, 0, tzinfo=UTC),
                reason=text,
                appointment_type=text,
                location=text,
                clinician=text,
                clinician_role=text,
                notes=text,
            ),
        ),
    }


_BASELINE = {kind: segment_counts(message) for kind, message in _messages("x").items()}


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(NON_BLANK)
def test_free_text_never_adds_a_segment_or_changes_the_patient(text: str) -> None:
    lines = text.replace("\r\n", "\n").replace("\r", "\n").count("\n") + 1
    for kind, message in _messages(text).items():
        expected = dict(_BASELINE[kind])
        if kind == "radiology":
            expected["OBX"] = lines  # one OBX a line, by design
        assert segment_counts(message) == expected, kind
        assert pid3_identifiers(message) == IDENTIFIERS, kind
        assert message.endswith("\r") and "\n" not in message, kind


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(NON_BLANK)
def test_every_message_survives_the_soap_envelope(text: str) -> None:
    for message in _messages(text).values():
        assert parse_envelope_request(build_envelope(message)) == message


def _kept(text: str) -> str:
    """What an HL7 reader gets back of ``text`` written as one value (HL7 v2.4 section 2.7):
    every delimiter as itself, line breaks as one new line, and the control characters XML
    cannot carry left out (test_escape.py's rule)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return "".join(
        character
        for character in text
        if character in "\t\n\x0b\x1c"
        or not (ord(character) < 0x20 or 0x7F <= ord(character) <= 0x9F)
    )


_REPORT_FIELDS = (
    "filler_order_number",
    "placer_order_number",
    "service_code",
    "service_name",
    "service_system",
)
_OBSERVATION_FIELDS = (
    "code",
    "name",
    "code_system",
    "value",
    "units",
    "reference_range",
    "abnormal_flag",
    "status",
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(NON_BLANK, st.sets(st.sampled_from(_REPORT_FIELDS + _OBSERVATION_FIELDS), min_size=1))
def test_every_lab_value_reads_back_as_written_by_an_hl7_reader(
    text: str, chosen: set[str]
) -> None:
    """Each value of a lab report, whatever its text and whichever values carry it, is read
    back unchanged by the inbound parser (another reader than the builder: rms.hl7.parse)
    from the field PKB's interface puts it in (pkb-hl7-interface.md Appendix B: ORC-2/3,
    OBR-2/3/4, OBX-3 and OBX-5 to OBX-8, OBX-11)."""
    from rms.hl7.parse import parse

    # A letter first: codes and the filler order number must not be blank, and OBX-11 must
    # not be a withdrawn status (W, D, X leave the OBX out).
    given = {
        name: name[0].upper() + (text if name in chosen else "plain")
        for name in _REPORT_FIELDS + _OBSERVATION_FIELDS
    }
    given["status"] = "F" + given["status"][1:]
    report = lab_report(
        **{name: given[name] for name in _REPORT_FIELDS},
        observations=(
            observation(1, value_type="ST", **{name: given[name] for name in _OBSERVATION_FIELDS}),
        ),
    )
    parsed = parse(build_oru_lab(context(), patient(), [report]))
    orc, obr, obx = (
        next(s for s in parsed.segments if s.name == name) for name in ("ORC", "OBR", "OBX")
    )
    kept = {name: _kept(value) for name, value in given.items()}
    assert (orc.value(2), orc.value(3)) == (
        kept["placer_order_number"],
        kept["filler_order_number"],
    )
    assert (obr.value(2), obr.value(3)) == (
        kept["placer_order_number"],
        kept["filler_order_number"],
    )
    assert obr.components(4) == [kept["service_code"], kept["service_name"], kept["service_system"]]
    assert obx.components(3) == [kept["code"], kept["name"], kept["code_system"]]
    assert [obx.text(5), obx.value(6), obx.value(7), obx.value(8), obx.value(11)] == [
        kept["value"],
        kept["units"],
        kept["reference_range"],
        kept["abnormal_flag"],
        kept["status"],
    ]
