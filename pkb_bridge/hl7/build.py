"""HL7 v2.4 messages for Patients Know Best, built as plain strings.

Pure functions: dataclasses from ``pkb_bridge.hl7.data`` in, ER7 text out, segments joined by CR
and the message ending with CR. No hl7apy here: it takes ~14 ms to build a message and this takes
microseconds (reliability-and-security.md 4.3); hl7apy checks the output in the tests instead.

Conventions every builder follows (pkb-hl7-interface.md sections 4, 5, 8-11):

* Every value goes through ``hl7_text`` (identifiers too: an MRN could contain ``^``), so free
  text can never add a field, a component or a segment.
* MSH-7 is the send time in Europe/London local time without an offset, as PKB asks. Every other
  timestamp is an instant with its offset (``YYYYMMDDHHMMSS+ZZZZ``, +0000 or +0100): PKB reads a
  time without an offset in its own fallback zone.
* PID-3 carries the NHS number as ``NHSNO^^^NHS^NH{status:NN}`` (PKB reads CX.1, .4 and .5 only).
  Local ids (MRN) go only in ADT^A28/A31 by default: PKB cannot merge records, so it recommends
  keeping local ids out of every other message. PID-32 repeats the status the ITK way
  (``NSTS01``); PKB ignores it if it does not read it.
* PV1-10 carries the team's hospital service code: with OBR-4.1 it is how PKB picks the privacy
  label of what we send.
* MSH-9 is ``type^event^structure`` (``ADT^A28^ADT_A05``): PKB's examples leave MSH-9.3 out and
  PKB picks the structure from the event, but a strict v2.4 receiver (and PKB's test harness)
  needs it to tell which structure to read; the v2.4 structure of each event is in
  ``MESSAGE_STRUCTURES``.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Literal
from zoneinfo import ZoneInfo

from pkb_bridge.hl7.data import (
    Appointment,
    CarePlan,
    Clinician,
    Diagnosis,
    Document,
    LabObservation,
    LabReport,
    MessageContext,
    Patient,
    PersonName,
    RadiologyReport,
)
from pkb_bridge.hl7.escape import escaped, hl7_text

LONDON = ZoneInfo("Europe/London")
HL7_VERSION = "2.4"
# MSH-5 and MSH-6: PKB ignores both (one PKB instance sits behind the endpoint); these are the
# values in its examples.
RECEIVING_APPLICATION = "HL7API"
RECEIVING_FACILITY = "PKB"
ENCODING_CHARACTERS = "^~\\&"
PATIENT_CLASS = "O"  # PV1-2, PKBCS04: the follow-up clinic is outpatient care
COUNTRY = "GBR"  # PID-11.6, as in PKB's examples

AdtTrigger = Literal["A28", "A31"]
SiuTrigger = Literal["S12", "S13", "S14", "S15", "S26"]
DelayField = Literal["OBX-13", "OBR-13"]
HtmlEncoding = Literal["Base64", "A"]
# MSH-9.3 for each MSH-9.1^9.2 we send: HL7 v2.4 table 0354.
MESSAGE_STRUCTURES: dict[str, str] = {
    "ADT^A28": "ADT_A05",
    "ADT^A31": "ADT_A05",
    "ORU^R01": "ORU_R01",
    "MDM^T02": "MDM_T02",
    "MDM^T11": "MDM_T01",
    "SIU^S12": "SIU_S12",
    "SIU^S13": "SIU_S12",
    "SIU^S14": "SIU_S12",
    "SIU^S15": "SIU_S12",
    "SIU^S26": "SIU_S12",
}
ADT_TRIGGERS: frozenset[str] = frozenset({"A28", "A31"})
SIU_TRIGGERS: frozenset[str] = frozenset({"S12", "S13", "S14", "S15", "S26"})
DELAY_FIELDS: frozenset[str] = frozenset({"OBX-13", "OBR-13"})
HTML_ENCODINGS: frozenset[str] = frozenset({"Base64", "A"})

# OBX-11 (table 0085) for the lines of a radiology report, from its OBR-25 (table 0123).
_RADIOLOGY_OBX_STATUS = {"C": "C", "P": "P", "R": "D", "X": "X"}

_e = hl7_text


# --- ADT ------------------------------------------------------------------------------------


def build_adt(
    context: MessageContext,
    patient: Patient,
    diagnoses: Sequence[Diagnosis] = (),
    *,
    trigger: AdtTrigger = "A28",
    include_local_id: bool = True,
) -> str:
    """ADT^A28 (create or update the record) or ADT^A31 (update it): MSH, EVN, PID, DG1*.

    PKB processes A31 exactly like A28. ``diagnoses`` must be the patient's *complete* current
    list: a DG1 set replaces the whole set our organisation sent before (hand-entered items
    included), so a partial list deletes the rest. An empty list sends no DG1, and PKB then
    leaves the diagnoses it holds as they are [unverified: no PKB page says so; it follows from
    "the set sent replaces the set"]; so a list cannot be emptied over HL7.

    An email in PID-13 makes PKB invite the patient to register if it is the record's first
    address; an address already on another PKB record makes PKB reject the message.
    """
    if trigger not in ADT_TRIGGERS:
        raise ValueError("trigger must be A28 or A31")
    segments = [
        _msh(context, f"ADT^{trigger}", context.sending_application),
        _evn(trigger, context),
        _pid(
            patient,
            include_local_id=include_local_id,
            demographics=True,
            email_component=context.email_component,
        ),
    ]
    segments.extend(_dg1(number, diagnosis) for number, diagnosis in enumerate(diagnoses, 1))
    return _message(segments)


def _dg1(number: int, diagnosis: Diagnosis) -> str:
    code = _components(_e(diagnosis.code), _e(diagnosis.text), diagnosis.code_system_text)
    return _segment("DG1", str(number), "", code, "", _date_or_ts(diagnosis.diagnosed_at))


# --- ORU^R01 lab ----------------------------------------------------------------------------


def build_oru_lab(
    context: MessageContext,
    patient: Patient,
    reports: Sequence[LabReport],
    *,
    include_local_id: bool = False,
    delay_field: DelayField = "OBX-13",
) -> str:
    """ORU^R01 with one ORC/OBR group per report ("packing" several reports in one message).

    MSH-3 is ``context.sending_application`` (anything but RADIOLOGY is lab to PKB). Each group
    is ORC, OBR, an NTE per report note, then each OBX with an NTE per observation note.

    The patient delay goes in OBX-13 of *every* OBX of the group: PKB reads it from the first
    OBX of a textual report, and from each result of a discrete one, so a later result (an
    abnormal one included) never shows before the first. With ``delay_field`` ``OBR-13`` (PKB's
    pathology FAQ; its pages disagree, pkb-hl7-interface.md section 8) it goes in OBR-13 as
    well. The delay written is the longest any part of the report asks for.

    Observations the lab has withdrawn (OBX-11 ``W`` wrong, ``D`` deleted, ``X`` not obtained)
    are never sent: PKB shows values, not OBX-11 (section 9.2). A report left with none is sent
    without OBX only as a deletion (result status R); the caller decides what else to do.

    A value with line breaks goes as FT, whose ``\\.br\\`` is a line break; TX and ST have no
    such escape and PKB would show it literally.

    A report with result status R deletes every result PKB holds for its filler order number;
    it is sent without OBX (a deletion carries no value to show).
    """
    if not reports:
        raise ValueError("an ORU needs at least one report")
    if delay_field not in DELAY_FIELDS:
        raise ValueError("delay_field must be OBX-13 or OBR-13")
    segments = _oru_lab_header(context, patient, include_local_id)
    for number, report in enumerate(reports, 1):
        segments.extend(_lab_group(report, number, delay_field))
    return _message(segments)


def _oru_lab_header(context: MessageContext, patient: Patient, include_local_id: bool) -> list[str]:
    return [
        _msh(context, "ORU^R01", context.sending_application),
        _pid(patient, include_local_id=include_local_id, demographics=False),
        _pv1(context.service_code),
    ]


# OBX-11 (HL7 table 0085) of an observation the lab has withdrawn: W wrong (retracted), D
# deleted, X could not be obtained. Never published (pkb-hl7-interface.md section 9.2).
WITHDRAWN_OBSERVATION_STATUSES: frozenset[str] = frozenset({"W", "D", "X"})


def published_observations(report: LabReport) -> tuple[LabObservation, ...]:
    """The observations of ``report`` that may be shown to the patient: all but withdrawn ones."""
    return tuple(
        o
        for o in report.observations
        if o.status.strip().upper() not in WITHDRAWN_OBSERVATION_STATUSES
    )


def _lab_value_type(observation: LabObservation) -> str:
    if observation.value_type in ("TX", "ST") and _has_line_break(observation.value):
        return "FT"
    return observation.value_type


def _has_line_break(value: str) -> bool:
    return "\r" in value or "\n" in value


def _lab_group(report: LabReport, number: int, delay_field: str) -> list[str]:
    observations = published_observations(report) if report.result_status != "R" else ()
    delay = _longest_delay(report.delay_days, *(o.delay_days for o in observations))
    if delay is not None and not observations and delay_field == "OBX-13":
        if report.result_status != "R":
            # Nowhere to put the delay: sending without it would show the report at once.
            raise ValueError("a delayed report needs an observation to carry the delay")
        delay = None
    delay_text = "" if delay is None else str(delay)
    placer, filler, code, name, system, status = escaped(
        report.placer_order_number,
        report.filler_order_number,
        report.service_code,
        report.service_name,
        report.service_system,
        report.result_status,
    )
    # Written out field by field (OBR-1 to OBR-25, OBX-1 to OBX-14; each "|" opens the next
    # field): a group a result, hundreds a record, and a list of 26 fields to join cost more.
    # Trailing empty fields are left off, as ``_segment`` does.
    obr13 = delay_text if delay_field == "OBR-13" else ""
    segments = [
        _segment("ORC", "RE", placer, filler),
        (
            f"OBR|{number}|{placer}|{filler}|{_components(code, name, system)}"
            f"|||{_ts(report.observed_at)}||||||{obr13}"
            f"|||{_xcn(report.ordering_clinician)}"
            f"||||||{_ts_or_blank(report.reported_at)}|||{status}"
        ).rstrip("|"),
    ]
    if report.notes:
        segments.extend(_notes(report.notes))
    for index, observation in enumerate(observations, 1):
        code, name, system, value, units, reference_range, flag, observation_status = escaped(
            observation.code,
            observation.name,
            observation.code_system,
            observation.value,
            observation.units,
            observation.reference_range,
            observation.abnormal_flag,
            observation.status,
        )
        segments.append(
            (
                f"OBX|{index}|{_lab_value_type(observation)}|{_components(code, name, system)}"
                f"||{value}|{units}|{reference_range}|{flag}|||{observation_status}"
                f"||{delay_text}|{_ts_or_blank(observation.observed_at)}"
            ).rstrip("|")
        )
        if observation.notes:
            segments.extend(_notes(observation.notes))
    return segments


def _longest_delay(*delays: int | None) -> int | None:
    given = [delay for delay in delays if delay is not None]
    return max(given) if given else None


@dataclass(frozen=True)
class LabPack:
    """One packed ORU^R01's reports and their groups (ORC, OBR, NTE, OBX...) as rendered
    where they stand in the message, with the options they were rendered with.
    ``build_oru_lab_pack`` makes the message from them without rendering the groups again."""

    reports: tuple[LabReport, ...]
    segments: tuple[str, ...]
    include_local_id: bool
    delay_field: DelayField


def pack_lab_reports(
    reports: Sequence[LabReport],
    *,
    max_bytes: int,
    max_reports: int,
    context: MessageContext,
    patient: Patient,
    include_local_id: bool = False,
    delay_field: DelayField = "OBX-13",
) -> list[list[LabReport]]:
    """Split a patient's reports, in order, into as few ORU^R01 messages as the limits allow.

    A message holds at most ``max_reports`` reports and at most ``max_bytes`` bytes of UTF-8 as
    ``build_oru_lab`` builds it with the same arguments; a report too big on its own goes alone.
    Sizes are measured, not estimated: each group is built once where it will stand (its OBR-1
    set id counts), and the header (MSH, PID, PV1) once from ``context`` and ``patient``. Any
    ``context`` whose control id has the same length gives the same sizes.
    """
    packs = pack_lab_groups(
        reports,
        max_bytes=max_bytes,
        max_reports=max_reports,
        context=context,
        patient=patient,
        include_local_id=include_local_id,
        delay_field=delay_field,
    )
    return [list(pack.reports) for pack in packs]


def pack_lab_groups(
    reports: Sequence[LabReport],
    *,
    max_bytes: int,
    max_reports: int,
    context: MessageContext,
    patient: Patient,
    include_local_id: bool = False,
    delay_field: DelayField = "OBX-13",
) -> list[LabPack]:
    """``pack_lab_reports``, keeping the groups it rendered to measure them, so that each
    message is built from them (``build_oru_lab_pack``) and no group is rendered twice."""
    if max_bytes < 1 or max_reports < 1:
        raise ValueError("max_bytes and max_reports must be at least 1")
    if delay_field not in DELAY_FIELDS:
        raise ValueError("delay_field must be OBX-13 or OBR-13")
    header = _byte_size(_oru_lab_header(context, patient, include_local_id))
    packs: list[LabPack] = []
    current: list[LabReport] = []
    segments: list[str] = []
    size = header

    def close() -> None:
        packs.append(LabPack(tuple(current), tuple(segments), include_local_id, delay_field))

    for report in reports:
        group = _lab_group(report, len(current) + 1, delay_field)
        group_size = _byte_size(group)
        if current and (len(current) >= max_reports or size + group_size > max_bytes):
            close()
            current, segments, size = [], [], header
            group = _lab_group(report, 1, delay_field)
            group_size = _byte_size(group)
        current.append(report)
        segments.extend(group)
        size += group_size
    if current:
        close()
    return packs


def build_oru_lab_pack(context: MessageContext, patient: Patient, pack: LabPack) -> str:
    """The ORU^R01 of one pack from ``pack_lab_groups``: the same text as ``build_oru_lab``
    with the pack's reports and options, its groups taken as they were rendered."""
    if not pack.reports:
        raise ValueError("an ORU needs at least one report")
    return _message([*_oru_lab_header(context, patient, pack.include_local_id), *pack.segments])


def _byte_size(segments: list[str]) -> int:
    # Each segment plus its CR terminator; ASCII text (most of a lab report) is a byte a
    # character.
    if not segments:
        return 0
    text = "\r".join(segments)
    return (len(text) if text.isascii() else len(text.encode("utf-8"))) + 1


# --- ORU^R01 radiology ----------------------------------------------------------------------


def build_oru_radiology(
    context: MessageContext,
    patient: Patient,
    report: RadiologyReport,
    *,
    include_local_id: bool = False,
) -> str:
    """ORU^R01 with MSH-3 ``context.radiology_application``: one report, one TX OBX a line.

    This is PKB's "single textual report" pattern (every OBX TX with the same OBX-3, at least two
    lines): PKB joins the lines in order into one HTML report, titled from OBR-4.2, and reads
    metadata, the delay included, only from the first OBX (the delay is written on every OBX all
    the same, so that no line can show before it). One OBX per line rather than one FT
    OBX with ``\\.br\\``: that is the shape the pattern describes, and it does not depend on the
    receiver turning ``\\.br\\`` back into a line break. A blank line is sent as an OBX with an
    empty OBX-5, so the text comes back exactly as written. A report with the same filler order
    number replaces the earlier one entirely; result status R deletes it.
    """
    observed = _ts(report.observed_at)
    filler = _e(report.filler_order_number)
    code = _components(_e(report.service_code), _e(report.service_name), _e(report.service_system))
    obr = [""] * 26
    obr[0] = "OBR"
    obr[1] = "1"
    obr[3] = filler
    obr[4] = code
    obr[7] = observed
    obr[16] = _xcn(report.ordering_clinician)
    obr[22] = _ts_or_blank(report.reported_at)
    obr[25] = _e(report.result_status)
    segments = [
        _msh(context, "ORU^R01", context.radiology_application),
        _pid(patient, include_local_id=include_local_id, demographics=False),
        _pv1(context.service_code),
        _segment("ORC", "RE", "", filler),
        _segment(*obr),
    ]
    status = _RADIOLOGY_OBX_STATUS.get(report.result_status, "F")
    delay = "" if report.delay_days is None else str(report.delay_days)
    lines = _lines(report.report_text) if report.report_text else []
    for index, line in enumerate(lines, 1):
        segments.append(
            _segment(
                "OBX",
                str(index),
                "TX",
                code,
                "",
                _e(line),
                "",
                "",
                "",
                "",
                "",
                status,
                "",
                delay,
                observed,
            )
        )
    return _message(segments)


def _lines(text: str) -> list[str]:
    # Only CR, LF and CRLF: str.splitlines() would also split on form feeds, 0x1C-0x1E and
    # U+2028, which are text here (or dropped by the escape).
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


# --- MDM ------------------------------------------------------------------------------------


def build_mdm(
    context: MessageContext,
    patient: Patient,
    document: Document,
    *,
    include_local_id: bool = False,
    html_encoding: HtmlEncoding = "Base64",
) -> str:
    """MDM^T02 for a letter or other document: MSH, EVN, PID, PV1, TXA, one ED OBX.

    Re-sending the same ``document_number`` (TXA-12) replaces the document. See ``_ed`` for how
    the content is written.
    """
    return _mdm_t02(
        context,
        patient,
        document_type=document.document_type.strip().upper(),
        document_number=document.document_number,
        title=document.title,
        authored_at=document.authored_at,
        author=document.author,
        filename=document.filename,
        content_html=document.content_html,
        content_pdf=document.content_pdf,
        delay_days=document.delay_days,
        include_local_id=include_local_id,
        html_encoding=html_encoding,
    )


def build_care_plan(
    context: MessageContext,
    patient: Patient,
    plan: CarePlan,
    *,
    include_local_id: bool = False,
    html_encoding: HtmlEncoding = "Base64",
) -> str:
    """MDM^T02 with TXA-2 ``CP``: a care plan, titled from OBX-3.2.

    Re-sending the same ``document_number`` replaces the plan and PKB keeps the old version;
    care plans cannot be deleted (PKB ignores MDM^T11 for them).
    """
    return _mdm_t02(
        context,
        patient,
        document_type="CP",
        document_number=plan.document_number,
        title=plan.title,
        authored_at=plan.authored_at,
        author=plan.author,
        filename=plan.filename,
        content_html=plan.content_html,
        content_pdf=plan.content_pdf,
        delay_days=plan.delay_days,
        include_local_id=include_local_id,
        html_encoding=html_encoding,
    )


def build_mdm_delete(
    context: MessageContext,
    patient: Patient,
    document_number: str,
    *,
    include_local_id: bool = False,
) -> str:
    """MDM^T11: delete the document PKB holds under ``document_number`` (TXA-12.1).

    TXA carries only TXA-12, as in PKB's example. EVN and PV1 are there because the v2.4
    structure (MDM_T01) has them; PKB's example leaves them out and ignores them.
    """
    if not document_number or not document_number.strip():
        raise ValueError("document_number is required")
    txa = [""] * 13
    txa[0] = "TXA"
    txa[12] = _e(fit_document_number(document_number))
    return _message(
        [
            _msh(context, "MDM^T11", context.sending_application),
            _evn("T11", context),
            _pid(patient, include_local_id=include_local_id, demographics=False),
            _pv1(context.service_code),
            _segment(*txa),
        ]
    )


# HL7 v2.4 lengths of TXA-12 (EI, Unique Document Number) and TXA-16 (ST, Unique Document
# File Name): 30 each.
TXA_12_LENGTH = 30
TXA_16_LENGTH = 30


def fit_document_number(number: str) -> str:
    """``number`` as TXA-12.1: itself when it fits v2.4's 30 characters, else its first 17
    characters, ``-`` and 12 hex digits of its SHA-256: the same number always gives the same
    TXA-12, so a replacement (T02) or a deletion (T11) still finds what was sent before."""
    if len(number) <= TXA_12_LENGTH:
        return number
    digest = hashlib.sha256(number.encode("utf-8")).hexdigest()[:12]
    return f"{number[: TXA_12_LENGTH - 13]}-{digest}"


def fit_filename(filename: str) -> str:
    """``filename`` as TXA-16: itself when it fits v2.4's 30 characters, else its stem made to
    fit like ``fit_document_number`` with the extension kept."""
    if len(filename) <= TXA_16_LENGTH:
        return filename
    stem, dot, extension = filename.rpartition(".")
    if not dot or not stem or len(extension) > 5:
        stem, extension = filename, ""
    suffix = f".{extension}" if extension else ""
    digest = hashlib.sha256(stem.encode("utf-8")).hexdigest()[:12]
    return f"{stem[: TXA_16_LENGTH - len(suffix) - 13]}-{digest}{suffix}"


def _mdm_t02(
    context: MessageContext,
    patient: Patient,
    *,
    document_type: str,
    document_number: str,
    title: str,
    authored_at: datetime,
    author: Clinician,
    filename: str,
    content_html: str | None,
    content_pdf: bytes | None,
    delay_days: int | None,
    include_local_id: bool,
    html_encoding: str,
) -> str:
    if html_encoding not in HTML_ENCODINGS:
        raise ValueError("html_encoding must be Base64 or A")
    type_code = _e(document_type)
    txa = [""] * 18
    txa[0] = "TXA"
    txa[1] = "1"
    txa[2] = type_code
    # TXA-4 only: PKB files and delays from the first of TXA-8, 7, 6 and 4 that is present.
    txa[4] = _ts(authored_at)
    txa[9] = _xcn(author)
    txa[12] = _e(fit_document_number(document_number))
    txa[16] = _e(fit_filename(filename))
    txa[17] = "AU"  # PKB requires "authenticated"
    obx = [""] * 14
    obx[0] = "OBX"
    obx[1] = "1"
    obx[2] = "ED"
    obx[3] = _components(type_code, _e(title))
    obx[5] = _ed(content_html, content_pdf, html_encoding)
    obx[11] = "F"
    obx[13] = "" if delay_days is None else str(delay_days)
    return _message(
        [
            _msh(context, "MDM^T02", context.sending_application),
            _evn("T02", context),
            _pid(patient, include_local_id=include_local_id, demographics=False),
            _pv1(context.service_code),
            _segment(*txa),
            _segment(*obx),
        ]
    )


def _ed(content_html: str | None, content_pdf: bytes | None, html_encoding: str) -> str:
    """OBX-5 as ED: ``^TEXT^<HTML|PDF>^<Base64|A>^<data>``.

    OBX-5.2 is ``TEXT`` for PDF as well as HTML: PKB's care plan page requires TEXT with HTML or
    PDF, and its document page keeps APPLICATION for MS Word only.

    HTML goes as Base64 by default, not as escaped text (``A``), although PKB takes both:
    * the data is then opaque to every layer on the way: no HL7 escape sequence for the receiver
      to decode (or not) inside ED data, no ``\\.br\\`` turned back into a different line ending
      inside ``<pre>``, nothing for the SOAP CDATA section to trip over;
    * non-ASCII characters are written as HTML character references first (``Zoë`` becomes
      ``Zo&#235;``), so the bytes are ASCII and mean the same in whatever character set PKB
      decodes them with; a browser renders them identically;
    * the cost is a third more bytes, which letters and plans (kilobytes) can afford.
    ``html_encoding="A"`` sends the escaped text instead, should PKB's sandbox prefer it.
    """
    if content_pdf is not None:
        return "^TEXT^PDF^Base64^" + base64.b64encode(content_pdf).decode("ascii")
    html = content_html or ""
    if html_encoding == "A":
        return "^TEXT^HTML^A^" + _e(html)
    ascii_html = html.encode("ascii", "xmlcharrefreplace")
    return "^TEXT^HTML^Base64^" + base64.b64encode(ascii_html).decode("ascii")


# --- SIU ------------------------------------------------------------------------------------


def build_siu(
    context: MessageContext,
    patient: Patient,
    appointment: Appointment,
    *,
    trigger: SiuTrigger = "S12",
    include_local_id: bool = False,
) -> str:
    """SIU^S12 (book), S13/S14 (change), S15 (cancel) or S26 (did not attend).

    Segments in v2.4 order: MSH, SCH, NTE, PID, PV1, RGS, AIP. PKB's S12 example puts PID
    before SCH; the standard order is what any v2.4 parser expects and PKB's matching does not
    depend on position. The full appointment is sent for every event: PKB creates an unknown
    appointment before cancelling it, which needs the S12 content.
    """
    if trigger not in SIU_TRIGGERS:
        raise ValueError("trigger must be S12, S13, S14, S15 or S26")
    sch = [""] * 12
    sch[0] = "SCH"
    sch[1] = _e(appointment.placer_id)
    sch[7] = "^" + _e(appointment.reason) if appointment.reason else ""
    sch[8] = _e(appointment.appointment_type)
    sch[11] = _components("", "", "", _ts(appointment.starts_at), _ts_or_blank(appointment.ends_at))
    segments = [_msh(context, f"SIU^{trigger}", context.sending_application), _segment(*sch)]
    if appointment.notes:
        segments.append(_segment("NTE", "1", "", _e(appointment.notes)))
    location = "^^^^^^^^" + _e(appointment.location) if appointment.location else ""
    segments.append(_pid(patient, include_local_id=include_local_id, demographics=False))
    segments.append(_pv1(context.service_code, location))
    segments.append("RGS|1")
    clinician = _xcn(appointment.clinician)
    if clinician:
        # AIP-4.2: the clinician's role as recorded; left out when unknown rather than guessed.
        role = appointment.clinician_role.strip()
        segments.append(_segment("AIP", "1", "", clinician, "^" + _e(role) if role else ""))
    return _message(segments)


# --- Shared segments ------------------------------------------------------------------------


def _msh(context: MessageContext, message_type: str, application: str) -> str:
    return _segment(
        "MSH",
        ENCODING_CHARACTERS,
        _e(application),
        _e(context.sending_facility),
        RECEIVING_APPLICATION,
        RECEIVING_FACILITY,
        _local(context.sent_at),
        "",
        f"{message_type}^{MESSAGE_STRUCTURES[message_type]}",
        context.control_id,
        context.processing_id,
        HL7_VERSION,
        "",
        "",
        "",
        "",
        "",
        _e(context.character_set),
    )


def _evn(trigger: str, context: MessageContext) -> str:
    # EVN-2 is the same instant as MSH-7, written with its offset like every TS but MSH-7.
    return _segment("EVN", trigger, _ts(context.sent_at))


def _xtn_email(email: str, component: str) -> str:
    """An email as an XTN with use code NET: in XTN-1, XTN-4 or both (``email_component``)."""
    address = _e(email)
    if component == "XTN-1":
        return address + "^NET"
    if component == "XTN-4":
        return "^NET^^" + address
    return address + "^NET^^" + address


def _pid(
    patient: Patient, *, include_local_id: bool, demographics: bool, email_component: str = "both"
) -> str:
    identifiers = [f"{patient.nhs_number}^^^NHS^NH{{status:{patient.nhs_number_status}}}"]
    if include_local_id and patient.mrn:
        identifiers.append(
            _components(
                _e(patient.mrn),
                "",
                "",
                _e(patient.mrn_assigning_authority),
                _e(patient.mrn_type_code),
            )
        )
    pid = [""] * 33
    pid[0] = "PID"
    pid[3] = "~".join(identifiers)
    pid[5] = _components(
        _e(patient.family_name),
        _e(patient.given_name),
        _e(patient.middle_names),
        "",
        _e(patient.title),
    )
    pid[7] = _date(patient.date_of_birth) if patient.date_of_birth else ""
    pid[8] = patient.sex
    if demographics:
        pid[11] = _address(patient)
        home: list[str] = []
        if patient.email:
            home.append(_xtn_email(patient.email, email_component))
        if patient.phone_home:
            home.append(_e(patient.phone_home) + "^PRN")
        if patient.phone_mobile:
            home.append(_e(patient.phone_mobile) + "^PRS")
        pid[13] = "~".join(home)
        pid[14] = _e(patient.phone_work) + "^WPN" if patient.phone_work else ""
    pid[32] = "NSTS" + patient.nhs_number_status
    return _segment(*pid)


def _address(patient: Patient) -> str:
    parts = (
        patient.address_line1,
        patient.address_line2,
        patient.city,
        patient.county,
        patient.postcode,
    )
    if not any(parts):
        return ""
    return _components(*(_e(part) for part in parts), COUNTRY)


def _pv1(service_code: str, location: str = "") -> str:
    pv1 = [""] * 11
    pv1[0] = "PV1"
    pv1[1] = "1"
    pv1[2] = PATIENT_CLASS
    pv1[3] = location
    pv1[10] = _e(service_code)
    return _segment(*pv1)


def _notes(notes: Sequence[str]) -> list[str]:
    return [_segment("NTE", str(number), "", _e(note)) for number, note in enumerate(notes, 1)]


def _xcn(clinician: Clinician) -> str:
    """A clinician as XCN: free text in XCN.2 (family name), a structured name in .2-.6."""
    if clinician is None:
        return ""
    if isinstance(clinician, PersonName):
        return _components(
            "",
            _e(clinician.family),
            _e(clinician.given),
            _e(clinician.middle),
            "",
            _e(clinician.title),
        )
    return "^" + _e(clinician) if clinician.strip() else ""


def _segment(*fields: str) -> str:
    # Trailing empty fields are left off, as in PKB's examples. An escaped value never ends in
    # a raw delimiter, so stripping cannot eat data.
    return "|".join(fields).rstrip("|")


def _components(*parts: str) -> str:
    return "^".join(parts).rstrip("^")


def _message(segments: list[str]) -> str:
    return "\r".join(segments) + "\r"


# --- Times ----------------------------------------------------------------------------------


def _ts(moment: datetime) -> str:
    """An instant as ``YYYYMMDDHHMMSS+ZZZZ`` in Europe/London (+0000 in winter, +0100 in BST)."""
    # Keyed on the UTC instant: two Europe/London times that differ only in ``fold`` (the hour
    # the clocks go back) compare and hash equal, but are an hour apart.
    return _ts_of_utc(moment if moment.tzinfo is UTC else moment.astimezone(UTC))


@lru_cache(maxsize=4096)
def _ts_of_utc(moment: datetime) -> str:
    # Cached: a report's observations usually share one time, and formatting costs more than
    # the lookup.
    if moment.year < GMT_SINCE:
        offset = moment.astimezone(LONDON).utcoffset() or timedelta(0)
    else:
        offset = _london_offset(moment.replace(minute=0, second=0, microsecond=0))
    local = moment + offset  # the wall clock's digits; the offset is written beside them
    minutes = int(offset.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    hours, minutes = divmod(abs(minutes), 60)
    return f"{_wall_clock(local)}{sign}{hours:02d}{minutes:02d}"


# Since Greenwich Mean Time (1 December 1847; before it, local mean time, 75 s behind) every
# change of Europe/London's clocks has fallen on a whole hour of UTC (tzdata; tested against
# ``zoneinfo`` at every change).
GMT_SINCE = 1848


@lru_cache(maxsize=4096)
def _london_offset(hour: datetime) -> timedelta:
    """Europe/London's offset from UTC through the UTC hour starting at ``hour`` (a year from
    ``GMT_SINCE``): an opt-in's history of results, each at its own instant, needs a conversion
    an hour rather than one an instant (about 4 µs each, a millisecond an opt-in)."""
    return hour.astimezone(LONDON).utcoffset() or timedelta(0)


def _ts_or_blank(moment: datetime | None) -> str:
    return "" if moment is None else _ts(moment)


def _local(moment: datetime) -> str:
    """MSH-7: Europe/London wall-clock time without an offset, as PKB asks.

    In the hour the clocks go back, the same wall-clock time occurs twice; a message sent in the
    second occurrence can look older than one sent in the first.
    """
    return _wall_clock(moment.astimezone(LONDON))


def _wall_clock(local: datetime) -> str:
    # %-formatting of the parts: strftime costs twice as much, and MSH-7 is on every message.
    return "%04d%02d%02d%02d%02d%02d" % (  # noqa: UP031
        local.year,
        local.month,
        local.day,
        local.hour,
        local.minute,
        local.second,
    )


def _date(day: date) -> str:
    return f"{day.year:04d}{day.month:02d}{day.day:02d}"


def _date_or_ts(value: date | datetime | None) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return _ts(value)
    # A date alone has no offset: HL7 gives none to a day.
    return _date(value)
