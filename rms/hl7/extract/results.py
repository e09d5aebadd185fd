"""Results of an ORU^R01: OBR groups, their observations and notes."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from rms.hl7.errors import ErrorCode, Hl7ParseError
from rms.hl7.extract.common import (
    INTEGER,
    TEXT_VALUE_TYPES,
    Attachment,
    Timestamp,
    components_of,
    free_text,
    leaf,
    note_text,
    person_text,
    read_attachment,
    require_type,
)
from rms.hl7.parse import ParsedMessage, Segment, parse_timestamp

_CODED_VALUE_TYPES = frozenset({"CE", "CWE", "CNE", "CF"})
_NUMBER = re.compile(
    r"\s*(?P<comparator><=|>=|<|>)?\s*(?P<number>[+-]?(?:\d+\.?\d*|\.\d+))\s*", re.ASCII
)
# A number as labs print it in a text value: a comparator ("<0.01", "< 0.01", "\u22640.5") and
# an abnormal flag after it ("0.2 (H)", "0.2 H", "0.20*", "6.1 HH", "0.2 [L]").
_PRINTED = re.compile(
    r"\s*(?P<comparator><=|>=|<|>|\u2264|\u2265)?\s*"
    r"(?P<number>[+-]?(?:\d+\.?\d*|\.\d+))"
    r"\s*(?:(?P<bracketed>[(\[](?:HH|LL|H|L|A|AA|\*|!)[)\]])|(?P<flag>HH|LL|H|L|A|AA)\b|(?P<mark>[*!]+))?"
    r"\s*",
)
_UNICODE_COMPARATORS = {"\u2264": "<=", "\u2265": ">="}


@dataclass(frozen=True, slots=True)
class ReadValue:
    """A value read from the text a lab sent: the number, the comparator before it ("<"),
    and the abnormal flag printed after it (HL7 table 0078: H, L, HH, LL, A)."""

    number: Decimal
    comparator: str
    flag: str


def read_value(text: str) -> ReadValue | None:
    """``"<0.01"``, ``"< 0.01"``, ``">100"``, ``"0.2 (H)"``, ``"0.2 H"``, ``"0.20*"`` as a number,
    a comparator and a flag (``*`` and ``!`` are "abnormal", A); None for anything else, which
    the caller keeps as the text sent (and monitoring raises for review)."""
    match = _PRINTED.fullmatch(text)
    if match is None:
        return None
    try:
        number = Decimal(match.group("number"))
    except InvalidOperation:  # pragma: no cover - the pattern admits only valid decimals
        return None
    comparator = match.group("comparator") or ""
    comparator = _UNICODE_COMPARATORS.get(comparator, comparator)
    flag = match.group("flag") or (match.group("bracketed") or "")[1:-1]
    if match.group("mark") or flag in ("*", "!"):
        flag = "A"
    return ReadValue(number=number, comparator=comparator, flag=flag)


@dataclass(frozen=True, slots=True)
class ObservationData:
    """One OBX, with the NTEs that follow it."""

    set_id: int | None  # OBX-1
    value_type: str  # OBX-2
    code: str  # OBX-3.1
    name: str  # OBX-3.2, else OBX-3.5
    code_system: str  # OBX-3.3
    value_text: str  # OBX-5 as sent, unescaped; repetitions joined
    numeric: Decimal | None  # NM and SN, and ST/TX/FT values that are one printed number
    comparator: str  # <, <=, > or >= before the number; "" otherwise
    units: str  # OBX-6.1
    reference_range: str  # OBX-7
    abnormal_flags: str  # OBX-8, repetitions joined with ","
    status: str  # OBX-11, raw code
    observed_at: Timestamp  # OBX-14, else OBR-7
    notes: tuple[str, ...]  # NTE-3 after this OBX
    attachment: Attachment | None = None  # ED values


@dataclass(frozen=True, slots=True)
class ResultGroup:
    """One OBR with its order numbers, notes and observations."""

    placer_order_number: str  # OBR-2.1, else ORC-2.1
    filler_order_number: str  # OBR-3.1, else ORC-3.1
    service_code: str  # OBR-4.1
    service_name: str  # OBR-4.2, else OBR-4.5
    service_system: str  # OBR-4.3
    observed_at: Timestamp  # OBR-7
    reported_at: Timestamp  # OBR-22
    diagnostic_service: str  # OBR-24, e.g. CH (chemistry), MR, CT
    status: str  # OBR-25 raw: P, F, C, X, R, D, ...
    ordering_clinician: str  # OBR-16 as "Title Given Family"
    notes: tuple[str, ...]  # NTE-3 after the OBR, before its first OBX
    observations: tuple[ObservationData, ...]


@dataclass(slots=True)
class _GroupBuilder:
    orc: Segment | None
    obr: Segment
    notes: list[str] = field(default_factory=list)
    observations: list[tuple[Segment, list[str]]] = field(default_factory=list)


def extract_results(msg: ParsedMessage) -> list[ResultGroup]:
    """The OBR groups of an ORU^R01, in order (HL7 v2.5 ORDER_OBSERVATION, simplified).

    An ORC applies to the OBR after it. An NTE belongs to the OBX before it, or to the OBR when
    no OBX has come yet; NTEs before the first OBR (patient notes) are not results and are left.
    Raises ``Hl7ParseError`` (AE) for an ORU with no OBR, an OBX before any OBR, a group with no
    filler order number, or a malformed timestamp.
    """
    require_type(msg, "ORU")
    builders: list[_GroupBuilder] = []
    pending_orc: Segment | None = None
    notes: list[str] | None = None  # where an NTE goes now
    for segment in msg.segments:
        name = segment.name
        if name == "ORC":
            pending_orc, notes = segment, None
        elif name == "OBR":
            builders.append(_GroupBuilder(orc=pending_orc, obr=segment))
            pending_orc, notes = None, builders[-1].notes
        elif name == "OBX":
            if not builders:
                raise Hl7ParseError(
                    "OBX before any OBR", field="OBX", hl7_code=ErrorCode.SEGMENT_SEQUENCE_ERROR
                )
            obx_notes: list[str] = []
            builders[-1].observations.append((segment, obx_notes))
            notes = obx_notes
        elif name == "NTE":
            if notes is not None:
                notes.append(note_text(segment))
        else:
            notes = None
    if not builders:
        raise Hl7ParseError(
            "OBR segment missing", field="OBR", hl7_code=ErrorCode.SEGMENT_SEQUENCE_ERROR
        )
    return [_result_group(builder) for builder in builders]


def _result_group(builder: _GroupBuilder) -> ResultGroup:
    obr, orc = builder.obr, builder.orc
    filler = leaf(obr, 3).strip() or (leaf(orc, 3).strip() if orc else "")
    if not filler:
        raise Hl7ParseError(
            "OBR-3 (filler order number) is missing, and ORC-3 too",
            field="OBR-3",
            hl7_code=ErrorCode.REQUIRED_FIELD_MISSING,
        )
    observed_at = parse_timestamp(leaf(obr, 7), "OBR-7")
    return ResultGroup(
        placer_order_number=leaf(obr, 2).strip() or (leaf(orc, 2).strip() if orc else ""),
        filler_order_number=filler,
        service_code=leaf(obr, 4, 1),
        service_name=leaf(obr, 4, 2) or leaf(obr, 4, 5),
        service_system=leaf(obr, 4, 3),
        observed_at=observed_at,
        reported_at=parse_timestamp(leaf(obr, 22), "OBR-22"),
        diagnostic_service=leaf(obr, 24),
        status=leaf(obr, 25).strip(),
        ordering_clinician=person_text(obr, 16),
        notes=tuple(builder.notes),
        observations=tuple(
            _observation(obx, obx_notes, observed_at) for obx, obx_notes in builder.observations
        ),
    )


def _observation(obx: Segment, notes: list[str], group_observed_at: Timestamp) -> ObservationData:
    value_type = leaf(obx, 2).strip().upper()
    value_text, numeric, comparator, attachment = _observation_value(obx, value_type)
    units = leaf(obx, 6, 1) or leaf(obx, 6, 2)
    flags = [leaf(obx, 8, repetition=r) for r in range(1, obx.repetition_count(8) + 1)]
    if numeric is not None and not any(flags):
        # "0.2 (H)": the flag printed with the value, where OBX-8 gives none.
        read = read_value(value_text)
        flags = [read.flag] if read is not None and read.flag else []
    set_id = leaf(obx, 1).strip()
    return ObservationData(
        set_id=int(set_id) if INTEGER.fullmatch(set_id) else None,
        value_type=value_type,
        code=leaf(obx, 3, 1),
        name=leaf(obx, 3, 2) or leaf(obx, 3, 5),
        code_system=leaf(obx, 3, 3),
        value_text=value_text,
        numeric=numeric,
        comparator=comparator,
        units=units,
        reference_range=free_text(obx, 7),
        abnormal_flags=",".join(flag for flag in flags if flag),
        status=leaf(obx, 11).strip(),
        observed_at=parse_timestamp(leaf(obx, 14), "OBX-14") or group_observed_at,
        notes=tuple(notes),
        attachment=attachment,
    )


def _observation_value(
    obx: Segment, value_type: str
) -> tuple[str, Decimal | None, str, Attachment | None]:
    count = obx.repetition_count(5)
    repetitions = range(1, count + 1)
    if value_type in TEXT_VALUE_TYPES:
        text = "\n".join(free_text(obx, 5, repetition=r) for r in repetitions)
        # A result sent as text is still a result: "<0.01" or "0.2 (H)" in an ST is a number.
        read = read_value(text) if "\n" not in text else None
        if read is not None:
            return text, read.number, read.comparator, None
        return text, None, "", None
    if value_type == "ED":
        return "", None, "", read_attachment(obx) if count else None
    if value_type in _CODED_VALUE_TYPES:
        values = [
            leaf(obx, 5, 2, repetition=r) or leaf(obx, 5, 1, repetition=r) for r in repetitions
        ]
        return ", ".join(v for v in values if v), None, "", None
    if value_type == "SN":
        # comparator ^ number ^ separator/suffix ^ number: "<^0.01" is "<0.01", "1^:^128" a ratio
        values = ["".join(components_of(obx, 5, r)) for r in repetitions]
    elif value_type == "NM":
        values = [leaf(obx, 5, 1, repetition=r).strip() for r in repetitions]
    else:
        values = [" ".join(c for c in components_of(obx, 5, r) if c) for r in repetitions]
    value_text = ", ".join(v for v in values if v)
    numeric, comparator = None, ""
    if value_type in ("NM", "SN") and len(values) == 1:
        read = read_value(values[0])
        if read is not None:
            numeric, comparator = read.number, read.comparator
    return value_text, numeric, comparator, None


def parse_number(value: str) -> tuple[Decimal | None, str]:
    """``"<0.01"`` → ``(Decimal("0.01"), "<")``; ``"0.2"`` → ``(Decimal("0.2"), "")``.

    Anything that is not one number with an optional ``<``, ``<=``, ``>`` or ``>=`` gives
    ``(None, "")``; the caller keeps the text as sent.
    """
    match = _NUMBER.fullmatch(value)
    if match is None:
        return None, ""
    try:
        return Decimal(match.group("number")), match.group("comparator") or ""
    except InvalidOperation:  # pragma: no cover - the pattern admits only valid decimals
        return None, ""


def is_textual_report(group: ResultGroup) -> bool:
    """True when every OBX is free text (TX, FT, ST): a report to be read as one text."""
    return bool(group.observations) and all(
        observation.value_type in TEXT_VALUE_TYPES for observation in group.observations
    )


def report_text(group: ResultGroup, *, include_notes: bool = True) -> str:
    """A textual report as one text: each OBX-5 repetition (or each OBX) a line.

    NTE lines are included where they stand (PKB joins "OBX and NTE lines in order" for
    radiology): the OBR's notes first, each OBX's notes after it.
    """
    lines: list[str] = list(group.notes) if include_notes else []
    for observation in group.observations:
        lines.append(observation.value_text)
        if include_notes:
            lines.extend(observation.notes)
    return "\n".join(lines)
