"""Virtual review: a clinician looks at a patient's results, trend and answers on one screen,
decides (continue the plan, change it, bring the patient to clinic, discharge), and a review
letter is produced, filed and shared, instead of a clinic visit (as teams such as East
Sussex's prostate service do).

``review_record`` is the one write: it files the letter as a document through
``rms.services.document_record`` (so the PKB bridge shares it, after commit, through the
``document_changed`` event when the patient is enrolled, under the team's release policy for
documents), records
the decision on each open plan as a ``PlanChange`` ("reviewed", with what the letter said),
ends the plans on discharge, and completes the work item the review came from.
``review_letter_pdf`` renders the same letter as a PDF for the GP, from what the plan change
recorded (so the PDF says what was decided then, whatever has arrived since).
"""

from __future__ import annotations

import datetime as dt
import html
import io
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models import QuerySet
from django.template.loader import render_to_string
from django.utils import timezone

from careplans.followup import selectors, services
from careplans.followup.rules.common import format_number
from careplans.models import FollowUpPlan, PlanChange
from rms import permissions
from rms import selectors as rms_selectors
from rms import services as rms_services
from rms.models import Appointment, Document, Patient, Result
from rms.presenters import format_date, format_datetime
from rms.reports import conclusion
from worklists import services as worklist_services
from worklists.models import Outcome, WorkItem

REVIEWED = "reviewed"
LETTER_TEMPLATE = "careplans/review_letter.html"
LETTER_TITLE = "Virtual review letter"
DOCUMENT_PREFIX = "REVIEW-"
NOTE_MAX = 2000
# The latest few values of each test: enough to show a trend in a letter, not the history.
RESULTS_PER_TEST = 3
OPEN = (FollowUpPlan.Status.ACTIVE, FollowUpPlan.Status.PAUSED)


class ReviewOutcome(models.TextChoices):
    CONTINUE = "continue", "Continue the plan"
    CHANGE_PLAN = "change_plan", "Change the plan"
    BRING_TO_CLINIC = "bring_to_clinic", "Bring to clinic"
    DISCHARGE = "discharge", "Discharge from follow-up"


# What the letter tells the patient, in plain words (it reaches them through PKB).
OUTCOME_WORDS = {
    ReviewOutcome.CONTINUE: (
        "We have reviewed your recent results. No change is needed: your follow-up continues "
        "as planned, and we will write to you when your next test is due."
    ),
    ReviewOutcome.CHANGE_PLAN: (
        "We have reviewed your recent results and are changing your follow-up plan. We will "
        "tell you about any change to when your tests are due."
    ),
    ReviewOutcome.BRING_TO_CLINIC: (
        "We have reviewed your recent results and would like to see you in clinic. The "
        "hospital will send you an appointment."
    ),
    ReviewOutcome.DISCHARGE: (
        "We have reviewed your recent results. Your follow-up with the hospital team has now "
        "finished; your GP will continue your care."
    ),
}


def next_appointment(*, patient: Patient, after: dt.datetime) -> Appointment | None:
    """The patient's first booked appointment after ``after`` (any team's: the letter must not
    promise an appointment the patient already has). Reads only."""
    return (
        rms_selectors.appointment_list(patient=patient)
        .filter(status=Appointment.Status.BOOKED, starts_at__gt=after)
        .order_by("starts_at", "id")
        .first()
    )


def appointment_in_words(appointment: Appointment) -> str:
    """A booked appointment as the letter names it: what, when, where."""
    what = appointment.appointment_type or appointment.reason or "appointment"
    words = f"{what} on {format_datetime(appointment.starts_at)}"
    if appointment.location:
        words += f" at {appointment.location}"
    return words


def outcome_words(*, outcome: str, appointment: Appointment | None) -> str:
    """What the letter tells the patient about the outcome. With an appointment already
    booked, the letter names it instead of promising one ("the hospital will send you an
    appointment" to a patient who has one reads as a second appointment coming)."""
    words = OUTCOME_WORDS[ReviewOutcome(outcome)]
    if appointment is None:
        return words
    booked = appointment_in_words(appointment)
    if outcome == ReviewOutcome.BRING_TO_CLINIC:
        return (
            "We have reviewed your recent results and would like to see you in clinic. You "
            f"already have an appointment booked: {booked}. Please keep it; we will discuss "
            "your results with you then."
        )
    if outcome == ReviewOutcome.DISCHARGE:
        return (
            f"{words} The appointment already booked ({booked}) still stands unless the "
            "hospital tells you otherwise."
        )
    return f"{words} Your next appointment is already booked: {booked}."


# The work-item outcome codes (worklists.Outcome) a review completes an item with, in order
# of preference; "reviewed" only when none of them is offered.
WORK_ITEM_OUTCOMES = {
    ReviewOutcome.CONTINUE: ("advice_given",),
    ReviewOutcome.CHANGE_PLAN: ("advice_given",),
    ReviewOutcome.BRING_TO_CLINIC: ("referred_back_to_clinic", "advice_given"),
    ReviewOutcome.DISCHARGE: ("advice_given",),
}


@dataclass(frozen=True)
class LetterResult:
    """One value in the letter, as the lab sent it."""

    test: str
    date: str
    value: str

    def as_dict(self) -> dict[str, str]:
        return {"test": self.test, "date": self.date, "value": self.value}


def open_plans(*, patient: Patient) -> list[FollowUpPlan]:
    """The patient's active and paused plans, with their tests and rules. Reads only."""
    return list(selectors.plan_list(patient=patient).filter(status__in=OPEN))


def letter_results(*, patient: Patient, plans: Sequence[FollowUpPlan]) -> list[LetterResult]:
    """The latest values of each test the plans schedule, newest first within a test, as the
    lab sent them ("<0.01 ug/L"). A query per test. Reads only."""
    rows: list[LetterResult] = []
    seen: set[str] = set()
    for plan in plans:
        for plan_test in plan.tests.all():
            key = plan_test.test_code.casefold()
            if key in seen:
                continue
            seen.add(key)
            latest = selectors.counting_observations(
                patient=patient, test_code=plan_test.test_code
            ).order_by("-observed_at", "-id")[:RESULTS_PER_TEST]
            for observation in latest:
                number = format_number(Decimal(observation.value_numeric or 0))
                value = f"{observation.comparator}{number}"
                rows.append(
                    LetterResult(
                        test=plan_test.test_name,
                        date=format_date(timezone.localdate(observation.observed_at)),
                        value=f"{value} {observation.units}".strip(),
                    )
                )
    return rows


# The latest few radiology reports: the scans a decision rests on, not the imaging history.
REPORTS_SHOWN = 5


@dataclass(frozen=True)
class RadiologyReport:
    """One radiology report on the review screen: what, when, and its conclusion."""

    title: str
    date: str
    conclusion: str
    status: str


def radiology_reports(*, patient: Patient, plans: Sequence[FollowUpPlan]) -> list[RadiologyReport]:
    """The patient's latest radiology reports since the earliest anchor of ``plans`` (the
    treatment the follow-up is about), newest first, each with its conclusion
    (``rms.reports.conclusion``); cancelled and deleted reports left out. One query."""
    if not plans:
        return []
    since = min(plan.anchor_date for plan in plans)
    start = dt.datetime.combine(since, dt.time.min, tzinfo=timezone.get_current_timezone())
    rows = (
        Result.objects.filter(
            patient=patient, category=Result.Category.RADIOLOGY, observed_at__gte=start
        )
        .exclude(status__in=Result.WITHDRAWN)
        .order_by("-observed_at", "-id")[:REPORTS_SHOWN]
    )
    return [
        RadiologyReport(
            title=result.service_name or result.service_code or "Radiology report",
            date=format_date(timezone.localdate(result.observed_at)),
            conclusion=conclusion(result.report_text),
            status="" if result.status == Result.Status.FINAL else result.get_status_display(),
        )
        for result in rows
    ]


def _work_item_outcome(outcome: str) -> str:
    wanted = WORK_ITEM_OUTCOMES[ReviewOutcome(outcome)]
    offered = set(
        Outcome.objects.filter(code__in=wanted, active=True).values_list("code", flat=True)
    )
    return next((code for code in wanted if code in offered), REVIEWED)


def _clean(patient: Patient, outcome: str, note: str, work_item: WorkItem | None) -> str:
    errors: dict[str, str] = {}
    if outcome not in ReviewOutcome.values:
        errors["outcome"] = "Choose the outcome of the review."
    text = (note or "").strip()
    if len(text) > NOTE_MAX:
        errors["note"] = f"Keep the note to {NOTE_MAX} characters."
    if work_item is not None and work_item.patient_id != patient.pk:
        errors["work_item"] = "This work item is not about this patient."
    if errors:
        raise ValidationError(errors)
    return text


def _author(actor: User) -> str:
    return actor.get_full_name() or actor.get_username()


@dataclass(frozen=True)
class ReviewLetter:
    """What a review letter says, whichever way it is rendered (the filed HTML document, the
    GP's PDF): one content for both, so the two never tell different things."""

    trust_name: str
    patient_name: str
    nhs_number: str
    date_of_birth: str
    reviewed_on: str
    plans: list[str]
    teams: list[str]
    outcome_label: str
    outcome_words: str
    results: list[LetterResult]
    note: str
    reviewer: str


def review_letter(
    *,
    patient: Patient,
    plans: Sequence[FollowUpPlan],
    outcome: str,
    note: str,
    results: Sequence[LetterResult],
    reviewer: str,
    reviewed_at: dt.datetime,
    words: str,
) -> ReviewLetter:
    """The letter of one review, from what the review saw and decided. Reads only."""
    label = ReviewOutcome(outcome).label if outcome in ReviewOutcome.values else outcome
    return ReviewLetter(
        trust_name=settings.TRUST_NAME,
        patient_name=patient.full_name,
        nhs_number=patient.nhs_number_display or "Not recorded",
        date_of_birth=format_date(patient.date_of_birth),
        reviewed_on=format_date(timezone.localdate(reviewed_at)),
        plans=[plan.pathway.name for plan in plans],
        teams=sorted({plan.team.name for plan in plans}),
        outcome_label=label,
        outcome_words=words,
        results=list(results),
        note=note,
        reviewer=reviewer,
    )


def _letter_html(letter: ReviewLetter) -> str:
    return render_to_string(LETTER_TEMPLATE, vars(letter))


@transaction.atomic
def review_record(
    *,
    patient: Patient,
    actor: User,
    outcome: str,
    note: str,
    work_item: WorkItem | None = None,
    addressed: Sequence[WorkItem] = (),
) -> Document:
    """Record a virtual review of ``patient``'s open plans: file the review letter (a clinic
    letter, document number ``REVIEW-<uuid>``; shared with PKB by the signals when the patient
    is enrolled), add a "reviewed" ``PlanChange`` to each open plan, end them on "discharge",
    and complete ``work_item`` if given, and each of ``addressed`` (the patient's open items
    the clinician ticked as settled by this review). One transaction. Not idempotent by design:
    each call is a new review with its own letter."""
    permissions.require_write(user=actor, patient=patient)
    text = _clean(patient, outcome, note, work_item)
    plans = open_plans(patient=patient)
    if not plans:
        raise ValidationError(
            {"outcome": "The patient has no open follow-up plan to review; start a plan first."}
        )
    now = timezone.now()
    results = letter_results(patient=patient, plans=plans)
    words = outcome_words(outcome=outcome, appointment=next_appointment(patient=patient, after=now))
    reviewer = _author(actor)
    document, _ = rms_services.document_record(
        patient=patient,
        data=rms_services.DocumentInput(
            document_number=f"{DOCUMENT_PREFIX}{uuid.uuid4()}",
            document_type=Document.DocumentType.CLINIC_LETTER,
            title=LETTER_TITLE,
            authored_at=now,
            content_type=Document.ContentType.HTML,
            content_html=_letter_html(
                review_letter(
                    patient=patient,
                    plans=plans,
                    outcome=outcome,
                    note=text,
                    results=results,
                    reviewer=reviewer,
                    reviewed_at=now,
                    words=words,
                )
            ),
            author=reviewer,
        ),
        actor=actor,
    )
    details: dict[str, Any] = {
        "outcome": outcome,
        "note": text,
        "document": str(document.public_id),
        "work_item": str(work_item.public_id) if work_item is not None else None,
        "reviewed_at": now.isoformat(),
        "results": [row.as_dict() for row in results],
        # What the letter said about the outcome (it may name a booked appointment), so the
        # PDF says the same whatever is booked or cancelled since.
        "outcome_words": words,
    }
    label = ReviewOutcome(outcome).label
    for plan in plans:
        PlanChange.objects.create(
            plan=plan, actor=actor, action=REVIEWED, reason=text or label, details=details
        )
    if outcome == ReviewOutcome.DISCHARGE:
        reason = f"Discharged at virtual review. {text}".strip()
        for plan in plans:
            services.plan_end(plan=plan, actor=actor, reason=reason)
    settled = [work_item] if work_item is not None else []
    for item in addressed:
        if item.patient_id != patient.pk:
            raise ValidationError({"addressed": "A work item is not about this patient."})
        if item not in settled:
            settled.append(item)
    for item in settled:
        if item.status not in WorkItem.ACTIVE:
            continue
        worklist_services.work_item_complete(
            item=item,
            actor=actor,
            outcome=_work_item_outcome(outcome),
            note=f"Virtual review: {label}. {text}".strip(),
        )
    return document


# The items a virtual review can settle: what monitoring raised about the patient's results.
REVIEWABLE_KINDS = (
    WorkItem.Kind.THRESHOLD_BREACH,
    WorkItem.Kind.RESULT_TO_REVIEW,
    WorkItem.Kind.OVERDUE_TEST,
)


def addressable_items(*, patient: Patient) -> QuerySet[WorkItem]:
    """The patient's open monitoring items, the ones a review is offered to close (all ticked,
    each may be unticked). Reads only."""
    return WorkItem.objects.filter(
        patient=patient, kind__in=REVIEWABLE_KINDS, status__in=WorkItem.ACTIVE
    ).order_by("priority", "created_at", "id")


def decision_list(*, patient: Patient) -> QuerySet[PlanChange]:
    """What was decided on the patient's plans (started, reviewed, paused, ended...), newest
    first, with who and on which plan. Reads only."""
    return (
        PlanChange.objects.filter(plan__patient=patient)
        .select_related("actor", "plan__pathway")
        .order_by("-at", "-id")
    )


def review_for_letter(*, document_id: uuid.UUID | str) -> PlanChange | None:
    """The review that filed the letter with this document id, whoever's patient it is: the
    caller must open ``change.plan.patient`` with ``rms.access.patient_for_request`` before
    showing anything of it. None for any other document."""
    return (
        PlanChange.objects.filter(action=REVIEWED, details__document=str(document_id))
        .select_related("plan__patient", "plan__team", "plan__pathway", "actor")
        .order_by("id")
        .first()
    )


def review_letter_pdf(*, change: PlanChange) -> bytes:
    """The review letter as a PDF for the GP: the Trust, the patient (name, NHS number shown
    3-3-4, date of birth), the results the review saw, the outcome and the note. Reads only."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    details = change.details or {}
    outcome = str(details.get("outcome", ""))
    words = str(details.get("outcome_words", ""))
    if not words and outcome in ReviewOutcome.values:
        # Reviews recorded before the words were kept with them.
        words = OUTCOME_WORDS[ReviewOutcome(outcome)]
    letter = review_letter(
        patient=change.plan.patient,
        plans=[change.plan],
        outcome=outcome,
        note=str(details.get("note", "")).strip(),
        results=[
            LetterResult(str(r.get("test", "")), str(r.get("date", "")), str(r.get("value", "")))
            for r in details.get("results", [])
        ],
        reviewer=_author(change.actor),
        reviewed_at=change.at,
        words=words,
    )
    styles = getSampleStyleSheet()

    def para(text: str, style: str = "BodyText") -> Paragraph:
        # Paragraph reads a small markup language: everything we put in is escaped first.
        return Paragraph(html.escape(text).replace("\n", "<br/>"), styles[style])

    buffer = io.BytesIO()
    # No patient identifiers in the file's metadata: it is read by tools that log it.
    document = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        title=LETTER_TITLE,
        author=letter.trust_name,
        leftMargin=20 * mm,
        rightMargin=20 * mm,
        topMargin=18 * mm,
        bottomMargin=18 * mm,
    )
    identity = Table(
        [
            ["Patient", letter.patient_name],
            ["NHS number", letter.nhs_number],
            ["Date of birth", letter.date_of_birth],
            ["Date of review", letter.reviewed_on],
            ["Follow-up plan", ", ".join(letter.plans)],
        ],
        colWidths=[40 * mm, 120 * mm],
        hAlign="LEFT",
    )
    identity.setStyle(TableStyle([("FONTNAME", (0, 0), (0, -1), "Helvetica-Bold")]))
    rows = [["Test", "Date", "Result"]] + [[r.test, r.date, r.value] for r in letter.results]
    results = Table(rows, colWidths=[70 * mm, 40 * mm, 50 * mm], hAlign="LEFT", repeatRows=1)
    results.setStyle(
        TableStyle(
            [
                ("FONTNAME", (0, 0), (-1, 0), "Helvetica-Bold"),
                ("LINEBELOW", (0, 0), (-1, 0), 0.75, colors.black),
                ("GRID", (0, 1), (-1, -1), 0.25, colors.grey),
            ]
        )
    )
    story: list[Any] = [
        para(letter.trust_name, "Title"),
        para(LETTER_TITLE, "Heading2"),
        identity,
        Spacer(1, 6 * mm),
        para("Results reviewed", "Heading3"),
        results if len(rows) > 1 else para("No results of the plan's tests yet."),
        Spacer(1, 6 * mm),
        para("Outcome", "Heading3"),
        para(letter.outcome_label),
    ]
    if letter.outcome_words:
        story.append(para(letter.outcome_words))
    if letter.note:
        story += [para("Clinician's note", "Heading3"), para(letter.note)]
    story += [
        Spacer(1, 6 * mm),
        para(f"Reviewed by {letter.reviewer}, {', '.join(letter.teams)}."),
    ]
    document.build(story)
    return buffer.getvalue()
