"""What PKB does with one HL7 message: validate it as PKB does, store what it accepts, answer.

Rules and texts follow pkb-hl7-interface.md (3.2, 5, 8, 9); where PKB publishes the wording
(``Patient not found``, ``Email address already in use by another patient``, the OBX timestamp
error, ``Unexpected error while processing: null``) it is used verbatim, elsewhere the text is in
the same ``Parsing or validation error: <where>: <what>`` style. Texts never quote patient
identifiers: the RMS stores and may log MSA-3.

Everything is validated before anything is stored, so an AR leaves the record as it was.
The functions here work on the plain JSON-shaped dict that ``SandboxState`` holds and persists;
the caller holds the state's lock.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from rms import nhs_number as nhs
from rms.hl7 import (
    DEFAULT_DELIMITERS,
    Hl7Error,
    ParsedMessage,
    ResultGroup,
    escape,
    extract_appointment,
    extract_document,
    extract_patient,
    extract_results,
    parse,
    report_text,
)
from rms.hl7.extract.common import TEXT_VALUE_TYPES, leaf
from rms.hl7.parse import LONDON, Segment, parse_timestamp

logger = logging.getLogger("devtools.sandbox")

AckCode = Literal["AA", "AE", "AR"]
DelayField = Literal["OBX-13", "OBR-13"]

UNEXPECTED = "Unexpected error while processing: null"
PATIENT_NOT_FOUND = "Patient not found"
EMAIL_IN_USE = "Email address already in use by another patient"
CARE_PLAN_DELETE = "Care plans cannot be deleted"

SUPPORTED = {
    "ADT": frozenset({"A28", "A31"}),
    "ORU": frozenset({"R01"}),
    "MDM": frozenset({"T02", "T11"}),
    "SIU": frozenset({"S12", "S13", "S14", "S15", "S26"}),
}
# MSH-3 values PKB files an ORU^R01 under "Imaging" for (reference 9.3).
RADIOLOGY_APPLICATIONS = frozenset({"RADIOLOGY"})
OTHER_PANEL = "Other"


class Reject(Exception):
    """Answer this message with ``code`` and ``text``; nothing is stored."""

    def __init__(self, code: AckCode, text: str) -> None:
        super().__init__(text)
        self.code: AckCode = code
        self.text = text


def validation_error(where: str, what: str) -> Reject:
    return Reject("AR", f"Parsing or validation error: {where}: {what}")


@dataclass(frozen=True, slots=True)
class Options:
    """How this sandbox is configured, like a PKB organisation would be."""

    processing_id: str = "P"
    delay_field: DelayField = "OBX-13"
    # PKB's optional NHS number status check: status 02/03 goes to an admin queue, still AA.
    nhs_status_checking: bool = False


@dataclass(frozen=True, slots=True)
class Peek:
    """What can be read from a message without judging it: for logging and concurrency."""

    control_id: str
    message_type: str
    nhs_number: str
    sender: tuple[str, str] = ("", "")  # MSH-3, MSH-4: where the ACK goes


def peek(text: str) -> Peek:
    """The control id, type and NHS number of a message, as far as they can be read."""
    try:
        msg = parse(text)
    except Hl7Error:
        return Peek(control_id=_raw_control_id(text), message_type="", nhs_number="")
    number = ""
    with contextlib.suppress(Hl7Error):
        number = _nhs_identifier(msg)
    return Peek(
        msg.control_id, _type_of(msg), number, (msg.sending_application, msg.sending_facility)
    )


def _raw_control_id(text: str) -> str:
    """MSH-10 of a message that does not parse, read by splitting its first line; or ""."""
    first = text.lstrip("\ufeff").replace("\n", "\r").split("\r", 1)[0]
    if not first.startswith("MSH") or len(first) < 4:
        return ""
    fields = first.split(first[3])
    value = fields[9].strip() if len(fields) > 9 else ""
    return value if len(value) <= 199 and value.isprintable() else ""


def build_ack(
    code: AckCode, their_control_id: str, text: str, *, sender: tuple[str, str], now: datetime
) -> str:
    """A PKB-style ACK (reference Appendix A5): ACK^R01, v2.4, MSA-3 holding the error text."""
    stamp = now.astimezone(UTC).strftime("%Y%m%d%H%M%S+0000")

    def e(value: str) -> str:
        return escape(value, DEFAULT_DELIMITERS)

    msh = f"MSH|^~\\&|HL7API|PKB|{e(sender[0])}|{e(sender[1])}|{stamp}||ACK^R01|PKB-{stamp}|P|2.4"
    msa = f"MSA|{code}|{e(their_control_id)}"
    if text:
        msa += f"|{e(text)}"
    return f"{msh}\r{msa}"


def new_data() -> dict[str, Any]:
    return {"patients": {}, "messages": [], "quarantine": []}


@dataclass(slots=True)
class Result:
    """The outcome of one message, before the ACK is built."""

    code: AckCode
    text: str
    msg: ParsedMessage | None
    nhs_number: str
    notes: list[str]


def process(data: dict[str, Any], text: str, options: Options, now: datetime) -> Result:
    """Validate and apply one message to ``data``; never raises for bad input."""
    try:
        msg = parse(text)
    except Hl7Error:
        return Result("AE", UNEXPECTED, None, "", [])
    notes: list[str] = []
    try:
        number = _apply(data, msg, options, now, notes)
    except Reject as reject:
        number = ""
        with contextlib.suppress(Hl7Error):
            number = _nhs_identifier(msg)
        return Result(reject.code, reject.text, msg, number, notes)
    except Hl7Error as error:
        # A malformed field (timestamp, base64 ...): PKB calls these parsing errors too.
        return Result("AR", f"Parsing or validation error: {error.reason}", msg, "", notes)
    except Exception:
        # A bug in the sandbox: answer as PKB does to the unexpected, rather than drop the
        # connection (which the sender would read as "maybe delivered").
        logger.exception("the PKB sandbox failed to process a message")
        return Result("AE", UNEXPECTED, msg, "", notes)
    return Result("AA", "", msg, number, notes)


# -- dispatch and the patient -----------------------------------------------------------------


def _apply(
    data: dict[str, Any], msg: ParsedMessage, options: Options, now: datetime, notes: list[str]
) -> str:
    if msg.processing_id != options.processing_id:
        raise validation_error("MSH-11", f"Processing ID must be {options.processing_id}")
    if msg.trigger_event not in SUPPORTED.get(msg.message_type, frozenset()):
        raise validation_error("MSH-9", f"Message type {_type_of(msg)[:20]} is not supported")
    if msg.message_datetime is None:
        raise validation_error("MSH-7", "Message date/time is required")
    number = _nhs_identifier(msg)
    patient = _find_patient(data, msg, number)
    if patient is not None:
        number = str(patient["nhs_number"])  # it may have been found by its PKB id

    status = extract_patient(msg).nhs_number_status
    if options.nhs_status_checking and status in ("02", "03"):
        # PKB queues these for its organisation admin and still answers AA (reference 5.3).
        data["quarantine"].append({"control_id": msg.control_id, "nhs_number": number})
        notes.append("quarantined: NHS number status not verified")
        return number

    if msg.message_type == "ADT":
        _demographics(data, msg, number, patient, now, notes)
        return number
    if patient is None:
        # PKB creates records only from A28/A31 (no auto-create configured).
        raise Reject("AR", PATIENT_NOT_FOUND)
    if msg.message_type == "ORU":
        _results(patient, msg, options, now, notes)
    elif msg.message_type == "MDM":
        _document(patient, msg, now, notes)
    else:
        _appointment(patient, msg, now, notes)
    return str(patient["nhs_number"])


def _type_of(msg: ParsedMessage) -> str:
    return f"{msg.message_type}^{msg.trigger_event}" if msg.trigger_event else msg.message_type


def _nhs_identifier(msg: ParsedMessage) -> str:
    """The NHS number PKB would read: CX.4 ``NHS`` and CX.5 ``NH`` (status suffix allowed)."""
    for identifier in extract_patient(msg).identifiers:
        if identifier.assigning_authority.upper() == "NHS" and identifier.type_code.upper() == "NH":
            return identifier.value
    return ""


def _pkb_identifier(msg: ParsedMessage) -> str:
    for identifier in extract_patient(msg).identifiers:
        if identifier.assigning_authority.upper() == "PKB" and identifier.type_code.upper() == "PI":
            return identifier.value
    return ""


def _find_patient(data: dict[str, Any], msg: ParsedMessage, number: str) -> dict[str, Any] | None:
    if msg.get_segment("PID") is None:
        raise validation_error("PID", "PID segment is required")
    pkb_id = _pkb_identifier(msg)
    if not number and not pkb_id:
        # Identifiers whose AA/TC pair PKB does not know are ignored (reference 5.1).
        raise validation_error(
            "PID", "No recognised patient identifier (NHS number NHS/NH or PKB ID PKB/PI)"
        )
    if number:
        if not nhs.is_valid(number):
            raise validation_error("PID-3", "NHS number is not valid (Modulus 11 check failed)")
        found: dict[str, Any] | None = data["patients"].get(number)
        return found
    for patient in data["patients"].values():
        if patient["pkb_id"] == pkb_id:
            found_by_id: dict[str, Any] = patient
            return found_by_id
    raise Reject("AR", PATIENT_NOT_FOUND)


def _demographics(
    data: dict[str, Any],
    msg: ParsedMessage,
    number: str,
    patient: dict[str, Any] | None,
    now: datetime,
    notes: list[str],
) -> None:
    identity = extract_patient(msg)
    pid = msg.get_segment("PID")
    if pid is None:  # _find_patient has already refused this; for the type checker
        raise validation_error("PID", "PID segment is required")
    if patient is None:
        if not number:
            raise Reject("AR", PATIENT_NOT_FOUND)
        for missing, where, what in (
            (not identity.given_name, "PID-5.2", "Given name is required"),
            (not identity.family_name, "PID-5.1", "Family name is required"),
            (identity.date_of_birth is None, "PID-7", "Date of birth is required"),
            (
                leaf(pid, 8).strip().upper() not in ("M", "F", "U", "O", "I"),
                "PID-8",
                "Sex is required",
            ),
        ):
            if missing:
                raise validation_error(where, what)
    email = identity.email.strip()
    if email:
        owner = _email_owner(data, email)
        if owner is not None and owner != number:
            raise Reject("AR", EMAIL_IN_USE)
    diagnoses = _diagnoses(msg)  # validated before anything is written

    entered_at = _as_datetime(msg.message_datetime)
    if patient is None:
        patient = _new_patient(number, now)
        data["patients"][number] = patient
        notes.append("record created")
    elif (
        entered_at is not None
        and patient["entered_at"]
        and entered_at < _from_iso(patient["entered_at"])
    ):
        # PKB applies an A28/A31 only if MSH-7 is not older than the record (reference 3.3).
        notes.append("ignored: MSH-7 is older than the record's entered timestamp")
        return

    patient["entered_at"] = _iso(entered_at)
    for key, value in (
        ("family_name", identity.family_name),
        ("given_name", identity.given_name),
        ("middle_names", identity.middle_names),
        ("title", identity.title),
        ("date_of_birth", _iso(identity.date_of_birth)),
        ("nhs_number_status", identity.nhs_number_status),
    ):
        if value:  # "blank ignored on update" (reference 5.2)
            patient[key] = value
    sex = leaf(pid, 8).strip().upper()
    if sex:
        patient["sex"] = sex
    if identity.address is not None:
        patient["address"] = {
            "line1": identity.address.line1,
            "line2": identity.address.line2,
            "city": identity.address.city,
            "county": identity.address.county,
            "postcode": identity.address.postcode,
        }
    if email:
        _add_email(patient, email, now, notes)
    if msg.get_segments("DG1"):
        # The whole set the organisation sent before is replaced (reference 9.1).
        patient["diagnoses"] = diagnoses
        notes.append(f"diagnoses replaced ({len(diagnoses)})")


def _new_patient(number: str, now: datetime) -> dict[str, Any]:
    return {
        "nhs_number": number,
        "pkb_id": str(uuid.uuid4()),
        "nhs_number_status": "",
        "family_name": "",
        "given_name": "",
        "middle_names": "",
        "title": "",
        "date_of_birth": "",
        "sex": "",
        "address": None,
        "email": "",
        "unconfirmed_emails": [],
        "invited": False,
        "invited_at": "",
        "created_at": _iso(now),
        "entered_at": "",
        "diagnoses": [],
        "panels": {},
        "lab_results": {},
        "radiology": {},
        "documents": {},
        "care_plans": {},
        "appointments": {},
    }


def _email_owner(data: dict[str, Any], email: str) -> str | None:
    wanted = email.casefold()
    for number, patient in data["patients"].items():
        addresses = [patient["email"], *patient["unconfirmed_emails"]]
        if any(address.casefold() == wanted for address in addresses if address):
            return str(number)
    return None


def _add_email(patient: dict[str, Any], email: str, now: datetime, notes: list[str]) -> None:
    if not patient["email"]:
        # The record's first email: PKB emails the patient an invitation (reference 6).
        patient["email"] = email
        patient["invited"] = True
        patient["invited_at"] = _iso(now)
        notes.append("invitation sent")
    elif patient["email"].casefold() != email.casefold() and email.casefold() not in (
        address.casefold() for address in patient["unconfirmed_emails"]
    ):
        # Later addresses start unconfirmed and send no invitation.
        patient["unconfirmed_emails"].append(email)
        notes.append("email added, unconfirmed")


def _diagnoses(msg: ParsedMessage) -> list[dict[str, Any]]:
    diagnoses = []
    for index, dg1 in enumerate(msg.get_segments("DG1"), start=1):
        code, text = leaf(dg1, 3, 1), leaf(dg1, 3, 2)
        if not code and not text:
            raise validation_error(f"DG1[{index}]", "Diagnosis code or text is required")
        diagnoses.append(
            {
                "code": code,
                "text": text or code,
                "system": leaf(dg1, 3, 3),
                "diagnosed_at": _iso(parse_timestamp(leaf(dg1, 5), f"DG1[{index}]-5")),
            }
        )
    return diagnoses


# -- results ------------------------------------------------------------------------------


def _results(
    patient: dict[str, Any], msg: ParsedMessage, options: Options, now: datetime, notes: list[str]
) -> None:
    radiology = msg.sending_application.upper() in RADIOLOGY_APPLICATIONS
    groups = _result_groups(msg)
    seen: set[tuple[str, str]] = set()
    for index, found in enumerate(groups, start=1):
        group, obr = found.result, found.obr
        orc_fon = leaf(found.orc, 3).strip() if found.orc is not None else ""
        if orc_fon and leaf(obr, 3).strip() and orc_fon != leaf(obr, 3).strip():
            raise validation_error(f"OBR[{index}]", "ORC-3 and OBR-3 filler order numbers differ")
        if radiology:
            if group.observed_at is None:
                raise validation_error(f"OBR[{index}]", "OBR-7 observation date/time is required")
            continue
        if group.status.upper() == "R":
            continue
        for number, observation in enumerate(group.observations, start=1):
            if observation.observed_at is None:
                raise validation_error(
                    f"OBR[{index}].OBX[{number}]", "No observation timestamp in OBX or OBR"
                )
        if _is_single_report(group):
            continue
        for number, observation in enumerate(group.observations, start=1):
            key = (group.filler_order_number, _test_key(observation.code, observation.code_system))
            if key in seen:
                # PKB: one filler order number holds one value per test (reference 9.2).
                raise validation_error(
                    f"OBR[{index}].OBX[{number}]",
                    f"Test {observation.code[:40]} appears more than once for one filler "
                    "order number",
                )
            seen.add(key)

    for found in groups:
        delay = _delay_days(found.obr, found.first_obx, options)
        if radiology:
            _store_radiology(patient, found.result, delay, now, notes)
        else:
            _store_lab(patient, found.result, delay, now, notes)


@dataclass(frozen=True, slots=True)
class _Group:
    result: ResultGroup
    obr: Segment
    orc: Segment | None  # the ORC just before the OBR
    first_obx: Segment | None


def _result_groups(msg: ParsedMessage) -> list[_Group]:
    results = extract_results(msg)
    segments: list[tuple[Segment, Segment | None, Segment | None]] = []
    orc: Segment | None = None
    for segment in msg.segments:
        if segment.name == "ORC":
            orc = segment
        elif segment.name == "OBR":
            segments.append((segment, orc, None))
            orc = None
        elif segment.name == "OBX" and segments and segments[-1][2] is None:
            segments[-1] = (segments[-1][0], segments[-1][1], segment)
    return [
        _Group(result, obr, orc, first_obx)
        for result, (obr, orc, first_obx) in zip(results, segments, strict=True)
    ]


def _is_single_report(group: ResultGroup) -> bool:
    """PKB's "single textual report": all OBX text, one test code, two lines or more."""
    observations = group.observations
    if not observations or any(o.value_type not in TEXT_VALUE_TYPES for o in observations):
        return False
    if len({(o.code, o.code_system) for o in observations}) != 1:
        return False
    lines = len(group.notes) + sum(
        len(o.value_text.split("\n")) + len(o.notes) for o in observations
    )
    return lines >= 2


def _test_key(code: str, system: str) -> str:
    # PKB matches results on OBX-3.1 and OBX-3.3, case-sensitively (reference 9.2).
    return f"{code}^{system}" if system else code


def _delay_days(obr: Segment, first_obx: Segment | None, options: Options) -> int:
    # PKB reads the delay from the first OBX (reference 8); its pathology FAQ mentions OBR-13,
    # so the sandbox can be told to read that instead.
    if options.delay_field == "OBR-13":
        raw = leaf(obr, 13, 1).strip()
    else:
        raw = leaf(first_obx, 13, 1).strip() if first_obx is not None else ""
    return int(raw) if raw.isdigit() else 0


def _store_lab(
    patient: dict[str, Any], group: ResultGroup, delay: int, now: datetime, notes: list[str]
) -> None:
    fon = group.filler_order_number
    results: dict[str, dict[str, Any]] = patient["lab_results"].setdefault(fon, {})
    if group.status.upper() == "R":
        for item in results.values():
            item["deleted"] = True
        notes.append(f"results of one filler order number deleted ({len(results)})")
        return
    panel = group.service_name or group.service_code or OTHER_PANEL
    items: list[dict[str, Any]]
    if _is_single_report(group):
        items = [
            {
                "code": group.service_code,
                "system": group.service_system,
                "name": group.service_name or group.service_code,
                "value": report_text(group),
                "units": "",
                "reference_range": "",
                "abnormal_flags": "",
                "status": group.status,
                "observed_at": _iso(group.observations[0].observed_at),
                "is_report": True,
            }
        ]
    else:
        items = [
            {
                "code": o.code,
                "system": o.code_system,
                "name": o.name or o.code,
                "value": o.value_text,
                "units": o.units,
                "reference_range": o.reference_range,
                "abnormal_flags": o.abnormal_flags,
                "status": o.status or group.status,
                "observed_at": _iso(o.observed_at),
                "is_report": False,
            }
            for o in group.observations
        ]
    for item in items:
        key = _test_key(item["code"], item["system"])
        known_panel = patient["panels"].setdefault(key, panel)
        # A test that arrives under another panel name than before moves to "Other".
        item["panel"] = panel if known_panel == panel else OTHER_PANEL
        item["delay_days"] = delay
        _store_versioned(results, key, item, now, notes, what="result")


_COMPARED = (
    "value",
    "units",
    "reference_range",
    "abnormal_flags",
    "observed_at",
    "delay_days",
    "name",
    "panel",
)


def _store_versioned(
    store: dict[str, dict[str, Any]],
    key: str,
    item: dict[str, Any],
    now: datetime,
    notes: list[str],
    *,
    what: str,
) -> None:
    """Keep ``item`` under ``key``: a change is a correction, an identical resend is not."""
    previous = store.get(key)
    if previous is None:
        store[key] = {**item, "received_at": _iso(now), "times_received": 1}
        store[key].update(corrected=False, deleted=False, history=[])
        notes.append(f"{what} stored")
        return
    previous["times_received"] += 1
    if not previous["deleted"] and all(previous.get(k) == item.get(k) for k in _COMPARED):
        # PKB replaces a result only if its content differs (reference 9.2).
        notes.append(f"{what} unchanged")
        return
    old = {k: previous.get(k) for k in (*_COMPARED, "received_at", "deleted")}
    history = [*previous["history"], old]
    times = previous["times_received"]
    store[key] = {**item, "received_at": _iso(now), "times_received": times}
    store[key].update(corrected=True, deleted=False, history=history)
    notes.append(f"{what} corrected")


def _store_radiology(
    patient: dict[str, Any], group: ResultGroup, delay: int, now: datetime, notes: list[str]
) -> None:
    fon = group.filler_order_number
    reports: dict[str, dict[str, Any]] = patient["radiology"]
    if group.status.upper() == "R":
        if fon in reports:
            reports[fon]["deleted"] = True
        notes.append("radiology report deleted")
        return
    previous = reports.get(fon)
    # A match replaces the report entirely (reference 9.3).
    reports[fon] = {
        "filler_order_number": fon,
        "title": group.service_name or group.service_code,
        "text": report_text(group),
        "observed_at": _iso(group.observed_at),
        "clinician": group.ordering_clinician,
        "delay_days": delay,
        "received_at": _iso(now),
        "versions": (previous["versions"] + 1) if previous else 1,
        "deleted": False,
    }
    notes.append("radiology report stored" if previous is None else "radiology report replaced")


# -- documents and care plans -------------------------------------------------------------------


def _document(patient: dict[str, Any], msg: ParsedMessage, now: datetime, notes: list[str]) -> None:
    txa = msg.get_segment("TXA")
    if txa is None:
        raise validation_error("TXA", "TXA segment is required")
    number = leaf(txa, 12, 1).strip()
    if not number:
        raise validation_error("TXA-12", "Unique document number is required")
    document_type = leaf(txa, 2, 1).strip().upper()
    if msg.trigger_event == "T11":
        if document_type == "CP" or number in patient["care_plans"]:
            raise Reject("AR", CARE_PLAN_DELETE)
        if number in patient["documents"]:
            patient["documents"][number]["deleted"] = True
            notes.append("document deleted")
        else:
            notes.append("no such document: nothing deleted")
        return
    if leaf(txa, 17).strip().upper() != "AU":
        raise validation_error("TXA-17", "Document completion status must be AU")
    document = extract_document(msg)
    clinical = document.authored_at or msg.message_datetime
    obxs = msg.get_segments("OBX")
    raw_delay = leaf(obxs[0], 13, 1).strip() if obxs else ""
    delay = int(raw_delay) if raw_delay.isdigit() else 0
    content = {
        "content_type": document.content_type,
        "text": document.content_text,
        "size": len(document.content_bytes or document.content_text.encode("utf-8")),
        "authored_at": _iso(clinical),
        "delay_days": delay,
        "received_at": _iso(now),
    }
    if document_type == "CP":
        plan = patient["care_plans"].setdefault(
            number, {"plan_id": number, "title": "", "versions": []}
        )
        # Re-sending the same TXA-12 replaces the plan and keeps the old versions.
        plan["title"] = document.title
        plan["versions"].append(content)
        notes.append(f"care plan version {len(plan['versions'])} stored")
        return
    previous = patient["documents"].get(number)
    patient["documents"][number] = {
        "document_number": number,
        "type": document_type,
        "title": document.title,
        "filename": document.filename,
        **content,
        "versions": (previous["versions"] + 1) if previous else 1,
        "deleted": False,
    }
    notes.append("document stored" if previous is None else "document replaced")


# -- appointments -------------------------------------------------------------------------------

_STATUS_BY_EVENT = {
    "S12": "booked",
    "S13": "booked",
    "S14": "booked",
    "S15": "cancelled",
    "S26": "dna",
}


def _appointment(
    patient: dict[str, Any], msg: ParsedMessage, now: datetime, notes: list[str]
) -> None:
    sch = msg.get_segment("SCH")
    if sch is None:
        raise validation_error("SCH", "SCH segment is required")
    placer_id = leaf(sch, 1, 1).strip()
    if not placer_id:
        raise validation_error("SCH-1", "Placer appointment ID is required")
    known = patient["appointments"].get(placer_id)
    start_given = bool(leaf(sch, 11, 4).strip())
    # S15/S26 need only SCH-1 for a known appointment; an unknown one is created from the
    # message first, which needs the S12 content (reference 9.6).
    if not start_given and (msg.trigger_event in ("S12", "S13", "S14") or known is None):
        raise validation_error("SCH-11.4", "Appointment start date/time is required")
    status = _STATUS_BY_EVENT[msg.trigger_event]
    if known is not None and not start_given:
        known["status"] = status
        known["updated_at"] = _iso(now)
        notes.append(f"appointment {status}")
        return
    appointment = extract_appointment(msg)
    patient["appointments"][placer_id] = {
        "placer_id": placer_id,
        "status": status,
        "reason": appointment.reason or "Appointment",
        "type": appointment.appointment_type_text or appointment.appointment_type,
        "start": _iso(appointment.start),
        "end": _iso(appointment.end),
        "location": appointment.location,
        "clinician": appointment.clinician,
        "notes": appointment.notes,
        "updated_at": _iso(now),
    }
    notes.append(f"appointment {status}")


# -- time ---------------------------------------------------------------------------------------


def _iso(value: datetime | date | None) -> str:
    return value.isoformat() if value is not None else ""


def _as_datetime(value: datetime | date | None) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime(value.year, value.month, value.day, tzinfo=LONDON)


def _from_iso(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=LONDON)


def clinical_moment(value: str) -> datetime | None:
    """A stored clinical time ("" for none; a bare date is midnight in London)."""
    if not value:
        return None
    return _from_iso(value)


def available_from(clinical: str, delay_days: int) -> datetime | None:
    """When the patient may see an item's content: clinical time + delay (reference 8)."""
    moment = clinical_moment(clinical)
    if moment is None or delay_days <= 0:
        return None
    return moment + timedelta(days=delay_days)
