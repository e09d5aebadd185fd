"""The follow-up plan pages: a patient's plans panel (start a plan there) and one plan's page
(pause, resume, end; change an interval or a rule value; add a test; its history).

The panel is loaded into the patient record by htmx (``hx-get`` on load) and is also a page of
its own, so it works without JavaScript. Every patient is opened with
``rms.access.patient_for_request`` (scoped, logged; another team's patient is a 404); every
change needs a write role in one of the patient's teams (a viewer gets a 403) and goes through
a service, which records who made it and why. A service's refusal is shown on the form, never
as a server error.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from django import forms
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

from careplans.followup import selectors, services
from careplans.followup.forms import (
    PANEL_ID,
    AddTestForm,
    IntervalForm,
    PlanStartForm,
    PlanStatusForm,
    RuleParamsForm,
    TreatmentEventForm,
)
from careplans.followup.presenters import (
    ChangePresenter,
    PlanPresenter,
    RulePresenter,
    StepPresenter,
)
from careplans.models import FollowUpPlan
from rms import access
from rms import selectors as rms_selectors
from rms.forms import attach_errors
from rms.models import Patient
from rms.presenters import PatientPresenter
from rms.web import is_htmx as _is_htmx
from rms.web import signed_in_user as _actor

PANEL_TEMPLATE = "careplans/patient_plans.html"
PAGE_TEMPLATE = "panel_page.html"
DETAIL_TEMPLATE = "careplans/plan_detail.html"

STATUS_VERBS = {
    # verb: (button, button classes, success message)
    "pause": ("Pause plan", "btn-outline-secondary", "The plan is paused."),
    "resume": ("Resume plan", "btn-outline-primary", "The plan is active again."),
    "end": ("End plan", "btn-outline-danger", "The plan has ended."),
}


def _open_for_write(request: HttpRequest, public_id: uuid.UUID, action: str) -> Patient:
    return access.patient_for_write(
        request=request,
        public_id=public_id,
        action=action,
    )


def _plan_of(patient: Patient, plan_id: uuid.UUID) -> FollowUpPlan:
    plan = selectors.plan_get(patient=patient, public_id=plan_id)
    if plan is None:
        raise Http404("No such plan for this patient.")
    return plan


def _panel_url(patient: Patient) -> str:
    return reverse("careplans:patient_plans", args=[patient.public_id])


def _detail_url(patient: Patient, plan: FollowUpPlan) -> str:
    return reverse("careplans:plan_detail", args=[patient.public_id, plan.public_id])


def _plan_url(patient: Patient, plan: FollowUpPlan, name: str) -> str:
    return reverse(f"careplans:{name}", args=[patient.public_id, plan.public_id])


def _header(patient: Patient) -> PatientPresenter:
    return PatientPresenter(patient, today=timezone.localdate(), teams=())


# --- the patient's plans panel -------------------------------------------------------------


def _render_panel(
    request: HttpRequest, patient: Patient, start_form: PlanStartForm | None = None
) -> HttpResponse:
    today = timezone.localdate()
    can_write = rms_selectors.user_can_write(user=request.user, patient=patient)
    if can_write and start_form is None:
        start_form = PlanStartForm(action=reverse("careplans:plan_start", args=[patient.public_id]))
    context: dict[str, Any] = {
        "patient": _header(patient),
        "panel_id": PANEL_ID,
        "can_write": can_write,
        "plans": [
            PlanPresenter(plan, today=today) for plan in selectors.plan_list(patient=patient)
        ],
        "start_form": start_form if can_write else None,
        # A full page shows the messages in base.html; a swapped panel shows its own.
        "show_messages": _is_htmx(request),
    }
    if _is_htmx(request):
        return render(request, PANEL_TEMPLATE, context)
    return render(
        request,
        PAGE_TEMPLATE,
        {**context, "partial_template": PANEL_TEMPLATE, "page_title": "Follow-up plans"},
    )


@login_required
@never_cache
@require_GET
def patient_plans(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    patient = access.patient_for_request(request=request, public_id=public_id, action="plans")
    return _render_panel(request, patient)


@login_required
@never_cache
@require_POST
def plan_start(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    user = _actor(request)
    patient = _open_for_write(request, public_id, "plan_start")
    form = PlanStartForm(
        request.POST,
        action=reverse("careplans:plan_start", args=[patient.public_id]),
        born=patient.date_of_birth,
    )
    if form.is_valid():
        pathway = form.cleaned_data["pathway"]
        existing = selectors.plan_open(patient=patient, pathway=pathway)
        try:
            services.plan_start(
                patient=patient,
                pathway=pathway,
                anchor_date=form.cleaned_data["anchor_date"],
                actor=user,
            )
        except ValidationError as exc:
            attach_errors(form, exc)
        else:
            if existing is not None:
                messages.info(request, f"The patient already follows {pathway.name}.")
            else:
                messages.success(request, f"Follow-up plan started: {pathway.name}.")
                # A warning, not a refusal: the clinician may know better than the record.
                mismatch = services.pathway_mismatch(patient=patient, pathway=pathway)
                if mismatch:
                    messages.warning(request, mismatch)
            if _is_htmx(request):
                return _render_panel(request, patient)
            return redirect(_panel_url(patient))
    return _render_panel(request, patient, start_form=form)


# --- one plan's page -----------------------------------------------------------------------


def _status_forms(patient: Patient, plan: FollowUpPlan) -> list[PlanStatusForm]:
    verbs = ["pause"] if plan.status == FollowUpPlan.Status.ACTIVE else ["resume"]
    verbs.append("end")
    result = []
    for verb in verbs:
        button, css, _ = STATUS_VERBS[verb]
        result.append(
            PlanStatusForm(
                action=_plan_url(patient, plan, f"plan_{verb}"),
                button=button,
                css=css,
                prefix=verb,
            )
        )
    return result


def _render_detail(
    request: HttpRequest,
    patient: Patient,
    plan: FollowUpPlan,
    bound: dict[str, forms.Form] | None = None,
) -> HttpResponse:
    bound = bound or {}
    today = timezone.localdate()
    presenter = PlanPresenter(plan, today=today)
    editable = presenter.is_open and rms_selectors.user_can_write(
        user=request.user, patient=patient
    )
    steps: list[tuple[StepPresenter, forms.Form | None]] = []
    rules: list[tuple[RulePresenter, forms.Form | None]] = []
    step_rows = selectors.step_list(plan=plan)
    for step in plan.schedule.all():
        form: forms.Form | None = None
        if editable:
            form = bound.get(f"step-{step.pk}") or IntervalForm(
                action=_plan_url(patient, plan, "plan_interval"),
                steps=step_rows,
                initial={"step": step.pk, "every_months": step.every_months},
                auto_id=f"step-{step.pk}-%s",
            )
        steps.append((StepPresenter(step), form))
    for rule in plan.rules.all():
        form = None
        if editable:
            form = bound.get(f"rule-{rule.pk}") or RuleParamsForm(
                action=_plan_url(patient, plan, "plan_rule"),
                rule=rule,
                auto_id=f"rule-{rule.pk}-%s",
            )
        rules.append((RulePresenter(rule), form))
    status_forms: list[forms.Form] = []
    add_test_form: forms.Form | None = None
    event_form: forms.Form | None = None
    if editable:
        status_forms = [
            bound.get(f"status-{form.prefix}") or form for form in _status_forms(patient, plan)
        ]
        add_test_form = bound.get("add_test") or AddTestForm(
            action=_plan_url(patient, plan, "plan_add_test"), auto_id="add-test-%s"
        )
        event_form = bound.get("event") or TreatmentEventForm(
            action=_plan_url(patient, plan, "plan_event"), auto_id="event-%s"
        )
    return render(
        request,
        DETAIL_TEMPLATE,
        {
            "patient": _header(patient),
            "plan": presenter,
            "editable": editable,
            "tests": presenter.tests,
            "steps": steps,
            "rules": rules,
            "status_forms": status_forms,
            "add_test_form": add_test_form,
            "event_form": event_form,
            "events": list(plan.events.all()),
            "changes": [ChangePresenter(c) for c in selectors.plan_change_list(plan=plan)],
            "panel_url": _panel_url(patient),
        },
    )


@login_required
@never_cache
@require_GET
def plan_detail(request: HttpRequest, public_id: uuid.UUID, plan_id: uuid.UUID) -> HttpResponse:
    patient = access.patient_for_request(request=request, public_id=public_id, action="plan")
    return _render_detail(request, patient, _plan_of(patient, plan_id))


def _refused(request: HttpRequest, error: ValidationError | PermissionDenied) -> None:
    if isinstance(error, ValidationError):
        text = " ".join(error.messages)
    else:
        text = str(error) or "You cannot do this for this patient."
    messages.error(request, text)


@login_required
@never_cache
@require_POST
def plan_status(
    request: HttpRequest, public_id: uuid.UUID, plan_id: uuid.UUID, verb: str
) -> HttpResponse:
    """Pause, resume or end the plan (``verb``), with the reason given."""
    user = _actor(request)
    patient = _open_for_write(request, public_id, f"plan_{verb}")
    plan = _plan_of(patient, plan_id)
    button, css, done = STATUS_VERBS[verb]
    form = PlanStatusForm(
        request.POST,
        action=_plan_url(patient, plan, f"plan_{verb}"),
        button=button,
        css=css,
        prefix=verb,
    )
    if form.is_valid():
        service = {
            "pause": services.plan_pause,
            "resume": services.plan_resume,
            "end": services.plan_end,
        }[verb]
        try:
            service(plan=plan, actor=user, reason=form.cleaned_data["reason"])
        except ValidationError as exc:
            if "reason" in getattr(exc, "error_dict", {}):
                attach_errors(form, exc)
            else:
                _refused(request, exc)
                return redirect(_detail_url(patient, plan))
        else:
            messages.success(request, done)
            return redirect(_detail_url(patient, plan))
    return _render_detail(request, patient, plan, {f"status-{verb}": form})


@login_required
@never_cache
@require_POST
def plan_interval(request: HttpRequest, public_id: uuid.UUID, plan_id: uuid.UUID) -> HttpResponse:
    user = _actor(request)
    patient = _open_for_write(request, public_id, "plan_interval")
    plan = _plan_of(patient, plan_id)
    form = IntervalForm(
        request.POST,
        action=_plan_url(patient, plan, "plan_interval"),
        steps=selectors.step_list(plan=plan),
    )
    step = selectors.step_get(plan=plan, step_id=request.POST.get("step", ""))
    if step is None:
        messages.error(request, "That schedule step is not part of this plan.")
        return redirect(_detail_url(patient, plan))
    form.auto_id = f"step-{step.pk}-%s"
    if form.is_valid():
        try:
            services.plan_set_interval(
                plan=plan,
                step=step,
                every_months=form.cleaned_data["every_months"],
                actor=user,
                reason=form.cleaned_data["reason"],
            )
        except ValidationError as exc:
            attach_errors(form, exc)
        else:
            messages.success(request, f"{step.test_name}: the interval is changed.")
            return redirect(_detail_url(patient, plan))
    return _render_detail(request, patient, plan, {f"step-{step.pk}": form})


@login_required
@never_cache
@require_POST
def plan_rule(request: HttpRequest, public_id: uuid.UUID, plan_id: uuid.UUID) -> HttpResponse:
    user = _actor(request)
    patient = _open_for_write(request, public_id, "plan_rule")
    plan = _plan_of(patient, plan_id)
    rule = selectors.rule_get(plan=plan, rule_id=request.POST.get("rule", ""))
    if rule is None:
        messages.error(request, "That rule is not part of this plan.")
        return redirect(_detail_url(patient, plan))
    form = RuleParamsForm(
        request.POST,
        action=_plan_url(patient, plan, "plan_rule"),
        rule=rule,
        auto_id=f"rule-{rule.pk}-%s",
    )
    if form.is_valid():
        try:
            services.plan_set_rule_params(
                plan=plan,
                rule=rule,
                params=form.params(),
                actor=user,
                reason=form.cleaned_data["reason"],
            )
        except ValidationError as exc:
            _attach_rule_errors(form, exc)
        else:
            messages.success(request, f"{rule.name}: the rule is changed.")
            return redirect(_detail_url(patient, plan))
    return _render_detail(request, patient, plan, {f"rule-{rule.pk}": form})


def _attach_rule_errors(form: RuleParamsForm, error: ValidationError) -> None:
    """A bad rule value is shown on the field of the parameter it names (the error's code)."""
    if not hasattr(error, "error_dict"):
        form.add_error(None, error)
        return
    for key, errors in error.error_dict.items():
        for item in errors:
            field = form.field_name(item.code or "") if key == "params" else key
            form.add_error(field if field in form.fields else None, item.messages)


def _plan_form_post(
    request: HttpRequest,
    public_id: uuid.UUID,
    plan_id: uuid.UUID,
    *,
    action: str,
    form_class: type[forms.Form],
    prefix: str,
    bound: str,
    save: Callable[[FollowUpPlan, User, dict[str, Any]], str],
) -> HttpResponse:
    """A form on the plan page posted: checked, saved by ``save`` (which returns the message to
    show), back to the plan; or the page again with the form's errors."""
    user = _actor(request)
    patient = _open_for_write(request, public_id, action)
    plan = _plan_of(patient, plan_id)
    form = form_class(  # type: ignore[call-arg]
        request.POST, action=_plan_url(patient, plan, action), auto_id=f"{prefix}-%s"
    )
    if form.is_valid():
        try:
            message = save(plan, user, form.cleaned_data)
        except ValidationError as exc:
            attach_errors(form, exc)
        else:
            messages.success(request, message)
            return redirect(_detail_url(patient, plan))
    return _render_detail(request, patient, plan, {bound: form})


@login_required
@never_cache
@require_POST
def plan_add_test(request: HttpRequest, public_id: uuid.UUID, plan_id: uuid.UUID) -> HttpResponse:
    def save(plan: FollowUpPlan, user: User, data: dict[str, Any]) -> str:
        plan_test = services.plan_add_test(
            plan=plan,
            test_code=data["test_code"],
            test_name=data["test_name"],
            every_months=data["every_months"],
            actor=user,
            reason=data["reason"],
        )
        return f"{plan_test.test_name} added to the plan."

    return _plan_form_post(
        request,
        public_id,
        plan_id,
        action="plan_add_test",
        form_class=AddTestForm,
        prefix="add-test",
        bound="add_test",
        save=save,
    )


@login_required
@never_cache
@require_POST
def plan_event(request: HttpRequest, public_id: uuid.UUID, plan_id: uuid.UUID) -> HttpResponse:
    """Record a treatment given after the anchor: a new episode for the plan's rules."""

    def save(plan: FollowUpPlan, user: User, data: dict[str, Any]) -> str:
        event = services.plan_record_event(
            plan=plan, kind=data["kind"], on=data["on"], actor=user, reason=data["reason"]
        )
        return f"{event.get_kind_display()} recorded: a new episode."

    return _plan_form_post(
        request,
        public_id,
        plan_id,
        action="plan_event",
        form_class=TreatmentEventForm,
        prefix="event",
        bound="event",
        save=save,
    )
