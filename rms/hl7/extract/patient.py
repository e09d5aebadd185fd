"""The patient of a message: PID."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from rms.hl7.errors import ErrorCode, Hl7ParseError
from rms.hl7.extract.common import leaf
from rms.hl7.parse import ParsedMessage, Segment, parse_date

if TYPE_CHECKING:
    from collections.abc import Iterable

_NHS_STATUS_SUFFIX = re.compile(r"(?P<type>.*)\{status:(?P<status>\d{2})\}")
_NHS_STATUS = re.compile(r"(?:NSTS)?(?P<status>0[1-8])")


@dataclass(frozen=True, slots=True)
class PatientIdentifier:
    """One CX of PID-3 (or PID-2): ``type_code`` without any ``{status:NN}`` suffix."""

    value: str  # CX.1
    assigning_authority: str  # CX.4.1
    type_code: str  # CX.5
    status: str = ""  # from a "{status:NN}" suffix on CX.5


@dataclass(frozen=True, slots=True)
class Address:
    """PID-11, first repetition (XAD.1 to XAD.6)."""

    line1: str
    line2: str
    city: str
    county: str
    postcode: str
    country: str


@dataclass(frozen=True, slots=True)
class Telecom:
    """A phone number from PID-13 or PID-14. ``kind`` is home, work, mobile or other."""

    number: str
    use_code: str  # XTN.2: PRN, ORN, WPN, PRS, ...
    equipment_type: str  # XTN.3: PH, CP, FX, ...
    kind: str


@dataclass(frozen=True, slots=True)
class PatientIdentity:
    """Who a message is about, as the message says it: nothing here is matched or validated."""

    identifiers: tuple[PatientIdentifier, ...]
    nhs_number: str  # raw, not validated: rms.nhs_number does that
    nhs_number_status: str  # "01".."08", or "" when not sent
    mrn: str
    mrn_authority: str
    family_name: str
    given_name: str
    middle_names: str
    title: str
    date_of_birth: date | None
    sex: str  # M, F or U
    address: Address | None
    phones: tuple[Telecom, ...]
    email: str


def extract_patient(msg: ParsedMessage) -> PatientIdentity:
    """The patient in PID. Raises ``Hl7ParseError`` (AE) if there is no PID."""
    pid = msg.get_segment("PID")
    if pid is None:
        raise Hl7ParseError(
            "PID segment missing", field="PID", hl7_code=ErrorCode.SEGMENT_SEQUENCE_ERROR
        )
    identifiers = _identifiers(pid, 3)
    # PID-2 (external id, v2.3) is where some older feeds put the NHS number.
    fallback = _identifiers(pid, 2)
    nhs = _first(i for i in identifiers if _is_nhs(i)) or _first(i for i in fallback if _is_nhs(i))
    mrn = _first(i for i in identifiers if i.type_code.upper() == "MR") or _first(
        i for i in identifiers if not _is_nhs(i)
    )
    status = nhs.status if nhs and nhs.status else _pid32_status(pid)

    name_repetition = _legal_name_repetition(pid)
    phones: list[Telecom] = []
    emails: list[str] = []
    for field_number, default_kind in ((13, "home"), (14, "work")):
        for repetition in range(1, pid.repetition_count(field_number) + 1):
            _telecom(pid, field_number, repetition, default_kind, phones, emails)

    sex = leaf(pid, 8).upper()
    return PatientIdentity(
        identifiers=identifiers + fallback,
        nhs_number=nhs.value if nhs else "",
        nhs_number_status=status,
        mrn=mrn.value if mrn else "",
        mrn_authority=mrn.assigning_authority if mrn else "",
        family_name=leaf(pid, 5, 1, repetition=name_repetition),
        given_name=leaf(pid, 5, 2, repetition=name_repetition),
        middle_names=leaf(pid, 5, 3, repetition=name_repetition),
        title=leaf(pid, 5, 5, repetition=name_repetition),
        date_of_birth=parse_date(leaf(pid, 7), "PID-7"),
        sex=sex if sex in ("M", "F", "U") else "U",
        address=_address(pid),
        phones=tuple(phones),
        email=emails[0] if emails else "",
    )


def _identifiers(pid: Segment, field_number: int) -> tuple[PatientIdentifier, ...]:
    found = []
    for repetition in range(1, pid.repetition_count(field_number) + 1):
        value = leaf(pid, field_number, 1, repetition=repetition).strip()
        if not value:
            continue
        type_code = leaf(pid, field_number, 5, repetition=repetition).strip()
        status = ""
        suffix = _NHS_STATUS_SUFFIX.fullmatch(type_code)
        if suffix:
            type_code = suffix.group("type")
            status = _nhs_status(suffix.group("status"))
        found.append(
            PatientIdentifier(
                value=value,
                assigning_authority=leaf(pid, field_number, 4, 1, repetition=repetition).strip(),
                type_code=type_code,
                status=status,
            )
        )
    return tuple(found)


def _is_nhs(identifier: PatientIdentifier) -> bool:
    return identifier.type_code.upper() == "NH" or identifier.assigning_authority.upper() == "NHS"


def _nhs_status(value: str) -> str:
    match = _NHS_STATUS.fullmatch(value.strip().upper())
    return match.group("status") if match else ""


_NSTS_ONLY = re.compile(r"NSTS(?P<status>0[1-8])")


def _pid32_status(pid: Segment) -> str:
    for repetition in range(1, pid.repetition_count(32) + 1):
        status = _nhs_status(leaf(pid, 32, repetition=repetition))
        if status:
            return status
    # Some PAS feeds put the ITK code one field early, in PID-31 (Identity Unknown Indicator,
    # otherwise Y or N). "NSTSnn" can mean nothing else there, so it is read; a bare "01" in
    # PID-31 is not.
    misplaced = _NSTS_ONLY.fullmatch(leaf(pid, 31).strip().upper())
    return misplaced.group("status") if misplaced else ""


def _legal_name_repetition(pid: Segment) -> int:
    """The repetition of PID-5 marked legal (XPN.7 = L), else the first."""
    for repetition in range(1, pid.repetition_count(5) + 1):
        if leaf(pid, 5, 7, repetition=repetition).upper() == "L":
            return repetition
    return 1


def _address(pid: Segment) -> Address | None:
    address = Address(
        line1=leaf(pid, 11, 1),
        line2=leaf(pid, 11, 2),
        city=leaf(pid, 11, 3),
        county=leaf(pid, 11, 4),
        postcode=leaf(pid, 11, 5),
        country=leaf(pid, 11, 6),
    )
    if not any((address.line1, address.line2, address.city, address.county, address.postcode)):
        return None
    return address


_PHONE_KINDS = {"PRN": "home", "ORN": "other", "VHN": "home", "WPN": "work", "PRS": "mobile"}


def _telecom(
    pid: Segment,
    field_number: int,
    repetition: int,
    default_kind: str,
    phones: list[Telecom],
    emails: list[str],
) -> None:
    def part(component: int) -> str:
        return leaf(pid, field_number, component, repetition=repetition).strip()

    number, use_code, equipment = part(1), part(2).upper(), part(3).upper()
    if part(4):  # XTN.4, the v2.3+ place for an email address
        emails.append(part(4))
        return
    if use_code == "NET" or equipment in ("INTERNET", "X.400"):
        if number:
            emails.append(number)
        return
    number = number or part(12) or (part(6) + part(7))
    if not number:
        return
    kind = "mobile" if equipment == "CP" else _PHONE_KINDS.get(use_code, default_kind)
    phones.append(Telecom(number=number, use_code=use_code, equipment_type=equipment, kind=kind))


def _first(identifiers: Iterable[PatientIdentifier]) -> PatientIdentifier | None:
    return next(iter(identifiers), None)
