"""The PKB pages: a patient's sharing panel (with its actions) and the delivery view.

The panel is loaded into the patient record by htmx (``hx-get`` on load) and is also a page
of its own, so it works without JavaScript. Every patient is opened with
``rms.access.patient_for_request`` (scoped, logged; another team's patient is a 404); every
change needs a write role in one of the patient's teams (a viewer gets a 403) and goes
through a service, which records who made it. A service's refusal is shown as a message on
the panel, never as a server error. With htmx an action answers with the new panel; without
it, with a redirect to the PKB page (post/redirect/get).

The delivery view is for staff: superusers see every patient's messages, other staff those
of their teams' patients.
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

from pkb_bridge import selectors, services
from pkb_bridge.forms import (
    PANEL_ID,
    DecisionForm,
    InvitationResendForm,
    OptInForm,
    WithdrawForm,
)
from pkb_bridge.models import OutboundMessage, Publication
from pkb_bridge.presenters import (
    AttemptPresenter,
    EnrolmentPresenter,
    MessagePresenter,
    OptInPreviewPresenter,
    PublicationPresenter,
    age_in_words,
    connection_words,
    share_words,
)
from rms import access, permissions
from rms import selectors as rms_selectors
from rms import services as rms_services
from rms.models import Patient
from rms.presenters import PatientPresenter, format_datetime
from rms.web import is_htmx as _is_htmx
from rms.web import signed_in_user as _actor

PANEL_TEMPLATE = "pkb_bridge/patient_panel.html"
WITHDRAW_TEMPLATE = "pkb_bridge/withdraw_confirm.html"
OPT_IN_TEMPLATE = "pkb_bridge/opt_in_confirm.html"
PAGE_TEMPLATE = "panel_page.html"


def _open_for_write(request: HttpRequest, public_id: uuid.UUID, action: str) -> Patient:
    return access.patient_for_write(
        request=request,
        public_id=public_id,
        action=action,
    )


def _refused(request: HttpRequest, error: ValidationError | PermissionDenied) -> None:
    """A service said no: tell the user why, on the panel."""
    if isinstance(error, ValidationError):
        text = " ".join(error.messages)
    else:
        text = str(error) or "You cannot do this for this patient."
    messages.error(request, text)


def _panel_url(patient: Patient) -> str:
    return reverse("pkb:patient_panel", args=[patient.public_id])


def _decision_forms(patient: Patient, row: PublicationPresenter) -> list[DecisionForm]:
    choices = []
    if row.can_release:
        choices.append(("release", "Release", "btn-outline-primary btn-sm"))
    if row.can_keep_held:
        choices.append(("hold", "Keep held", "btn-outline-secondary btn-sm"))
    elif row.can_hold:
        choices.append(("hold", "Hold", "btn-outline-secondary btn-sm"))
    return [
        DecisionForm(
            action=reverse(f"pkb:publication_{verb}", args=[patient.public_id, row.item_id]),
            label=label,
            button_class=css,
            auto_id=f"{verb}-{row.item_id}-%s",
        )
        for verb, label, css in choices
    ]


def _page(
    request: HttpRequest, patient: Patient, template: str, context: dict[str, Any]
) -> HttpResponse:
    """The partial alone for htmx, or the partial inside a full page."""
    context = {
        **context,
        "patient": PatientPresenter(patient, today=timezone.localdate(), teams=()),
        "panel_id": PANEL_ID,
        # A full page shows the messages in base.html; a swapped panel shows its own.
        "show_messages": _is_htmx(request),
    }
    if _is_htmx(request):
        return render(request, template, context)
    return render(
        request,
        PAGE_TEMPLATE,
        {**context, "partial_template": template, "page_title": "PKB sharing"},
    )


def _render_panel(request: HttpRequest, patient: Patient) -> HttpResponse:
    user = request.user
    can_write = rms_selectors.user_can_write(user=user, patient=patient)
    enrolment = selectors.enrolment_latest(patient=patient)
    presenter = EnrolmentPresenter(enrolment)
    rows: list[tuple[PublicationPresenter, list[DecisionForm]]] = []
    if presenter.is_active and enrolment is not None:
        for publication in selectors.publication_list(enrolment=enrolment):
            row = PublicationPresenter(publication)
            rows.append((row, _decision_forms(patient, row) if can_write else []))
    refusal = None if presenter.is_active else services.opt_in_refusal(patient)
    context = {
        "enrolment": presenter,
        "can_write": can_write,
        "refusal": refusal,
        "items": rows,
        "withdraw_url": reverse("pkb:withdraw", args=[patient.public_id]),
        "opt_in_url": reverse("pkb:opt_in", args=[patient.public_id]),
        "resend_form": InvitationResendForm(
            action=reverse("pkb:invitation_resend", args=[patient.public_id])
        ),
    }
    return _page(request, patient, PANEL_TEMPLATE, context)


def _after_action(request: HttpRequest, patient: Patient) -> HttpResponse:
    if _is_htmx(request):
        return _render_panel(request, patient)
    return redirect(_panel_url(patient))


# --- the patient panel ---------------------------------------------------------------------


@login_required
@never_cache
@require_GET
def patient_panel(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    patient = access.patient_for_request(request=request, public_id=public_id, action="pkb")
    return _render_panel(request, patient)


def _opt_in_form(patient: Patient, preview: services.OptInPreview, data: Any = None) -> OptInForm:
    return OptInForm(
        data,
        action=reverse("pkb:opt_in", args=[patient.public_id]),
        attest=preview.attestation_allowed,
        breaches=bool(preview.breaches),
    )


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def opt_in(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    """GET shows what sharing would publish and hold, and asks for consent; POST shares."""
    user = _actor(request)
    patient = _open_for_write(request, public_id, "pkb_opt_in")
    if selectors.enrolment_active(patient=patient) is not None:
        messages.info(request, "This patient is already shared with Patients Know Best.")
        return _after_action(request, patient)
    try:
        preview = services.opt_in_preview(patient=patient, actor=user)
    except PermissionDenied as exc:
        _refused(request, exc)
        return _after_action(request, patient)
    form = _opt_in_form(patient, preview, request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            enrolment = services.enrolment_opt_in(
                patient=patient,
                actor=user,
                team=preview.team,
                attestation=form.cleaned_data.get("attestation") or "",
                hold_breach_evidence=form.hold_breach_evidence(),
            )
        except ValidationError as exc:
            if "consent" in getattr(exc, "error_dict", {}) and "attestation" in form.fields:
                form.add_error("attestation", exc.error_dict["consent"])
            else:
                _refused(request, exc)
                return _after_action(request, patient)
        except PermissionDenied as exc:
            _refused(request, exc)
            return _after_action(request, patient)
        else:
            messages.success(request, share_words(selectors.share_counts(enrolment=enrolment)))
            return _after_action(request, patient)
    return _page(
        request,
        patient,
        OPT_IN_TEMPLATE,
        {
            "preview": OptInPreviewPresenter(preview),
            "refusal": services.opt_in_refusal(patient),
            "form": form,
            "cancel_url": _panel_url(patient),
        },
    )


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def withdraw(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    """GET asks for the reason and a confirmation; POST stops sharing."""
    user = _actor(request)
    patient = _open_for_write(request, public_id, "pkb_withdraw")
    action = reverse("pkb:withdraw", args=[patient.public_id])
    form = WithdrawForm(request.POST or None, action=action)
    if request.method == "POST" and form.is_valid():
        try:
            enrolment = services.enrolment_withdraw(
                patient=patient, actor=user, reason=form.cleaned_data["reason"]
            )
        except (ValidationError, PermissionDenied) as exc:
            _refused(request, exc)
        else:
            if enrolment is None:
                messages.info(request, "This patient is not shared with Patients Know Best.")
            else:
                messages.success(
                    request,
                    "Sharing with Patients Know Best has stopped. Messages not yet sent were "
                    "cancelled; PKB keeps what it already has.",
                )
        return _after_action(request, patient)
    if selectors.enrolment_active(patient=patient) is None:
        messages.info(request, "This patient is not shared with Patients Know Best.")
        return _after_action(request, patient)
    return _page(
        request, patient, WITHDRAW_TEMPLATE, {"form": form, "cancel_url": _panel_url(patient)}
    )


@login_required
@never_cache
@require_POST
def invitation_resend(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    user = _actor(request)
    patient = _open_for_write(request, public_id, "pkb_invitation")
    enrolment = selectors.enrolment_active(patient=patient)
    if enrolment is None:
        messages.error(request, "This patient is not shared with Patients Know Best.")
        return _after_action(request, patient)
    try:
        enrolment = services.invitation_resend(enrolment=enrolment, actor=user)
    except (ValidationError, PermissionDenied) as exc:
        _refused(request, exc)
    else:
        if enrolment.registered_at is None:
            messages.info(request, "The invitation is sent once PKB has accepted the registration.")
        elif not patient.email:
            messages.warning(
                request,
                "No email is recorded for this patient: add one to the record, or help the "
                "patient register.",
            )
        else:
            messages.success(request, "The invitation email will be sent again.")
    return _after_action(request, patient)


def _decide(
    request: HttpRequest, public_id: uuid.UUID, item_id: uuid.UUID, verb: str
) -> HttpResponse:
    user = _actor(request)
    patient = _open_for_write(request, public_id, f"pkb_{verb}")
    publication = selectors.publication_get(patient=patient, item_id=item_id)
    if publication is None:
        raise Http404("No such item shared with PKB.")
    form = DecisionForm(request.POST, action=request.path)
    if not form.is_valid():
        messages.error(request, "The reason can be at most 200 characters.")
        return _after_action(request, patient)
    reason = form.cleaned_data["reason"]
    try:
        if verb == "release":
            publication = services.publication_release(
                publication=publication, actor=user, reason=reason
            )
        else:
            publication = services.publication_hold(
                publication=publication, actor=user, reason=reason
            )
    except (ValidationError, PermissionDenied) as exc:
        _refused(request, exc)
    else:
        if publication.state == Publication.State.RELEASED:
            messages.success(request, "The item is released to the patient in PKB.")
        else:
            messages.success(request, "The item is held back from the patient.")
    return _after_action(request, patient)


@login_required
@never_cache
@require_POST
def publication_release(
    request: HttpRequest, public_id: uuid.UUID, item_id: uuid.UUID
) -> HttpResponse:
    return _decide(request, public_id, item_id, "release")


@login_required
@never_cache
@require_POST
def publication_hold(
    request: HttpRequest, public_id: uuid.UUID, item_id: uuid.UUID
) -> HttpResponse:
    return _decide(request, public_id, item_id, "hold")


# --- the delivery view (staff) -------------------------------------------------------------


def _staff(request: HttpRequest) -> User:
    user = _actor(request)
    if not (user.is_active and user.is_staff):
        raise permissions.Refused("The delivery view is for administrators.")
    return user


@login_required
@never_cache
@require_GET
def delivery(request: HttpRequest) -> HttpResponse:
    user = _staff(request)
    summary = selectors.delivery_summary(user=user)
    access.patients_listed(
        request=request,
        patient_ids=[m.patient_id for m in [*summary.rejections, *summary.blocked]]
        + [e.patient_id for e in summary.onboarding],
        action="PKB delivery",
    )
    status_counts = [
        (label, summary.counts.get(value, 0)) for value, label in OutboundMessage.Status.choices
    ]
    connection = summary.connection
    return render(
        request,
        "pkb_bridge/delivery.html",
        {
            "status_counts": status_counts,
            "oldest_pending_age": age_in_words(summary.oldest_pending_at),
            "oldest_pending_at": format_datetime(summary.oldest_pending_at),
            "connection_paused": bool(connection and connection.paused),
            "connection_status": connection_words(connection),
            "connection_reason": connection.paused_reason if connection else "",
            "can_resume": selectors.sees_every_patient(user),
            "rejections": [MessagePresenter(m) for m in summary.rejections],
            "blocked": [MessagePresenter(m) for m in summary.blocked],
            "onboarding": [EnrolmentPresenter(e) for e in summary.onboarding],
            "stalled": [MessagePresenter(m) for m in summary.stalled],
            "held_unverified": [MessagePresenter(m) for m in summary.held_unverified],
            "sees_everything": selectors.sees_every_patient(user),
        },
    )


@login_required
@never_cache
@require_GET
def delivery_patient(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    user = _staff(request)
    patient = selectors.patient_for_staff(user=user, public_id=public_id)
    if patient is None:
        other = rms_selectors.patient_exists_outside_scope(public_id=public_id)
        if other is not None:
            rms_services.access_event_record(
                user=user,
                patient=other,
                action="pkb_delivery",
                allowed=False,
                ip_address=access.client_ip(request),
            )
        raise Http404("No such patient.")
    rms_services.access_event_record(
        user=user, patient=patient, action="pkb_delivery", ip_address=access.client_ip(request)
    )
    history = [
        (MessagePresenter(m), [AttemptPresenter(a) for a in m.deliveries.all()])
        for m in selectors.patient_message_history(patient=patient)
    ]
    return render(
        request,
        "pkb_bridge/delivery_patient.html",
        {
            "patient": PatientPresenter(patient, today=timezone.localdate(), teams=()),
            "history": history,
        },
    )


@login_required
@require_POST
def connection_resume(request: HttpRequest) -> HttpResponse:
    user = _staff(request)
    # The connection serves every team: only an administrator of the whole service resumes it.
    if not selectors.sees_every_patient(user):
        raise permissions.Refused("Only a superuser can resume the PKB connection.")
    services.connection_resume(actor=user)
    messages.success(request, "Sending to PKB has resumed.")
    return redirect("pkb:delivery")
