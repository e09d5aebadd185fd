"""What the PKB message builders take: plain frozen dataclasses, no ORM.

The outbox maps model rows onto these; the builders turn them into ER7 text. Each class checks
the invariants a message cannot do without in ``__post_init__`` (aware datetimes, a ten-digit
NHS number, a filler order number), so a bad row fails where it is mapped, with a ``ValueError``
that names the field, and never reaches PKB half-built. Messages never quote values: they end up
in logs, and a value may be a patient's name or NHS number.

Free text here is plain text ("O'Brien", "a|b", multi-line reports): the builders escape it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime

_NHS_NUMBER = re.compile(r"[0-9]{10}", re.ASCII)
_NHS_NUMBER_STATUSES = frozenset(f"0{n}" for n in range(1, 9))
# MSH-10 is echoed back in MSA-2 and compared there, so it must survive any receiver unchanged:
# no delimiters, no escapes, no spaces.
_CONTROL_ID = re.compile(r"[A-Za-z0-9._-]{1,64}", re.ASCII)
_SEXES = frozenset({"M", "F", "U"})
_PROCESSING_IDS = frozenset({"P", "T", "D"})
LAB_VALUE_TYPES = frozenset({"NM", "TX", "FT", "ST"})
EMAIL_COMPONENTS = frozenset({"XTN-1", "XTN-4", "both"})


def _require_aware(value: datetime | None, name: str, *, required: bool = True) -> None:
    if value is None:
        if required:
            raise ValueError(f"{name} is required")
        return
    if not isinstance(value, datetime):
        raise ValueError(f"{name} must be a datetime")
    if value.tzinfo is None or value.utcoffset() is None:
        # A naive time would be written with whatever offset the server happens to be in.
        raise ValueError(f"{name} must be timezone-aware")


def _require_text(value: str, name: str) -> None:
    if not value or not value.strip():
        raise ValueError(f"{name} is required")


# OBR-25 (HL7 v2.4 table 0123) as PKB reads it: F final, C corrected, P preliminary, X cannot be
# done, R a deletion of everything PKB holds for the filler order number (interface §5).
RESULT_STATUSES = frozenset({"F", "C", "P", "R", "X"})


def _require_code(value: str, name: str, codes: frozenset[str]) -> None:
    # A coded field carries one of its codes, never text: "R\x1f" is not "R" to the builder but
    # would be once escaped, and a deletion would carry observations.
    if value not in codes:
        raise ValueError(f"{name} must be one of {', '.join(sorted(codes))}, not {value!r}")


def _require_delay(value: int | None, name: str) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be a whole number of days, 0 or more")


@dataclass(frozen=True, slots=True)
class PersonName:
    """A clinician's name, written as an XCN (``^family^given^middle^^title``)."""

    family: str
    given: str = ""
    middle: str = ""
    title: str = ""


# A clinician as free text ("Dr A Smith", written in XCN.2) or as a structured name.
Clinician = str | PersonName | None


@dataclass(frozen=True, slots=True)
class MessageContext:
    """Per-message header values (MSH) and the team-level values every message shares.

    ``sent_at`` becomes MSH-7, in Europe/London local time without an offset as PKB asks; it is
    the send time, never the clinical time (PKB applies an A28/A31 update only if MSH-7 is not
    older than the record's "Entered Timestamp"). ``service_code`` is PV1-10, from which PKB
    derives the privacy label; blank leaves it to the team alias in MSH-4.
    """

    sending_application: str  # MSH-3, e.g. "RMS"
    sending_facility: str  # MSH-4: the team's PKB alias
    control_id: str  # MSH-10: a UUID, unique per message (PKB does not de-duplicate)
    sent_at: datetime  # MSH-7
    processing_id: str = "P"  # MSH-11: must be P in production
    service_code: str = ""  # PV1-10
    radiology_application: str = "RADIOLOGY"  # MSH-3 that makes PKB read an ORU as radiology
    # MSH-18. The SOAP envelope is UTF-8, so this only states what is already true; blank it if
    # PKB ever objects to the field.
    character_set: str = "UNICODE UTF-8"
    # Where PID-13 carries the email: XTN-1 (PKB's newer examples), XTN-4 (its older ones and
    # the XTN definition) or both; which one PKB reads is unverified (pkb-hl7-interface.md 6).
    email_component: str = "both"

    def __post_init__(self) -> None:
        if not _CONTROL_ID.fullmatch(self.control_id):
            raise ValueError("control_id must be 1-64 letters, digits, '.', '_' or '-'")
        _require_aware(self.sent_at, "sent_at")
        if self.processing_id not in _PROCESSING_IDS:
            raise ValueError("processing_id must be P, T or D")
        _require_text(self.radiology_application, "radiology_application")
        if self.email_component not in EMAIL_COMPONENTS:
            raise ValueError("email_component must be XTN-1, XTN-4 or both")


@dataclass(frozen=True, slots=True)
class Patient:
    """The patient as PID carries them. The NHS number is required and must be verified
    (status ``01``) for PKB to file without manual review; other statuses are sent as they are."""

    nhs_number: str  # ten digits, no spaces
    given_name: str
    family_name: str
    date_of_birth: date | None = None
    sex: str = "U"  # M, F or U (PKBCS01)
    nhs_number_status: str = "01"
    mrn: str = ""
    mrn_assigning_authority: str = ""
    mrn_type_code: str = "MR"
    title: str = ""
    middle_names: str = ""
    address_line1: str = ""
    address_line2: str = ""
    city: str = ""
    county: str = ""
    postcode: str = ""
    phone_home: str = ""
    phone_mobile: str = ""
    phone_work: str = ""
    email: str = ""

    def __post_init__(self) -> None:
        if not _NHS_NUMBER.fullmatch(self.nhs_number):
            raise ValueError("nhs_number must be ten digits without spaces")
        if self.nhs_number_status not in _NHS_NUMBER_STATUSES:
            raise ValueError("nhs_number_status must be 01 to 08")
        if self.sex not in _SEXES:
            raise ValueError("sex must be M, F or U")
        if isinstance(self.date_of_birth, datetime):
            raise ValueError("date_of_birth must be a date, not a datetime")
        if self.mrn and not (self.mrn_assigning_authority and self.mrn_type_code):
            # PKB silently ignores an identifier whose authority/type pair it does not know.
            raise ValueError("an mrn needs its assigning authority and type code")


@dataclass(frozen=True, slots=True)
class Diagnosis:
    """One DG1. ``code_system_text`` must be exactly what PKB maps: "SNOMED CT" or "ICD-10"."""

    code: str
    code_system_text: str
    text: str = ""
    diagnosed_at: date | datetime | None = None

    def __post_init__(self) -> None:
        _require_text(self.code, "code")
        if self.code_system_text not in ("SNOMED CT", "ICD-10"):
            raise ValueError('code_system_text must be "SNOMED CT" or "ICD-10"')
        if isinstance(self.diagnosed_at, datetime):
            _require_aware(self.diagnosed_at, "diagnosed_at")


@dataclass(frozen=True, slots=True)
class LabObservation:
    """One OBX of a lab report. ``value`` is sent exactly as the lab reported it.

    ``delay_days`` can only be written once per group (PKB reads it from the first OBX), so the
    builder sends the longest delay any observation of the group asks for: a result is never
    released earlier than requested.
    """

    code: str
    name: str
    value: str
    value_type: str = "NM"  # NM, TX, FT or ST
    code_system: str = ""
    units: str = ""
    reference_range: str = ""
    abnormal_flag: str = ""
    status: str = "F"  # OBX-11: F, C, P, D, ...
    observed_at: datetime | None = None  # OBX-14; PKB falls back to OBR-7
    notes: tuple[str, ...] = ()
    delay_days: int | None = None

    def __post_init__(self) -> None:
        _require_text(self.code, "code")
        if self.value_type not in LAB_VALUE_TYPES:
            raise ValueError("value_type must be NM, TX, FT or ST")
        _require_aware(self.observed_at, "observed_at", required=False)
        _require_delay(self.delay_days, "delay_days")


@dataclass(frozen=True, slots=True)
class LabReport:
    """One ORC/OBR group. ``result_status`` R deletes every result PKB holds for the FON."""

    filler_order_number: str  # ORC-3 and OBR-3: PKB's report id
    service_code: str  # OBR-4.1: drives the privacy label
    service_name: str  # OBR-4.2: the panel name PKB groups results under
    observed_at: datetime  # OBR-7
    observations: tuple[LabObservation, ...] = ()
    service_system: str = ""
    placer_order_number: str = ""
    reported_at: datetime | None = None  # OBR-22
    result_status: str = "F"  # OBR-25: F, C, P, R (delete), X
    ordering_clinician: Clinician = None  # OBR-16
    notes: tuple[str, ...] = ()  # NTE after OBR
    delay_days: int | None = None

    def __post_init__(self) -> None:
        _require_text(self.filler_order_number, "filler_order_number")
        _require_aware(self.observed_at, "observed_at")
        _require_aware(self.reported_at, "reported_at", required=False)
        _require_delay(self.delay_days, "delay_days")
        _require_code(self.result_status, "result_status", RESULT_STATUSES)


@dataclass(frozen=True, slots=True)
class RadiologyReport:
    """A radiology report: its text is sent one line per TX OBX (PKB's textual report)."""

    filler_order_number: str
    service_code: str
    service_name: str  # OBR-4.2: the title PKB shows
    observed_at: datetime  # OBR-7: required by PKB for radiology
    report_text: str  # may be blank only for a deletion (result_status R)
    service_system: str = ""
    ordering_clinician: Clinician = None
    reported_at: datetime | None = None
    result_status: str = "F"
    delay_days: int | None = None

    def __post_init__(self) -> None:
        _require_text(self.filler_order_number, "filler_order_number")
        _require_aware(self.observed_at, "observed_at")
        _require_aware(self.reported_at, "reported_at", required=False)
        _require_delay(self.delay_days, "delay_days")
        _require_code(self.result_status, "result_status", RESULT_STATUSES)
        if self.result_status != "R":
            _require_text(self.report_text, "report_text")


def _check_content(content_html: str | None, content_pdf: bytes | None) -> None:
    if (content_html is None) == (content_pdf is None):
        raise ValueError("exactly one of content_html and content_pdf is required")
    if content_html is not None:
        _require_text(content_html, "content_html")
    if content_pdf is not None and not content_pdf.startswith(b"%PDF-"):
        raise ValueError("content_pdf is not a PDF")


@dataclass(frozen=True, slots=True)
class Document:
    """A letter or other document (MDM^T02). Re-sending a ``document_number`` replaces it."""

    document_number: str  # TXA-12
    document_type: str  # TXA-2, PKBCS05 (CL, DL, MDT, ...); never CP, see CarePlan
    title: str  # OBX-3.2
    authored_at: datetime  # TXA-4: the clinical time PKB files and delays from
    content_html: str | None = None
    content_pdf: bytes | None = None
    author: Clinician = None  # TXA-9
    filename: str = ""  # TXA-16
    delay_days: int | None = None

    def __post_init__(self) -> None:
        _require_text(self.document_number, "document_number")
        _require_text(self.document_type, "document_type")
        if self.document_type.strip().upper() == "CP":
            raise ValueError("a care plan is a CarePlan, not a Document with type CP")
        _require_aware(self.authored_at, "authored_at")
        _check_content(self.content_html, self.content_pdf)
        _require_delay(self.delay_days, "delay_days")


@dataclass(frozen=True, slots=True)
class CarePlan:
    """A care plan (MDM^T02, TXA-2 CP). HTML is preferred: it reads better on phones.

    Re-sending a ``document_number`` replaces the plan and keeps the earlier version; care plans
    cannot be deleted.
    """

    document_number: str
    title: str
    authored_at: datetime
    content_html: str | None = None
    content_pdf: bytes | None = None
    author: Clinician = None
    filename: str = ""
    delay_days: int | None = None

    def __post_init__(self) -> None:
        _require_text(self.document_number, "document_number")
        _require_aware(self.authored_at, "authored_at")
        _check_content(self.content_html, self.content_pdf)
        _require_delay(self.delay_days, "delay_days")


@dataclass(frozen=True, slots=True)
class Appointment:
    """A single, non-recurring appointment (SIU). ``placer_id`` is unique and PKB's key."""

    placer_id: str  # SCH-1
    starts_at: datetime  # SCH-11.4
    ends_at: datetime | None = None  # SCH-11.5
    reason: str = ""  # SCH-7.2: the subject PKB shows ("Appointment" when blank)
    appointment_type: str = ""  # SCH-8
    location: str = ""  # PV1-3.9
    clinician: Clinician = None  # AIP-3
    clinician_role: str = ""  # AIP-4.2 ("Doctor", "Nurse"...): blank leaves AIP-4 out
    notes: str = ""  # NTE-3

    def __post_init__(self) -> None:
        _require_text(self.placer_id, "placer_id")
        _require_aware(self.starts_at, "starts_at")
        _require_aware(self.ends_at, "ends_at", required=False)
        if self.ends_at is not None and self.ends_at < self.starts_at:
            raise ValueError("ends_at is before starts_at")
