"""The care plan and consent pages: the two panels of the patient record (each also a page of
its own, for browsers without JavaScript), a care plan's page with its versions, editing one
section (each save a new version), one version, and the comparison of two versions; recording
and withdrawing consent.

Every patient is opened with ``rms.access.patient_for_request`` (scoped, logged; another
team's patient is a 404). Changes need a write role in one of the patient's teams (a viewer
gets a 403, and is not offered the forms) and go through the services, which record who did
what and when.
"""

from __future__ import annotations

import uuid
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
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from careplans.care_plans import selectors, services
from careplans.care_plans.forms import (
    CARE_PLANS_PANEL_ID,
    CONSENT_PANEL_ID,
    CONSENT_TOPICS,
    CarePlanCreateForm,
    CompareForm,
    ConsentForm,
    ConsentWithdrawForm,
    SectionForm,
)
from careplans.care_plans.presenters import ConsentPresenter, VersionPresenter, compare
from careplans.models import CarePlan, CarePlanVersion, ConsentRecord, Resource
from rms import access
from rms import selectors as rms_selectors
from rms.forms import attach_errors
from rms.models import Patient
from rms.presenters import PatientPresenter
from rms.web import is_htmx as _is_htmx

T = "careplans/care_plans/"


def _actor(request: HttpRequest) -> User:
    user = request.user
    if not isinstance(user, User):  # login_required has sent anonymous users away
        raise PermissionDenied
    return user


def _header(patient: Patient) -> PatientPresenter:
    return PatientPresenter(patient, today=timezone.localdate(), teams=())


def _open(request: HttpRequest, public_id: uuid.UUID, action: str) -> Patient:
    return access.patient_for_request(request=request, public_id=public_id, action=action)


def _open_for_write(request: HttpRequest, public_id: uuid.UUID, action: str) -> Patient:
    return access.patient_for_write(
        request=request,
        public_id=public_id,
        action=action,
    )


def _care_plan_of(patient: Patient, care_plan_id: uuid.UUID) -> CarePlan:
    care_plan = selectors.care_plan_get(patient=patient, public_id=care_plan_id)
    if care_plan is None:
        raise Http404("No such care plan for this patient.")
    return care_plan


def _version_of(care_plan: CarePlan, number: int) -> CarePlanVersion:
    version = selectors.version_get(care_plan=care_plan, number=number)
    if version is None:
        raise Http404("No such version of this care plan.")
    return version


def _plan_url(patient: Patient, care_plan: CarePlan, name: str = "care_plan_detail") -> str:
    return reverse(f"care_plans:{name}", args=[patient.public_id, care_plan.public_id])


def _panel(
    request: HttpRequest, template: str, context: dict[str, Any], title: str
) -> HttpResponse:
    context = {**context, "show_messages": _is_htmx(request)}
    if _is_htmx(request):
        return render(request, template, context)
    return render(
        request,
        "panel_page.html",
        {**context, "partial_template": template, "page_title": title},
    )


# --- the care plans panel --------------------------------------------------------------------


@login_required
@never_cache
@require_GET
def patient_care_plans(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    patient = _open(request, public_id, "care_plans")
    can_write = rms_selectors.user_can_write(user=request.user, patient=patient)
    plans = []
    for care_plan in selectors.care_plan_list(patient=patient):
        versions = list(care_plan.versions.all())
        plans.append(
            {
                "plan": care_plan,
                "latest": VersionPresenter(versions[-1]) if versions else None,
                "url": _plan_url(patient, care_plan),
            }
        )
    create_form = None
    if can_write:
        create_form = CarePlanCreateForm(
            action=reverse("care_plans:care_plan_create", args=[patient.public_id])
        )
    return _panel(
        request,
        f"{T}care_plans_panel.html",
        {
            "patient": _header(patient),
            "panel_id": CARE_PLANS_PANEL_ID,
            "plans": plans,
            "can_write": can_write,
            "create_form": create_form,
        },
        "Care plans",
    )


@login_required
@never_cache
@require_POST
def care_plan_create(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    user = _actor(request)
    patient = _open_for_write(request, public_id, "care_plan_create")
    form = CarePlanCreateForm(
        request.POST, action=reverse("care_plans:care_plan_create", args=[patient.public_id])
    )
    if form.is_valid():
        try:
            care_plan = services.care_plan_create(
                patient=patient, template=form.cleaned_data["template"], actor=user
            )
        except ValidationError as exc:
            attach_errors(form, exc)
        else:
            messages.success(request, f"Care plan created: {care_plan.title} (version 1).")
            return redirect(_plan_url(patient, care_plan))
    return render(
        request,
        f"{T}care_plan_create.html",
        {"patient": _header(patient), "form": form},
        status=400,
    )


# --- one care plan ---------------------------------------------------------------------------


def _compare_form(
    patient: Patient, care_plan: CarePlan, numbers: list[int], data: Any = None
) -> CompareForm:
    initial = {}
    if len(numbers) >= 2:
        initial = {"from_version": numbers[-2], "to_version": numbers[-1]}
    return CompareForm(
        data,
        action=_plan_url(patient, care_plan, "care_plan_compare"),
        numbers=numbers,
        initial=initial,
    )


def _render_version(
    request: HttpRequest, patient: Patient, care_plan: CarePlan, number: int | None
) -> HttpResponse:
    versions = list(selectors.version_list(care_plan=care_plan))
    if not versions:
        raise Http404("This care plan has no versions.")
    latest = versions[-1]
    shown = latest if number is None else next((v for v in versions if v.number == number), None)
    if shown is None:
        raise Http404("No such version of this care plan.")
    is_latest = shown.number == latest.number
    can_edit = is_latest and rms_selectors.user_can_write(user=request.user, patient=patient)
    numbers = [v.number for v in versions]
    return render(
        request,
        f"{T}care_plan_detail.html",
        {
            "patient": _header(patient),
            "care_plan": care_plan,
            "version": VersionPresenter(shown),
            "sections": list(shown.sections.all()),
            "is_latest": is_latest,
            "latest_number": latest.number,
            "can_edit": can_edit,
            "versions": [VersionPresenter(v) for v in reversed(versions)],
            "compare_form": _compare_form(patient, care_plan, numbers)
            if len(numbers) > 1
            else None,
            "detail_url": _plan_url(patient, care_plan),
        },
    )


@login_required
@never_cache
@require_GET
def care_plan_detail(
    request: HttpRequest, public_id: uuid.UUID, care_plan_id: uuid.UUID
) -> HttpResponse:
    patient = _open(request, public_id, "care_plan")
    return _render_version(request, patient, _care_plan_of(patient, care_plan_id), None)


@login_required
@never_cache
@require_GET
def care_plan_version(
    request: HttpRequest, public_id: uuid.UUID, care_plan_id: uuid.UUID, number: int
) -> HttpResponse:
    patient = _open(request, public_id, "care_plan")
    return _render_version(request, patient, _care_plan_of(patient, care_plan_id), number)


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def care_plan_section_edit(
    request: HttpRequest, public_id: uuid.UUID, care_plan_id: uuid.UUID, position: int
) -> HttpResponse:
    """Edit one section of the current version; saving makes the next version."""
    user = _actor(request)
    patient = _open_for_write(request, public_id, "care_plan_edit")
    care_plan = _care_plan_of(patient, care_plan_id)
    latest = selectors.version_latest(care_plan=care_plan)
    section = None
    if latest is not None:
        section = next((s for s in latest.sections.all() if s.position == position), None)
    if latest is None or section is None:
        raise Http404("No such section in this care plan.")
    action = reverse(
        "care_plans:care_plan_section_edit",
        args=[patient.public_id, care_plan.public_id, position],
    )
    if request.method == "POST":
        form = SectionForm(request.POST, action=action)
        if form.is_valid():
            try:
                version = services.care_plan_section_update(
                    care_plan=care_plan,
                    position=position,
                    heading=form.cleaned_data["heading"],
                    body=form.cleaned_data["body"],
                    note=form.cleaned_data["note"],
                    actor=user,
                )
            except ValidationError as exc:
                attach_errors(form, exc)
            else:
                if version.number == latest.number:
                    messages.info(request, "Nothing changed: no new version was saved.")
                else:
                    messages.success(request, f"Saved as version {version.number}.")
                return redirect(_plan_url(patient, care_plan))
    else:
        form = SectionForm(
            action=action, initial={"heading": section.heading, "body": section.body}
        )
    return render(
        request,
        f"{T}section_edit.html",
        {
            "patient": _header(patient),
            "care_plan": care_plan,
            "section": section,
            "version_number": latest.number,
            "form": form,
            "detail_url": _plan_url(patient, care_plan),
        },
    )


@login_required
@never_cache
@require_GET
def care_plan_compare(
    request: HttpRequest, public_id: uuid.UUID, care_plan_id: uuid.UUID
) -> HttpResponse:
    """Two versions side by side, section by section (``?from_version=1&to_version=2``)."""
    patient = _open(request, public_id, "care_plan")
    care_plan = _care_plan_of(patient, care_plan_id)
    versions = {v.number: v for v in selectors.version_list(care_plan=care_plan)}
    form = _compare_form(patient, care_plan, sorted(versions), request.GET or None)
    diffs = None
    before = after = None
    if form.is_bound and form.is_valid():
        before = versions[form.cleaned_data["from_version"]]
        after = versions[form.cleaned_data["to_version"]]
        diffs = compare(before, after)
    return render(
        request,
        f"{T}care_plan_compare.html",
        {
            "patient": _header(patient),
            "care_plan": care_plan,
            "form": form,
            "diffs": diffs,
            "before": VersionPresenter(before) if before else None,
            "after": VersionPresenter(after) if after else None,
            "detail_url": _plan_url(patient, care_plan),
        },
        status=400 if form.is_bound and not form.is_valid() else 200,
    )


# --- consent ---------------------------------------------------------------------------------


@login_required
@never_cache
@require_GET
def patient_consents(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    patient = _open(request, public_id, "consent")
    can_write = rms_selectors.user_can_write(user=request.user, patient=patient)
    return _panel(
        request,
        f"{T}consent_panel.html",
        {
            "patient": _header(patient),
            "panel_id": CONSENT_PANEL_ID,
            "records": [ConsentPresenter(r) for r in selectors.consent_list(patient=patient)],
            "can_write": can_write,
        },
        "Consent",
    )


def _resources(user: User) -> Any:
    teams = rms_selectors.team_list(user=user)
    return Resource.objects.filter(team__in=teams).order_by("title")


def _patient_url(patient: Patient) -> str:
    return reverse("rms:patient_detail", args=[patient.public_id])


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def consent_create(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    user = _actor(request)
    patient = _open_for_write(request, public_id, "consent_record")
    action = reverse("care_plans:consent_create", args=[patient.public_id])
    if request.method == "POST":
        form = ConsentForm(
            request.POST, action=action, resources=_resources(user), born=patient.date_of_birth
        )
        if form.is_valid():
            data = form.cleaned_data
            try:
                record = services.consent_record(
                    patient=patient,
                    topic=data["topic"],
                    information_given=data["information_given"],
                    resource=data["resource"],
                    method=data["method"],
                    status=data["status"],
                    given_at=data["given_at"],
                    note=data["note"],
                    actor=user,
                )
            except ValidationError as exc:
                attach_errors(form, exc)
            else:
                messages.success(
                    request, f"Consent recorded: {record.topic} ({record.get_status_display()})."
                )
                return redirect(f"{_patient_url(patient)}#consent-heading")
    else:
        now = timezone.localtime().replace(second=0, microsecond=0)
        form = ConsentForm(action=action, resources=_resources(user), initial={"given_at": now})
    return render(
        request,
        f"{T}consent_form.html",
        {
            "patient": _header(patient),
            "form": form,
            "topics": CONSENT_TOPICS,
            "patient_url": _patient_url(patient),
        },
    )


def _consent_of(patient: Patient, consent_id: uuid.UUID) -> ConsentRecord:
    record = selectors.consent_get(patient=patient, public_id=consent_id)
    if record is None:
        raise Http404("No such consent record for this patient.")
    return record


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def consent_withdraw(
    request: HttpRequest, public_id: uuid.UUID, consent_id: uuid.UUID
) -> HttpResponse:
    user = _actor(request)
    patient = _open_for_write(request, public_id, "consent_withdraw")
    record = _consent_of(patient, consent_id)
    action = reverse("care_plans:consent_withdraw", args=[patient.public_id, record.public_id])
    if request.method == "POST":
        form = ConsentWithdrawForm(request.POST, action=action)
        if form.is_valid():
            try:
                services.consent_withdraw(
                    consent=record,
                    method=form.cleaned_data["method"],
                    withdrawn_at=form.cleaned_data["given_at"],
                    note=form.cleaned_data["note"],
                    actor=user,
                )
            except ValidationError as exc:
                attach_errors(form, exc)
            else:
                messages.success(request, f"Withdrawal recorded: {record.topic}.")
                return redirect(f"{_patient_url(patient)}#consent-heading")
    else:
        now = timezone.localtime().replace(second=0, microsecond=0)
        form = ConsentWithdrawForm(action=action, initial={"given_at": now})
    return render(
        request,
        f"{T}consent_withdraw.html",
        {
            "patient": _header(patient),
            "record": ConsentPresenter(record),
            "form": form,
            "patient_url": _patient_url(patient),
        },
    )
