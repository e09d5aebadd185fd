"""The clinician pages: the patient list, registration, the record, and documents.

Every page needs a logged-in user and shows only what the selectors let that user see. A
patient's record is opened with ``access.patient_for_request``, which writes the access log
and makes another team's patient a 404. Patient pages are never cached by the browser, so
the back button after logging out does not show a record.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Prefetch
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify
from django.views.decorators.cache import never_cache

from rms import access, permissions, selectors, services, summary
from rms.audit_trail import user_is_team_admin_for
from rms.forms import PatientCreateForm, PatientDetailsForm, attach_errors
from rms.models import CaseloadEntry, Document, Patient, Result, Role
from rms.models.teams import WRITE_ROLES
from rms.ops.mailbox import mailbox_read
from rms.presenters import (
    OPEN_CASELOAD_ATTR,
    TIMELINE_LIMIT,
    AppointmentPresenter,
    DiagnosisPresenter,
    DocumentPresenter,
    PatientPresenter,
    ResultPresenter,
    timeline,
)
from rms.services import PATIENT_FIELDS
from rms.web import signed_in_user as _actor

PATIENTS_PER_PAGE = 50
SEARCH_MAX_LENGTH = 100


def _open_caseload() -> Prefetch:
    """The teams shown beside each patient in the list, in one query for the whole page."""
    return Prefetch(
        "caseload_entries",
        queryset=CaseloadEntry.objects.filter(ended_on__isnull=True)
        .select_related("team")
        .order_by("team__name"),
        to_attr=OPEN_CASELOAD_ATTR,
    )


def _all_errors_at_once(form: PatientDetailsForm, patient: Patient | None = None) -> None:
    """The form refused some fields: check the ones it read as the services would, so every
    error shows at once (an invalid date does not hide an NHS number error)."""
    values = {name: form.cleaned_data[name] for name in PATIENT_FIELDS if name in form.cleaned_data}
    try:
        services.patient_check(patient=patient, **values)
    except ValidationError as exc:
        attach_errors(form, exc, only_new=True)


@login_required
def home(request: HttpRequest) -> HttpResponse:
    return redirect("rms:patient_list")


@login_required
@never_cache
def patient_list(request: HttpRequest) -> HttpResponse:
    search = request.GET.get("q", "").strip()[:SEARCH_MAX_LENGTH]
    patients = selectors.patient_list(user=request.user, search=search).prefetch_related(
        _open_caseload()
    )
    page = Paginator(patients, PATIENTS_PER_PAGE).get_page(request.GET.get("page"))
    on_page = list(page.object_list)
    access.patients_listed(
        request=request,
        patient_ids=[p.pk for p in on_page],
        action="patient search" if search else "patient list",
    )
    today = timezone.localdate()
    can_register = selectors.team_list(user=request.user, roles=WRITE_ROLES).exists()
    return render(
        request,
        "rms/patient_list.html",
        {
            "page": page,
            "patients": [PatientPresenter(p, today=today) for p in on_page],
            "search": search,
            "can_register": can_register,
        },
    )


def _status_refused(
    request: HttpRequest, form: PatientDetailsForm, error: PermissionDenied, context: dict[str, Any]
) -> HttpResponse:
    """The form again, nothing saved, with the refusal on the NHS number status (403): only a
    team admin changes it (``services.NHS_NUMBER_STATUS_REFUSAL``)."""
    form.add_error("nhs_number_status", str(error))
    return render(request, "rms/patient_form.html", {"form": form, **context}, status=403)


@login_required
@never_cache
def patient_create(request: HttpRequest) -> HttpResponse:
    user = _actor(request)
    teams = selectors.team_list(user=user, roles=WRITE_ROLES).order_by("name")
    if not teams.exists():
        raise permissions.Refused("Only clinicians and team admins can register patients.")
    if request.method == "POST":
        form = PatientCreateForm(request.POST, teams=teams)
        if form.is_valid():
            try:
                patient = services.patient_create(
                    actor=user,
                    teams=form.cleaned_data["teams"],
                    status_reason=form.cleaned_data["nhs_number_status_reason"],
                    **form.patient_values(),
                )
            except ValidationError as exc:
                attach_errors(form, exc)
            except PermissionDenied as exc:
                return _status_refused(request, form, exc, {"creating": True})
            else:
                # No name in the message: messages travel in a (signed, not encrypted) cookie.
                messages.success(request, "The patient has been registered.")
                return redirect("rms:patient_detail", public_id=patient.public_id)
        else:
            _all_errors_at_once(form)
    else:
        initial = {"teams": list(teams)} if len(teams) == 1 else {}
        form = PatientCreateForm(teams=teams, initial=initial)
    return render(request, "rms/patient_form.html", {"form": form, "creating": True})


@login_required
@never_cache
def patient_detail(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    """The patient record: header, timeline, results and documents from the core record, and
    the other apps' panels (work items, trend charts, the plan, plan decisions, PKB) loaded
    by htmx by URL name only, each with a link for browsers without JavaScript. The queries
    are a fixed handful however long the record is."""
    patient = access.patient_for_request(request=request, public_id=public_id, action="record")
    today = timezone.localdate()
    header = PatientPresenter(
        patient, today=today, teams=selectors.patient_team_list(patient=patient).order_by("name")
    )
    # Patient-entered results are shown apart, in the PKB bridge's panel, with their source.
    results = [
        ResultPresenter(r)
        for r in selectors.result_list(patient=patient).exclude(category=Result.Category.PATIENT)
    ]
    appointments = [AppointmentPresenter(a) for a in selectors.appointment_list(patient=patient)]
    documents = [DocumentPresenter(d) for d in selectors.document_list(patient=patient)]
    diagnoses = list(selectors.diagnosis_list(patient=patient))
    return render(
        request,
        "rms/patient_detail.html",
        {
            "patient": header,
            "can_write": selectors.user_can_write(user=request.user, patient=patient),
            "can_audit": user_is_team_admin_for(user=_actor(request), patient=patient),
            "status_changes": services.nhs_number_status_history(patient=patient)[:1],
            "diagnoses": [DiagnosisPresenter(d) for d in diagnoses],
            "diagnosis_summary": summary.diagnosis_summary(diagnoses),
            "marker": summary.latest_marker(patient=patient),
            "results": results,
            "appointments": appointments,
            "documents": documents,
            "timeline": timeline(
                results=results,
                appointments=appointments,
                documents=documents,
                document_url=lambda d: reverse(
                    "rms:document_detail", args=[patient.public_id, d.public_id]
                ),
            ),
            "timeline_limit": TIMELINE_LIMIT,
        },
    )


@login_required
@never_cache
def patient_edit(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    user = _actor(request)
    patient = access.patient_for_write(
        request=request,
        public_id=public_id,
        action="edit",
    )
    if request.method == "POST":
        # With the stored values as initial, the form checks only what was changed.
        form = PatientDetailsForm(request.POST, initial=PatientDetailsForm.initial_for(patient))
        if form.is_valid():
            try:
                services.patient_update(
                    patient=patient,
                    actor=user,
                    status_reason=form.cleaned_data["nhs_number_status_reason"],
                    **form.patient_values(),
                )
            except ValidationError as exc:
                attach_errors(form, exc)
            except PermissionDenied as exc:
                return _status_refused(
                    request,
                    form,
                    exc,
                    {
                        "creating": False,
                        "patient": PatientPresenter(patient, today=timezone.localdate(), teams=()),
                        "cancel_url": reverse("rms:patient_detail", args=[patient.public_id]),
                    },
                )
            else:
                messages.success(request, "The patient's details have been saved.")
                return redirect("rms:patient_detail", public_id=patient.public_id)
        else:
            _all_errors_at_once(form, patient)
    else:
        form = PatientDetailsForm(initial=PatientDetailsForm.initial_for(patient))
    return render(
        request,
        "rms/patient_form.html",
        {
            "form": form,
            "creating": False,
            "patient": PatientPresenter(patient, today=timezone.localdate(), teams=()),
            "cancel_url": reverse("rms:patient_detail", args=[patient.public_id]),
        },
    )


@login_required
@never_cache
def document_detail(
    request: HttpRequest, public_id: uuid.UUID, document_id: uuid.UUID
) -> HttpResponse:
    patient = access.patient_for_request(request=request, public_id=public_id, action="document")
    document = selectors.document_list(patient=patient).filter(public_id=document_id).first()
    if document is None:
        raise Http404("No such document.")
    if document.content_type == Document.ContentType.PDF:
        response = HttpResponse(bytes(document.content_pdf or b""), content_type="application/pdf")
        # A filename from the document type only: titles can carry the patient's name.
        filename = f"{slugify(document.get_document_type_display()) or 'document'}.pdf"
        response["Content-Disposition"] = f'inline; filename="{filename}"'
        return response
    return render(
        request,
        "rms/document_detail.html",
        {
            "patient": PatientPresenter(patient, today=timezone.localdate(), teams=()),
            "document": DocumentPresenter(document),
        },
    )


@login_required
@never_cache
def demo_mailbox(request: HttpRequest) -> HttpResponse:
    """The emails the demo sent (it keeps them instead of sending them): staff and team admins
    only. Absent (404) unless the demo's mailbox is the email backend in use."""
    directory = settings.DEMO_MAILBOX_DIR
    if not directory:
        raise Http404("No such page.")
    user = _actor(request)
    if not (
        user.is_staff or selectors.team_list(user=user, roles=frozenset({Role.TEAM_ADMIN})).exists()
    ):
        raise PermissionDenied("Only team admins and administrators read the demo's emails.")
    return render(request, "rms/demo_mailbox.html", {"emails": mailbox_read(directory=directory)})
