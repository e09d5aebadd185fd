"""Patient-entered data on the patient record: the symptoms and measurements a patient
recorded in PKB, shown apart from the lab's and radiology's results, with their source and
time, and marked as seen by a clinician.

The panel is loaded into the record by htmx and is also a page of its own (without
JavaScript). The patient is opened with ``rms.access.patient_for_request`` (scoped, logged;
another team's patient is a 404); marking as seen needs a write role (a viewer gets a 403) and
goes through ``rms.services.results.result_mark_seen``, which records who and when.
"""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from pkb_bridge.patient_data_forms import PANEL_ID, MarkSeenForm
from rms import access
from rms import selectors as rms_selectors
from rms.models import Patient, Result
from rms.presenters import PatientPresenter, ResultPresenter, format_datetime
from rms.services.results import result_mark_seen
from rms.web import is_htmx as _is_htmx

PANEL_TEMPLATE = "pkb_bridge/patient_data/panel.html"
PAGE_TEMPLATE = "panel_page.html"
# The newest entries shown; a patient who records daily has a few months here.
PANEL_LIMIT = 100


class EntryPresenter(ResultPresenter):
    """One patient-entered result: what, when, from where, and whether a clinician saw it."""

    @property
    def source(self) -> str:
        return "Entered by the patient in PKB"

    @property
    def received_at(self) -> str:
        return format_datetime(self.result.created_at)

    @property
    def is_new(self) -> bool:
        return self.result.seen_at is None

    @property
    def seen(self) -> str:
        result = self.result
        if result.seen_at is None:
            return "New: not yet seen"
        who = result.seen_by.get_full_name() or result.seen_by.get_username()  # type: ignore[union-attr]
        return f"Seen by {who} on {format_datetime(result.seen_at)}"


def _panel_url(patient: Patient) -> str:
    return reverse("patient_data:panel", args=[patient.public_id])


def _render(request: HttpRequest, patient: Patient) -> HttpResponse:
    can_write = rms_selectors.user_can_write(user=request.user, patient=patient)
    results = (
        rms_selectors.result_list(patient=patient, category=Result.Category.PATIENT)
        .exclude(status__in=Result.WITHDRAWN)
        .select_related("seen_by")[:PANEL_LIMIT]
    )
    entries = []
    for result in results:
        entry = EntryPresenter(result)
        form = None
        if can_write and entry.is_new:
            form = MarkSeenForm(
                action=reverse(
                    "patient_data:mark_seen", args=[patient.public_id, result.public_id]
                ),
                auto_id=f"seen-{result.public_id}-%s",
            )
        entries.append((entry, form))
    context = {
        "entries": entries,
        "new_count": sum(1 for entry, _ in entries if entry.is_new),
        "can_write": can_write,
        "panel_id": PANEL_ID,
        "panel_url": _panel_url(patient),
        "patient": PatientPresenter(patient, today=timezone.localdate(), teams=()),
        "show_messages": _is_htmx(request),
    }
    if _is_htmx(request):
        return render(request, PANEL_TEMPLATE, context)
    return render(
        request,
        PAGE_TEMPLATE,
        {**context, "partial_template": PANEL_TEMPLATE, "page_title": "Patient-entered data"},
    )


@login_required
@never_cache
@require_GET
def panel(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    patient = access.patient_for_request(
        request=request, public_id=public_id, action="patient_data"
    )
    return _render(request, patient)


@login_required
@never_cache
@require_POST
def mark_seen(request: HttpRequest, public_id: uuid.UUID, result_id: uuid.UUID) -> HttpResponse:
    user = request.user
    if not isinstance(user, User):
        raise PermissionDenied
    patient = access.patient_for_write(
        request=request,
        public_id=public_id,
        action="patient_data_seen",
    )
    result = (
        rms_selectors.result_list(patient=patient, category=Result.Category.PATIENT)
        .filter(public_id=result_id)
        .first()
    )
    if result is None:
        raise Http404("No such entry for this patient.")
    try:
        result_mark_seen(result=result, actor=user)
    except (ValidationError, PermissionDenied) as exc:
        text = " ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
        messages.error(request, text)
    else:
        messages.success(request, "Marked as seen.")
    if _is_htmx(request):
        return _render(request, patient)
    return redirect(_panel_url(patient))
