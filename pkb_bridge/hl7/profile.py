"""PKB's conformance profile: what every message we send must be, checked before it is sent.

One profile per message type the bridge sends (ADT^A28/A31, lab and radiology ORU^R01,
MDM^T02 documents and care plans, MDM^T11, SIU^S12/S13/S14/S15/S26), from PKB's interface
(pkb-hl7-interface.md, section numbers below) and HL7 v2.4. ``check`` returns every way a
message departs from it, as sentences naming the field; an empty list means it conforms. The
outbox refuses to send a message with any problem and holds it with the problems as its reason.

Pure code: ER7 text in, sentences out. It reads the message independently of the builders
(a plain split on the delimiters our MSH-2 declares), so a builder bug is not repeated by its
own check. What is checked:

* the envelope: one MSH, first; CR-terminated segments, no LF (free text that slipped through
  unescaped would start a segment); MSH-7 local time without an offset (4); MSH-9 a type we
  send with MSH-9.3 its v2.4 structure; MSH-10, MSH-11 (P, T, D) and MSH-12 2.4;
* identifier form (5.1, 5.3, 11): one PID, PID-3 led by a valid NHS number as
  ``NHSNO^^^NHS^NH{status:NN}``; local identifiers only in ADT (PKB cannot merge records);
* escapes: every ``\\`` starts one of the escape sequences of v2.4 section 2.7; no ``\\.br\\``
  in the value of a TX, ST or NM result: only FT has a line break escape, and PKB would show
  it literally (PKB's encoding table sends a new line as ``\\.br\\`` in other text);
* lengths: TXA-12.1 and TXA-16 at most 30 characters (v2.4);
* timestamps other than MSH-7 well formed, with a UTC offset where they are instants (10);
* per message: the required fields of sections 9.1-9.6; for lab reports no withdrawn
  observation (OBX-11 W, D or X, 9.2), one value per test id in a discrete report (9.2), an
  observation time in OBX-14 or OBR-7 (9.2); delay placement (8): every OBX of a report
  carries the same OBX-13, and an OBR-13 equals it; a deletion (OBR-25 R) carries no OBX;
  the care plan rules of 9.5 and no MDM^T11 for a care plan (2).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable

# MSH-9.1^9.2 and the v2.4 structure (table 0354) MSH-9.3 must name. Written out again from the
# standard rather than imported from the builder (build.MESSAGE_STRUCTURES) on purpose: the
# profile is a second reading of the interface, so a wrong entry in the builder is caught here.
STRUCTURES: dict[str, str] = {
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
# HL7 v2.4 maximum lengths of the fields the bridge writes long values into.
MAX_LENGTHS: dict[str, int] = {"TXA-12.1": 30, "TXA-16": 30}
WITHDRAWN_OBSERVATION_STATUSES = frozenset({"W", "D", "X"})
TEXT_VALUE_TYPES = frozenset({"TX", "FT", "ST"})
LAB_VALUE_TYPES = frozenset({"NM", "TX", "FT", "ST"})

_NHS_PID3 = re.compile(r"(?P<number>[0-9]{10})\^\^\^NHS\^NH\{status:0[1-8]\}")
_CONTROL_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
_SEGMENT_NAME = re.compile(r"[A-Z][A-Z0-9]{2}")
# The segments the bridge writes: names known to match _SEGMENT_NAME, not matched again for
# each of a packed report's hundreds of segments (any other name is matched).
_NAMES_SENT = frozenset(
    name
    for name in ("MSH", "EVN", "PID", "PD1", "PV1", "DG1", "ORC", "OBR", "OBX", "NTE", "TXA")
    if _SEGMENT_NAME.fullmatch(name)
)
_MSH_7 = re.compile(r"[0-9]{12}([0-9]{2})?")
# A TS: 4 to 14 digits in whole parts, optional fraction, optional offset.
_TS = re.compile(r"[0-9]{4}(?:[0-9]{2}){0,5}(?:\.[0-9]{1,4})?(?P<offset>[+-][0-9]{4})?")
_DATE = re.compile(r"[0-9]{8}")
# The escape sequences of v2.4 section 2.7: delimiters, highlighting, hex, and the formatting
# commands of FT (\.br\ and friends), told apart below.
_ESCAPE = re.compile(
    r"\\(?:[FSTRE]|H|N|X[0-9A-Fa-f]+|Z[^\\|^~&]*|C[0-9A-Fa-f]+|M[0-9A-Fa-f]+"
    r"|\.[a-z]{2}[+-]?[0-9]*)\\"
)
_FORMATTING = re.compile(r"\\\.[a-z]{2}[+-]?[0-9]*\\")
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")


def nhs_number_is_valid(number: str) -> bool:
    """Modulus 11 (pkb-hl7-interface.md 11.1): ten digits, the tenth the check digit."""
    if len(number) != 10 or not number.isdigit():
        return False
    weights = range(10, 1, -1)
    total = sum(int(digit) * weight for digit, weight in zip(number[:9], weights, strict=True))
    check = 11 - total % 11
    check = 0 if check == 11 else check
    return check != 10 and check == int(number[9])


class _Segment:
    """One segment as read: ``fields[n]`` is field n (for MSH too: ``fields[1]`` is "|").
    ``escaped``: whether any field holds a backslash (an escape); most segments of a packed
    report hold none, and are then passed over by ``_check_escapes`` whole."""

    __slots__ = ("escaped", "fields", "name")

    def __init__(self, name: str, fields: list[str], escaped: bool = True) -> None:
        self.name = name
        self.fields = fields
        self.escaped = escaped

    def get(self, number: int) -> str:
        try:
            return self.fields[number]
        except IndexError:
            return ""

    def component(self, number: int, component: int) -> str:
        value = self.get(number)
        if "^" not in value and "~" not in value:  # one component, as most are
            return value if component == 1 else ""
        parts = value.split("~", 1)[0].split("^", component)
        return parts[component - 1] if component <= len(parts) else ""


def check(message: str, *, radiology_applications: Iterable[str] = ("RADIOLOGY",)) -> list[str]:
    """Every way ``message`` departs from PKB's profile for its type; empty when it conforms.

    ``radiology_applications`` are the MSH-3 values that make PKB read an ORU^R01 as radiology
    (``PKB_RADIOLOGY_APPLICATION``)."""
    problems: list[str] = []
    segments = _split(message, problems)
    if not segments:
        return problems
    msh = segments[0]
    message_type = _check_msh(msh, problems)
    _check_escapes(segments, problems)
    pids = [segment for segment in segments if segment.name == "PID"]
    if len(pids) != 1:
        problems.append(f"PID: the message has {len(pids)} PID segments; exactly one is required")
    else:
        _check_pid(pids[0], adt=message_type.startswith("ADT^"), problems=problems)
    radiology = {name.upper() for name in radiology_applications}
    if message_type in ("ADT^A28", "ADT^A31"):
        _check_adt(segments, problems)
    elif message_type == "ORU^R01":
        if msh.get(3).upper() in radiology:
            _check_radiology(segments, problems)
        else:
            _check_lab(segments, problems)
    elif message_type == "MDM^T02":
        _check_mdm_t02(segments, problems)
    elif message_type == "MDM^T11":
        _check_mdm_t11(segments, problems)
    elif message_type.startswith("SIU^"):
        _check_siu(segments, message_type, problems)
    return problems


def profile_name(message: str, *, radiology_applications: Iterable[str] = ("RADIOLOGY",)) -> str:
    """The profile ``check`` holds ``message`` to ("ORU^R01 lab", "MDM^T02 care plan"...)."""
    segments = _split(message, [])
    if not segments:
        return "unknown"
    message_type = "^".join(segments[0].get(9).split("^")[:2])
    if message_type == "ORU^R01":
        radiology = {name.upper() for name in radiology_applications}
        return "ORU^R01 radiology" if segments[0].get(3).upper() in radiology else "ORU^R01 lab"
    if message_type == "MDM^T02":
        txa = next((s for s in segments if s.name == "TXA"), None)
        if txa is not None and txa.component(2, 1) == "CP":
            return "MDM^T02 care plan"
        return "MDM^T02 document"
    return message_type or "unknown"


# --- reading --------------------------------------------------------------------------------


def _split(message: str, problems: list[str]) -> list[_Segment]:
    if "\n" in message:
        problems.append("The message contains a line feed: free text that was not escaped")
    if not message.endswith("\r"):
        problems.append("The message does not end with a segment terminator (CR)")
    lines = [line for line in message.replace("\n", "\r").split("\r") if line]
    if not lines or not lines[0].startswith("MSH|^~\\&"):
        problems.append("MSH: the message must start with MSH|^~\\&")
        return []
    segments: list[_Segment] = []
    for number, line in enumerate(lines, 1):
        name = line[:3]
        if (name not in _NAMES_SENT and not _SEGMENT_NAME.fullmatch(name)) or (
            len(line) > 3 and line[3] != "|"
        ):
            problems.append(f"Segment {number} does not start with a segment name")
            continue
        if name == "MSH" and number > 1:
            problems.append("MSH: the message has more than one MSH")
            continue
        parts = line.split("|")
        if name == "MSH":
            parts.insert(1, "|")
        segments.append(_Segment(name, parts, "\\" in line))
    return segments


# --- the parts every message has ------------------------------------------------------------


def _check_msh(msh: _Segment, problems: list[str]) -> str:
    if not _MSH_7.fullmatch(msh.get(7)):
        problems.append("MSH-7 must be the local send time without an offset (YYYYMMDDHHMM[SS])")
    parts = msh.get(9).split("^")
    message_type = "^".join(parts[:2])
    if message_type not in STRUCTURES:
        problems.append(f"MSH-9 {message_type or '(blank)'} is not a message the bridge sends")
    elif parts[2:] != [STRUCTURES[message_type]]:
        problems.append(f"MSH-9.3 must be {STRUCTURES[message_type]} for {message_type}")
    if not _CONTROL_ID.fullmatch(msh.get(10)):
        problems.append("MSH-10 must be 1-64 letters, digits, '.', '_' or '-'")
    if msh.get(11) not in ("P", "T", "D"):
        problems.append("MSH-11 must be P, T or D")
    if msh.get(12) != "2.4":
        problems.append("MSH-12 must be 2.4")
    return message_type


def _check_pid(pid: _Segment, *, adt: bool, problems: list[str]) -> None:
    identifiers = pid.get(3).split("~")
    first = _NHS_PID3.fullmatch(identifiers[0])
    if first is None:
        problems.append("PID-3 must start with the NHS number as NHSNO^^^NHS^NH{status:NN}")
    elif not nhs_number_is_valid(first.group("number")):
        problems.append("PID-3.1 is not a valid NHS number (modulus 11)")
    if len(identifiers) > 1 and not adt:
        problems.append("PID-3: local identifiers go only in ADT^A28/A31 (PKB cannot merge)")
    if adt and (not pid.component(5, 1) or not pid.component(5, 2)):
        problems.append("PID-5 must have a family name and a given name (5.2)")
    if pid.get(7) and not _DATE.fullmatch(pid.get(7)):
        problems.append("PID-7 must be a date (YYYYMMDD)")
    if pid.get(8) and pid.get(8) not in ("M", "F", "U"):
        problems.append("PID-8 must be M, F or U (PKBCS01)")


def _check_escapes(segments: list[_Segment], problems: list[str]) -> None:
    for segment in segments:
        if not segment.escaped:
            continue
        obx_type = segment.get(2) if segment.name == "OBX" else ""
        start = 3 if segment.name == "MSH" else 1
        for number in range(start, len(segment.fields)):
            value = segment.fields[number]
            if "\\" not in value:
                continue
            place = f"{segment.name}-{number}"
            if _ESCAPE.sub("", value).count("\\"):
                problems.append(f"{place} has a backslash that starts no escape sequence")
            # A result value of type TX, ST or NM has no line break escape: PKB shows \.br\
            # there as it is. (Elsewhere a new line is \.br\ by PKB's encoding table.)
            unformatted = segment.name == "OBX" and number == 5 and obx_type in ("TX", "ST", "NM")
            escapes = (match.group() for match in _ESCAPE.finditer(value))
            if unformatted and any(_FORMATTING.fullmatch(escape) for escape in escapes):
                problems.append(
                    f"{place} has a formatting escape (\\.br\\) in a {obx_type} value: only FT "
                    "has one, and PKB would show it literally"
                )


def _check_ts(segment: _Segment, number: int, problems: list[str], *, required: bool) -> None:
    _check_ts_value(segment.get(number), f"{segment.name}-{number}", problems, required=required)


def _check_ts_value(value: str, place: str, problems: list[str], *, required: bool) -> None:
    if not value:
        if required:
            problems.append(f"{place} is required")
        return
    match = _TS.fullmatch(value)
    if match is None:
        problems.append(f"{place} is not a timestamp")
    elif len(value) > 8 and not match.group("offset"):
        problems.append(f"{place} must carry its UTC offset (+ZZZZ)")


def _require(segment: _Segment | None, number: int, name: str, problems: list[str]) -> None:
    if segment is None or not segment.get(number):
        problems.append(f"{name}-{number} is required")


def _first(segments: list[_Segment], name: str) -> _Segment | None:
    return next((segment for segment in segments if segment.name == name), None)


def _check_length(value: str, place: str, problems: list[str]) -> None:
    limit = MAX_LENGTHS[place]
    if len(_unescaped_length_text(value)) > limit:
        problems.append(f"{place} is longer than {limit} characters (HL7 v2.4)")


def _unescaped_length_text(value: str) -> str:
    # The length of a value is of the value, not of its escape sequences: each stands for one
    # character (a hex escape for one a byte).
    def one(match: re.Match[str]) -> str:
        escape = match.group()
        return "x" * max(1, (len(escape) - 3) // 2) if escape.startswith("\\X") else "x"

    return _ESCAPE.sub(one, value)


# --- ADT ------------------------------------------------------------------------------------


def _check_adt(segments: list[_Segment], problems: list[str]) -> None:
    evn = _first(segments, "EVN")
    if evn is None:
        problems.append("EVN is required")
    for dg1 in (s for s in segments if s.name == "DG1"):
        if not dg1.component(3, 1):
            problems.append("DG1-3.1 (the diagnosis code) is required")
        if dg1.component(3, 3) not in ("SNOMED CT", "ICD-10", "Read V2"):
            problems.append('DG1-3.3 must be "SNOMED CT", "ICD-10" or "Read V2"')


# --- ORU^R01 --------------------------------------------------------------------------------


def _groups(segments: list[_Segment]) -> list[tuple[_Segment | None, _Segment, list[_Segment]]]:
    """Each order group as (ORC, OBR, OBXs)."""
    groups: list[tuple[_Segment | None, _Segment, list[_Segment]]] = []
    orc: _Segment | None = None
    for segment in segments:
        if segment.name == "ORC":
            orc = segment
        elif segment.name == "OBR":
            groups.append((orc, segment, []))
            orc = None
        elif segment.name == "OBX" and groups:
            groups[-1][2].append(segment)
        elif segment.name == "OBX":
            groups.append((None, _Segment("OBR", ["OBR"]), [segment]))
    return groups


def _check_order(
    orc: _Segment | None, obr: _Segment, place: str, problems: list[str]
) -> tuple[str, str]:
    obr_filler = obr.component(3, 1)
    orc_filler = orc.component(3, 1) if orc is not None else ""
    filler = obr_filler or orc_filler
    if not filler:
        problems.append(f"{place}: OBR-3 or ORC-3 (the filler order number) is required")
    if orc_filler and obr_filler and orc_filler != obr_filler:
        problems.append(f"{place}: ORC-3 and OBR-3 must be the same filler order number")
    if not obr.component(4, 1):
        problems.append(f"{place}: OBR-4.1 (the service code) is required")
    _check_ts(obr, 7, problems, required=False)
    _check_ts(obr, 22, problems, required=False)
    return filler, obr.get(25)


def _check_delays(obr: _Segment, obxs: list[_Segment], place: str, problems: list[str]) -> None:
    delays = {obx.get(13) for obx in obxs}
    if len(delays) > 1:
        problems.append(f"{place}: every OBX must carry the same delay (OBX-13)")
    for delay in delays | {obr.get(13)}:
        if delay and not delay.isdigit():
            problems.append(f"{place}: a delay (OBX-13, OBR-13) is a whole number of days")
    if obr.get(13) and obxs and delays != {obr.get(13)}:
        problems.append(f"{place}: OBR-13 and every OBX-13 must carry the same delay")


def _check_lab(segments: list[_Segment], problems: list[str]) -> None:
    if _first(segments, "PV1") is None:
        problems.append("PV1 is required (PV1-10 sets the privacy label)")
    groups = _groups(segments)
    if not groups:
        problems.append("ORU^R01: at least one OBR is required")
    for number, (orc, obr, obxs) in enumerate(groups, 1):
        place = f"OBR[{number}]"
        _, status = _check_order(orc, obr, place, problems)
        if status == "R":
            if obxs:
                problems.append(f"{place}: a deletion (OBR-25 R) carries no OBX")
            continue
        _check_delays(obr, obxs, place, problems)
        textual = len(obxs) > 1 and all(obx.get(2) in TEXT_VALUE_TYPES for obx in obxs)
        codes = {(obx.component(3, 1), obx.component(3, 3)) for obx in obxs}
        if not textual and len(codes) != len(obxs):
            problems.append(f"{place}: one value per test id (OBX-3) in a report")
        observed = obr.get(7)
        for index, obx in enumerate(obxs, 1):
            where = _ObxPlace(place, index)
            _check_lab_obx(obx, where, problems)
            if not obx.get(14) and not observed:
                problems.append(f"{where}: an observation time (OBX-14 or OBR-7) is required")


class _ObxPlace:
    """``OBR[n].OBX[m]``, written out only into a problem's sentence: a packed report has
    hundreds of OBX, nearly always without one."""

    __slots__ = ("index", "place")

    def __init__(self, place: str, index: int) -> None:
        self.place = place
        self.index = index

    def __str__(self) -> str:
        return f"{self.place}.OBX[{self.index}]"

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)


def _check_lab_obx(obx: _Segment, place: str | _ObxPlace, problems: list[str]) -> None:
    value_type = obx.get(2)
    if value_type not in LAB_VALUE_TYPES:
        problems.append(f"{place}: OBX-2 must be NM, TX, FT or ST")
    if not obx.component(3, 1):
        problems.append(f"{place}: OBX-3.1 (the test id) is required")
    status = obx.get(11).upper()
    if status in WITHDRAWN_OBSERVATION_STATUSES:
        problems.append(
            f"{place}: OBX-11 {status} is a withdrawn observation, which is never published"
        )
    if value_type == "NM" and obx.get(5) and not _NUMBER.fullmatch(obx.get(5)):
        problems.append(f"{place}: OBX-5 of an NM result must be a number")
    _check_ts(obx, 14, problems, required=False)


def _check_radiology(segments: list[_Segment], problems: list[str]) -> None:
    if _first(segments, "PV1") is None:
        problems.append("PV1 is required (PV1-10 sets the privacy label)")
    groups = _groups(segments)
    if len(groups) != 1:
        problems.append("ORU^R01 radiology: exactly one OBR is required")
        return
    orc, obr, obxs = groups[0]
    _, status = _check_order(orc, obr, "OBR[1]", problems)
    _check_ts(obr, 7, problems, required=True)
    if not obr.component(4, 2):
        problems.append("OBR-4.2 (the report's title) is required")
    if status == "R":
        return
    if not obxs:
        problems.append("A radiology report needs its text (one TX OBX a line)")
    _check_delays(obr, obxs, "OBR[1]", problems)
    if any(obx.get(2) != "TX" for obx in obxs):
        problems.append("A radiology report is sent as TX OBXs, one a line")
    if len({(obx.component(3, 1), obx.component(3, 3)) for obx in obxs}) > 1:
        problems.append("Every line of a radiology report has the same OBX-3")
    for index, obx in enumerate(obxs, 1):
        if obx.get(11).upper() in WITHDRAWN_OBSERVATION_STATUSES:
            problems.append(f"OBR[1].OBX[{index}]: OBX-11 withdraws the line; it is not sent")


# --- MDM ------------------------------------------------------------------------------------


def _check_mdm_common(segments: list[_Segment], problems: list[str]) -> _Segment | None:
    if _first(segments, "EVN") is None:
        problems.append("EVN is required")
    if _first(segments, "PV1") is None:
        problems.append("PV1 is required (PV1-10 sets the privacy label)")
    txa = _first(segments, "TXA")
    if txa is None:
        problems.append("TXA is required")
        return None
    number = txa.component(12, 1)
    if not number:
        problems.append("TXA-12.1 (the unique document number) is required")
    else:
        _check_length(number, "TXA-12.1", problems)
    return txa


def _check_mdm_t02(segments: list[_Segment], problems: list[str]) -> None:
    txa = _check_mdm_common(segments, problems)
    if txa is None:
        return
    document_type = txa.component(2, 1)
    if not document_type:
        problems.append("TXA-2 (the PKBCS05 document type) is required")
    _check_ts(txa, 4, problems, required=True)
    if txa.get(16):
        _check_length(txa.get(16), "TXA-16", problems)
    if txa.get(17) != "AU":
        problems.append("TXA-17 must be AU")
    obxs = [segment for segment in segments if segment.name == "OBX"]
    if len(obxs) != 1:
        problems.append("MDM^T02 carries its content in exactly one OBX")
        return
    obx = obxs[0]
    if obx.get(2) != "ED":
        problems.append("OBX-2 must be ED")
    if not obx.component(3, 2):
        problems.append("OBX-3.2 (the title) is required")
    kind, subtype, encoding, data = (obx.component(5, n) for n in (2, 3, 4, 5))
    if kind not in ("TEXT", "APPLICATION"):
        problems.append("OBX-5.2 must be TEXT (or APPLICATION)")
    if subtype not in ("HTML", "PDF"):
        problems.append("OBX-5.3 must be HTML or PDF")
    if encoding not in ("Base64", "A"):
        problems.append("OBX-5.4 must be Base64 or A")
    if not data:
        problems.append("OBX-5.5 (the content) is required")
    elif encoding == "Base64":
        try:
            base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            problems.append("OBX-5.5 is not Base64")
    if document_type == "CP" and kind != "TEXT":
        problems.append("A care plan's OBX-5.2 must be TEXT")
    if obx.get(13) and not obx.get(13).isdigit():
        problems.append("OBX-13 (the delay) is a whole number of days")
    if obx.get(11).upper() in WITHDRAWN_OBSERVATION_STATUSES:
        problems.append("OBX-11 withdraws the document's content; it is not sent")


def _check_mdm_t11(segments: list[_Segment], problems: list[str]) -> None:
    txa = _check_mdm_common(segments, problems)
    if txa is not None and txa.component(2, 1) == "CP":
        problems.append("MDM^T11 does not apply to care plans: PKB keeps the plan")


# --- SIU ------------------------------------------------------------------------------------


def _check_siu(segments: list[_Segment], message_type: str, problems: list[str]) -> None:
    sch = _first(segments, "SCH")
    if sch is None:
        problems.append("SCH is required")
        return
    if not sch.component(1, 1):
        problems.append("SCH-1.1 (the placer appointment id) is required")
    start = sch.component(11, 4)
    _check_ts_value(start, "SCH-11.4", problems, required=True)
    _check_ts_value(sch.component(11, 5), "SCH-11.5", problems, required=False)
    if _first(segments, "RGS") is None:
        problems.append("RGS is required (v2.4 SIU_S12)")
    for aip in (segment for segment in segments if segment.name == "AIP"):
        if aip.get(4) and not aip.component(4, 2):
            problems.append("AIP-4.2 (the clinician's role) is blank")
