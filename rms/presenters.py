"""Display logic for the clinician pages: plain classes the templates read, so templates need
no custom tags and this logic can be tested without rendering.

Presenters never query the database: views hand them what the selectors returned.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from html.parser import HTMLParser

from django.utils import dateformat, timezone

from rms import reports
from rms.models import (
    Appointment,
    CaseloadEntry,
    Diagnosis,
    Document,
    NhsNumberStatus,
    Observation,
    Patient,
    Result,
    Team,
)

# NHS Common User Interface style: 12-Apr-1955, unambiguous whatever the reader's locale.
DATE_FORMAT = "d-M-Y"
DATETIME_FORMAT = "d-M-Y H:i"

# The list view attaches the open caseload entries here (see rms.views.OPEN_CASELOAD).
OPEN_CASELOAD_ATTR = "open_caseload_entries"


def format_date(value: dt.date | None) -> str:
    return dateformat.format(value, DATE_FORMAT) if value else ""


def format_datetime(value: dt.datetime | None) -> str:
    if value is None:
        return ""
    return dateformat.format(timezone.localtime(value), DATETIME_FORMAT)


class PatientPresenter:
    """One patient as the list and the record header show them."""

    def __init__(
        self, patient: Patient, *, today: dt.date, teams: Iterable[Team] | None = None
    ) -> None:
        self.patient = patient
        self.today = today
        if teams is None:
            entries: Sequence[CaseloadEntry] = getattr(patient, OPEN_CASELOAD_ATTR, ())
            teams = [entry.team for entry in entries]
        self.teams = list(teams)

    @property
    def public_id(self) -> str:
        return str(self.patient.public_id)

    @property
    def name(self) -> str:
        """Family name in capitals first, as on NHS patient banners: SMITH, John (Mr)."""
        patient = self.patient
        name = f"{patient.family_name.upper()}, {patient.given_name}"
        return f"{name} ({patient.title})" if patient.title else name

    @property
    def nhs_number(self) -> str:
        return self.patient.nhs_number_display or "Not recorded"

    @property
    def has_nhs_number(self) -> bool:
        return bool(self.patient.nhs_number)

    @property
    def nhs_number_status(self) -> str:
        return self.patient.get_nhs_number_status_display()

    @property
    def nhs_number_verified(self) -> bool:
        return self.patient.nhs_number_status == NhsNumberStatus.VERIFIED

    @property
    def mrn(self) -> str:
        return self.patient.mrn or "Not recorded"

    @property
    def date_of_birth(self) -> str:
        return format_date(self.patient.date_of_birth)

    @property
    def age(self) -> str:
        return f"{self.patient.age_on(self.today)}y"

    @property
    def sex(self) -> str:
        return self.patient.get_sex_display()

    @property
    def address_lines(self) -> list[str]:
        return self.patient.address_lines

    @property
    def phones(self) -> list[tuple[str, str]]:
        patient = self.patient
        numbers = (
            ("Mobile", patient.phone_mobile),
            ("Home", patient.phone_home),
            ("Work", patient.phone_work),
        )
        return [(label, number) for label, number in numbers if number]

    @property
    def email(self) -> str:
        return self.patient.email

    @property
    def team_names(self) -> list[str]:
        return [team.name for team in self.teams]


# HL7 v2 table 0078 (abnormal flags), the values labs send in OBX-8.
ABNORMAL_FLAG_LABELS = {
    "L": "Low",
    "H": "High",
    "LL": "Critically low",
    "HH": "Critically high",
    "<": "Below the measurable range",
    ">": "Above the measurable range",
    "A": "Abnormal",
    "AA": "Critically abnormal",
    "U": "Significant change up",
    "D": "Significant change down",
    "B": "Better",
    "W": "Worse",
    "S": "Susceptible",
    "R": "Resistant",
    "I": "Intermediate",
}
NORMAL_FLAGS = frozenset({"", "N"})


class ObservationPresenter:
    def __init__(self, observation: Observation) -> None:
        self.observation = observation

    @property
    def name(self) -> str:
        return self.observation.name

    @property
    def value(self) -> str:
        """What the lab sent, with its comparator (an undetectable PSA is "<0.01"). Feeds
        send the comparator inside the value; the JSON API may send it apart."""
        obs = self.observation
        text = obs.value_text.strip()
        if obs.comparator and not text.startswith(obs.comparator):
            text = f"{obs.comparator}{text}"
        return text

    @property
    def units(self) -> str:
        return self.observation.units

    @property
    def is_text(self) -> bool:
        return self.observation.value_type == Observation.ValueType.TEXT

    @property
    def reference_range(self) -> str:
        return self.observation.reference_range

    @property
    def is_abnormal(self) -> bool:
        return self.observation.abnormal_flag.strip().upper() not in NORMAL_FLAGS

    @property
    def flag(self) -> str:
        """The flag in words with the code the lab sent, e.g. "High (H)"; empty when normal."""
        code = self.observation.abnormal_flag.strip().upper()
        if code in NORMAL_FLAGS:
            return ""
        label = ABNORMAL_FLAG_LABELS.get(code, "Flagged")
        return f"{label} ({code})"

    @property
    def status(self) -> str:
        obs = self.observation
        return "" if obs.status == Observation.Status.FINAL else obs.get_status_display()


class ResultPresenter:
    def __init__(self, result: Result) -> None:
        self.result = result
        # Prefetched by selectors.result_list: .all() reads the cache, not the database.
        self.observations = [ObservationPresenter(o) for o in result.observations.all()]

    @property
    def public_id(self) -> str:
        return str(self.result.public_id)

    @property
    def title(self) -> str:
        result = self.result
        return result.service_name or result.service_code or "Result"

    @property
    def category(self) -> str:
        return self.result.get_category_display()

    @property
    def is_radiology(self) -> bool:
        return self.result.category == Result.Category.RADIOLOGY

    @property
    def observed_at(self) -> str:
        return format_datetime(self.result.observed_at)

    @property
    def reported_at(self) -> str:
        return format_datetime(self.result.reported_at)

    @property
    def status(self) -> str:
        return self.result.get_status_display()

    @property
    def is_withdrawn(self) -> bool:
        return not self.result.counts

    @property
    def report_text(self) -> str:
        return self.result.report_text

    @cached_property
    def conclusion(self) -> str:
        """A radiology report's conclusion (rms.reports), for the timeline; "" otherwise."""
        if not self.is_radiology:
            return ""
        return reports.conclusion(self.result.report_text)

    @property
    def has_abnormal(self) -> bool:
        return any(o.is_abnormal for o in self.observations)


@dataclass(frozen=True)
class DiagnosisPresenter:
    diagnosis: Diagnosis

    @property
    def text(self) -> str:
        return self.diagnosis.text

    @property
    def code(self) -> str:
        return f"{self.diagnosis.code_system} {self.diagnosis.code}"

    @property
    def diagnosed_on(self) -> str:
        return format_date(self.diagnosis.diagnosed_on)

    @property
    def stage(self) -> str:
        return self.diagnosis.stage

    @property
    def status(self) -> str:
        return self.diagnosis.get_status_display()


@dataclass(frozen=True)
class AppointmentPresenter:
    appointment: Appointment

    @property
    def starts_at(self) -> str:
        return format_datetime(self.appointment.starts_at)

    @property
    def description(self) -> str:
        appt = self.appointment
        return " — ".join(p for p in (appt.appointment_type, appt.reason) if p) or "Appointment"

    @property
    def location(self) -> str:
        return self.appointment.location

    @property
    def clinician(self) -> str:
        return self.appointment.clinician

    @property
    def status(self) -> str:
        return self.appointment.get_status_display()


class DocumentPresenter:
    def __init__(self, document: Document) -> None:
        self.document = document

    @property
    def public_id(self) -> str:
        return str(self.document.public_id)

    @property
    def title(self) -> str:
        return self.document.title

    @property
    def document_type(self) -> str:
        return self.document.get_document_type_display()

    @property
    def authored_at(self) -> str:
        return format_date(self.document.authored_at.date() if self.document.authored_at else None)

    @property
    def author(self) -> str:
        return self.document.author

    @property
    def is_pdf(self) -> bool:
        return self.document.content_type == Document.ContentType.PDF

    @property
    def is_withdrawn(self) -> bool:
        return self.document.status == Document.Status.DELETED

    @property
    def text(self) -> str:
        """The HTML letter as plain text, for showing escaped (see ``html_to_text``)."""
        return html_to_text(self.document.content_html)

    @property
    def source(self) -> str:
        return self.document.content_html


# The timeline shows the latest entries; the tables below it have everything.
TIMELINE_LIMIT = 50


@dataclass(frozen=True)
class TimelineEntry:
    """One thing that happened to the patient, for the record's timeline."""

    at: dt.datetime
    kind: str
    title: str
    detail: str = ""
    url: str = ""
    withdrawn: bool = False

    @property
    def when(self) -> str:
        return format_datetime(self.at)

    @property
    def kind_class(self) -> str:
        return f"timeline-{self.kind.lower()}"


def _observations_in_words(result: ResultPresenter) -> str:
    """ "PSA <0.01 ug/L; Free PSA 0.02 ug/L": the numbers of a lab report, in a line."""
    parts = [f"{o.name} {o.value} {o.units}".strip() for o in result.observations if not o.is_text]
    return "; ".join(parts)


def timeline(
    *,
    results: Sequence[ResultPresenter],
    appointments: Sequence[AppointmentPresenter],
    documents: Sequence[DocumentPresenter],
    document_url: Callable[[DocumentPresenter], str],
    limit: int = TIMELINE_LIMIT,
) -> list[TimelineEntry]:
    """Results, appointments and documents in one list, newest first, at most ``limit``.
    Built from what the view already loaded: no queries."""
    entries: list[TimelineEntry] = []
    for result in results:
        entries.append(
            TimelineEntry(
                at=result.result.observed_at,
                kind="Result",
                title=result.title,
                detail=(
                    f"Conclusion: {result.conclusion}"
                    if result.conclusion
                    else _observations_in_words(result) or result.category
                ),
                withdrawn=result.is_withdrawn,
            )
        )
    for appointment in appointments:
        entries.append(
            TimelineEntry(
                at=appointment.appointment.starts_at,
                kind="Appointment",
                title=appointment.description,
                detail=" · ".join(p for p in (appointment.location, appointment.status) if p),
            )
        )
    for document in documents:
        entries.append(
            TimelineEntry(
                at=document.document.authored_at,
                kind="Document",
                title=document.title,
                detail=" · ".join(p for p in (document.document_type, document.author) if p),
                url=document_url(document),
                withdrawn=document.is_withdrawn,
            )
        )
    entries.sort(key=lambda entry: entry.at, reverse=True)
    return entries[:limit]


_BLOCK_TAGS = frozenset(
    {
        "address",
        "article",
        "blockquote",
        "div",
        "dl",
        "dt",
        "dd",
        "footer",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "header",
        "hr",
        "ol",
        "p",
        "pre",
        "section",
        "table",
        "tr",
        "ul",
    }
)
_SKIPPED_TAGS = frozenset({"script", "style", "head", "title", "template", "noscript"})
_SPACES = re.compile(r"[ \t\r\f\v\n]+")


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0
        self.preformatted = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED_TAGS:
            self.skipping += 1
        elif tag == "br":
            self.parts.append("\n")
        elif tag == "li":
            self.parts.append("\n• ")
        elif tag in {"td", "th"}:
            self.parts.append("\t")
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n\n" if tag == "p" else "\n")
        if tag == "pre":
            self.preformatted += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED_TAGS:
            self.skipping = max(0, self.skipping - 1)
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n\n" if tag == "p" else "\n")
        if tag == "pre":
            self.preformatted = max(0, self.preformatted - 1)

    def handle_data(self, data: str) -> None:
        if self.skipping:
            return
        # Outside <pre>, line breaks in the source are just spaces, as a browser shows them.
        self.parts.append(data if self.preformatted else _SPACES.sub(" ", data))


def html_to_text(html: str) -> str:
    """The text of an HTML document with its paragraphs and line breaks, and no markup.

    Documents come from Trust systems but are treated as untrusted: rather than render their
    HTML (which would need a sanitiser), the page shows this text, escaped like any other.
    Scripts and styles are dropped; everything a reader would see is kept.
    """
    parser = _TextExtractor()
    parser.feed(html or "")
    parser.close()
    lines = [line.strip(" ") for line in "".join(parser.parts).split("\n")]
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip()
