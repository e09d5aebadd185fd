"""Virtual review pages, included at /review/ by ``rms.urls``.

- the one-screen review of a patient (results, trends, the plan and its rules, open work
  items, questionnaire answers) with the outcome form; posting it records the review
  (``careplans.followup.review.review_record``) and returns to the patient record;
- the review letter as a PDF for the GP;
- two small fragments the patient record loads with htmx: the patient's plans for its header,
  and the plan decisions (reviews, pauses, ends...) for its timeline.

Every patient is opened with ``rms.access.patient_for_request`` (scoped, logged; another team's
patient is a 404). Reading is open to every member of the patient's teams; recording a review
needs a write role (a viewer gets a 403).
"""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from careplans.followup import review, selectors
from careplans.followup.charts import patient_charts
from careplans.followup.presenters import ChangePresenter, PlanPresenter
from careplans.followup.review_forms import ReviewForm
from rms import access, permissions
from rms import selectors as rms_selectors
from rms.forms import attach_errors
from rms.models import Patient
from rms.presenters import PatientPresenter, format_datetime
from rms.web import signed_in_user as _actor
from worklists import selectors as worklist_selectors
from worklists.models import WorkItem

REVIEW_TEMPLATE = "careplans/review.html"
SUMMARY_TEMPLATE = "careplans/plan_summary.html"
DECISIONS_TEMPLATE = "careplans/plan_decisions.html"
# The timeline shows the latest decisions; the plan's own page has its whole history.
DECISIONS_SHOWN = 50


def _work_item(request: HttpRequest, patient: Patient, value: Any) -> WorkItem | None:
    """The open work item the review started from: one of this patient's, in the user's scope
    (anything else is a 404); None when none is named or the item is already closed."""
    if not value:
        return None
    try:
        item = worklist_selectors.work_item_get(user=request.user, public_id=str(value))
    except WorkItem.DoesNotExist:
        raise Http404("No such work item.") from None
    if item.patient_id != patient.pk:
        raise Http404("No such work item for this patient.")
    return item if item.status in WorkItem.ACTIVE else None


def _review_url(patient: Patient) -> str:
    return reverse("review:patient_review", args=[patient.public_id])


def _booked(patient: Patient) -> str:
    """The patient's next booked appointment in words, which the letter will name."""
    appointment = review.next_appointment(patient=patient, after=timezone.now())
    return review.appointment_in_words(appointment) if appointment is not None else ""


def _render_review(
    request: HttpRequest,
    patient: Patient,
    *,
    form: ReviewForm | None,
    work_item: WorkItem | None,
    status: int = 200,
) -> HttpResponse:
    today = timezone.localdate()
    plans = review.open_plans(patient=patient)
    charts = patient_charts(patient=patient)
    context = {
        "patient": PatientPresenter(
            patient,
            today=today,
            teams=rms_selectors.patient_team_list(patient=patient).order_by("name"),
        ),
        "plans": [PlanPresenter(plan, today=today) for plan in plans],
        "charts": charts,
        "radiology_reports": review.radiology_reports(patient=patient, plans=plans),
        "next_appointment": _booked(patient),
        "work_item": work_item,
        "form": form,
        "can_write": form is not None,
    }
    return render(request, REVIEW_TEMPLATE, context, status=status)


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def patient_review(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    """The one-screen review (GET) and recording its outcome (POST)."""
    user = _actor(request)
    patient = access.patient_for_request(request=request, public_id=public_id, action="review")
    can_write = rms_selectors.user_can_write(user=user, patient=patient)
    if request.method == "GET":
        work_item = _work_item(request, patient, request.GET.get("work_item", ""))
        form = None
        if can_write:
            form = ReviewForm(
                action=_review_url(patient),
                addressable=review.addressable_items(patient=patient),
                initial={"work_item": work_item.public_id if work_item else None},
            )
        return _render_review(request, patient, form=form, work_item=work_item)

    if not can_write:
        raise permissions.Refused()
    form = ReviewForm(
        request.POST,
        action=_review_url(patient),
        addressable=review.addressable_items(patient=patient),
    )
    work_item = _work_item(request, patient, request.POST.get("work_item", ""))
    if form.is_valid():
        try:
            review.review_record(
                patient=patient,
                actor=user,
                outcome=form.cleaned_data["outcome"],
                note=form.cleaned_data["note"],
                work_item=work_item,
                addressed=list(form.cleaned_data["addressed"]),
            )
        except ValidationError as exc:
            attach_errors(form, exc)
        else:
            label = review.ReviewOutcome(form.cleaned_data["outcome"]).label
            # No name in the message: messages travel in a (signed, not encrypted) cookie.
            messages.success(
                request, f"Review recorded ({label.lower()}); the review letter is filed."
            )
            return redirect("rms:patient_detail", public_id=patient.public_id)
    return _render_review(request, patient, form=form, work_item=work_item, status=400)


@login_required
@never_cache
@require_GET
def letter_pdf(request: HttpRequest, document_id: uuid.UUID) -> HttpResponse:
    """The review letter as a PDF, for the GP. Only for a patient in the user's scope."""
    change = review.review_for_letter(document_id=document_id)
    if change is None:
        raise Http404("No such review letter.")
    patient = access.patient_for_request(
        request=request, public_id=change.plan.patient.public_id, action="review_letter"
    )
    if not rms_selectors.document_list(patient=patient).filter(public_id=document_id).exists():
        raise Http404("No such review letter.")
    response = HttpResponse(review.review_letter_pdf(change=change), content_type="application/pdf")
    # A fixed filename: a name or NHS number in it would end up in download folders and logs.
    response["Content-Disposition"] = 'inline; filename="review-letter.pdf"'
    return response


@login_required
@never_cache
@require_GET
def plan_summary(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    """The patient's plans in a line, for the header of the patient record (htmx)."""
    patient = access.patient_for_request(
        request=request, public_id=public_id, action="plan_summary"
    )
    today = timezone.localdate()
    plans = [
        PlanPresenter(plan, today=today)
        for plan in selectors.plan_list(patient=patient).filter(status__in=review.OPEN)
    ]
    return render(request, SUMMARY_TEMPLATE, {"patient_id": str(patient.public_id), "plans": plans})


class DecisionPresenter(ChangePresenter):
    """A plan change on the timeline: what, on which plan, and the letter of a review."""

    @property
    def plan(self) -> str:
        return self.change.plan.pathway.name

    @property
    def is_review(self) -> bool:
        return self.change.action == review.REVIEWED

    @property
    def outcome(self) -> str:
        value = (self.change.details or {}).get("outcome", "")
        return review.ReviewOutcome(value).label if value in review.ReviewOutcome.values else ""

    @property
    def letter_url(self) -> str:
        document = (self.change.details or {}).get("document")
        return reverse("review:letter_pdf", args=[document]) if self.is_review and document else ""

    @property
    def when(self) -> str:
        return format_datetime(self.change.at)


@login_required
@never_cache
@require_GET
def plan_decisions(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    """The latest decisions on the patient's plans, newest first, for the timeline (htmx)."""
    patient = access.patient_for_request(
        request=request, public_id=public_id, action="plan_decisions"
    )
    changes = review.decision_list(patient=patient)[:DECISIONS_SHOWN]
    return render(
        request,
        DECISIONS_TEMPLATE,
        {"decisions": [DecisionPresenter(change) for change in changes]},
    )
