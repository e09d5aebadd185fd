"""The open work items of one patient, as a panel of the patient record (loaded by htmx, by URL
name only: rms imports nothing of worklists) and as a page of its own without JavaScript.

The actions are the worklist's (start, assign, complete with an outcome, dismiss with a
reason), validated by the worklist's forms and carried out by ``worklists.services``, which
decide whether the user may act. Each answers with the panel again (htmx) or a redirect to the
patient record (no JavaScript). A virtual review can be started from an item: recording it
completes the item.

The patient is opened with ``rms.access.patient_for_request`` (scoped, logged; another team's
patient is a 404); an item is found in the user's scope (``worklists.selectors``) and must be
the patient's, or it is a 404 too.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

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

from rms import access, permissions
from rms.models import Patient
from rms.presenters import PatientPresenter
from rms.web import is_htmx as _is_htmx
from rms.web import signed_in_user as _user
from worklists import reads, selectors, services
from worklists.forms import AssignForm, CompleteForm, DismissForm
from worklists.models import WorkItem
from worklists.presenters import WorkItemRow

PANEL_ID = "work-items-panel"
PANEL_TEMPLATE = "worklist_panels/patient_items.html"
PAGE_TEMPLATE = "panel_page.html"


def _record_url(patient: Patient) -> str:
    return reverse("rms:patient_detail", args=[patient.public_id])


def _render_panel(request: HttpRequest, patient: Patient, *, status: int = 200) -> HttpResponse:
    """The patient's open items, most urgent first, with their actions: a fixed handful of
    queries however many items there are."""
    user = _user(request)
    teams = reads.my_teams(user=user)
    items = list(
        selectors.work_item_list(user=user, status=selectors.ACTIVE).filter(patient=patient)
    )
    outcomes = reads.outcome_list()
    actionable = {item.team_id for item in items if item.team_id and teams.may_act(item)}
    colleagues = reads.colleagues_by_team(team_ids=actionable) if actionable else {}
    today = timezone.localdate()
    labels = {o.code: o.label for o in outcomes}
    rows = [
        WorkItemRow(
            item,
            today=today,
            user=user,
            may_act=teams.may_act(item),
            colleagues=colleagues.get(item.team_id or 0, []),
            outcomes=outcomes,
            outcome_labels=labels,
        )
        for item in items
    ]
    context: dict[str, Any] = {
        "patient": PatientPresenter(patient, today=today, teams=()),
        "panel_id": PANEL_ID,
        "rows": rows,
        # A full page shows the messages in base.html; a swapped panel shows its own.
        "show_messages": _is_htmx(request),
    }
    if _is_htmx(request):
        return render(request, PANEL_TEMPLATE, context, status=status)
    return render(
        request,
        PAGE_TEMPLATE,
        {**context, "partial_template": PANEL_TEMPLATE, "page_title": "Open work items"},
        status=status,
    )


@login_required
@never_cache
@require_GET
def patient_items(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    patient = access.patient_for_request(request=request, public_id=public_id, action="work_items")
    return _render_panel(request, patient)


def _refusal(error: ValidationError | PermissionDenied) -> str:
    if isinstance(error, ValidationError):
        return " ".join(error.messages)
    return str(error) or "You cannot act on this work item."


def _act(
    request: HttpRequest,
    public_id: uuid.UUID,
    item_id: uuid.UUID,
    *,
    form: Callable[[WorkItem], Any] | None,
    do: Callable[[WorkItem, User, Any], str],
) -> HttpResponse:
    """One action on one of the patient's items: validate, call the service, answer with the
    panel (htmx) or a redirect to the record (no JavaScript). A refusal is a message."""
    user = _user(request)
    patient = access.patient_for_request(
        request=request, public_id=public_id, action="work_item_action"
    )
    try:
        item = selectors.work_item_get(user=user, public_id=item_id)
    except WorkItem.DoesNotExist:
        raise Http404("No such work item.") from None
    if item.patient_id != patient.pk:
        raise Http404("No such work item for this patient.")
    status = 200
    if not reads.my_teams(user=user).may_act(item):
        if not _is_htmx(request):
            raise permissions.Refused("Only a clinician or team admin of the item's team can act.")
        messages.error(request, "Only a clinician or team admin of the item's team can act on it.")
        return _render_panel(request, patient, status=403)
    bound = form(item) if form is not None else None
    if bound is not None and not bound.is_valid():
        text = " ".join(str(e) for errors in bound.errors.values() for e in errors)
        messages.error(request, f"{item.title}: {text}")
        status = 400
    else:
        try:
            done = do(item, user, bound)
        except (ValidationError, PermissionDenied) as exc:
            messages.error(request, f"{item.title}: {_refusal(exc)}")
        else:
            messages.success(request, f"{item.title}: {done}")
    if _is_htmx(request):
        return _render_panel(request, patient, status=status)
    return redirect(_record_url(patient))


@login_required
@never_cache
@require_POST
def item_start(request: HttpRequest, public_id: uuid.UUID, item_id: uuid.UUID) -> HttpResponse:
    def do(item: WorkItem, user: User, form: None) -> str:
        services.work_item_start(item=item, actor=user)
        return "Started."

    return _act(request, public_id, item_id, form=None, do=do)


@login_required
@never_cache
@require_POST
def item_assign(request: HttpRequest, public_id: uuid.UUID, item_id: uuid.UUID) -> HttpResponse:
    def form(item: WorkItem) -> AssignForm:
        colleagues = reads.colleagues_by_team(team_ids=[item.team_id] if item.team_id else [])
        return AssignForm(request.POST, colleagues=colleagues.get(item.team_id or 0, []))

    def do(item: WorkItem, user: User, bound: AssignForm) -> str:
        assignee = bound.chosen()
        services.work_item_assign(item=item, assignee=assignee, actor=user)
        if assignee is None:
            return "Unassigned."
        return "Assigned to you." if assignee.pk == user.pk else "Assigned."

    return _act(request, public_id, item_id, form=form, do=do)


@login_required
@never_cache
@require_POST
def item_complete(request: HttpRequest, public_id: uuid.UUID, item_id: uuid.UUID) -> HttpResponse:
    def form(item: WorkItem) -> CompleteForm:
        return CompleteForm(request.POST, outcomes=reads.outcome_list())

    def do(item: WorkItem, user: User, bound: CompleteForm) -> str:
        services.work_item_complete(
            item=item,
            actor=user,
            outcome=bound.cleaned_data["outcome"],
            note=bound.cleaned_data["note"],
        )
        return "Completed."

    return _act(request, public_id, item_id, form=form, do=do)


@login_required
@never_cache
@require_POST
def item_dismiss(request: HttpRequest, public_id: uuid.UUID, item_id: uuid.UUID) -> HttpResponse:
    def form(item: WorkItem) -> DismissForm:
        return DismissForm(request.POST)

    def do(item: WorkItem, user: User, bound: DismissForm) -> str:
        services.work_item_dismiss(item=item, actor=user, reason=bound.cleaned_data["reason"])
        return "Dismissed."

    return _act(request, public_id, item_id, form=form, do=do)
