"""The questionnaire pages: a patient's questionnaires panel (scores over time as a table and
charts, requests, send one through PKB), the answer form a clinician fills in during a phone
review, one response's answers, and the latest scores for the virtual review.

Every patient is opened with ``rms.access.patient_for_request`` (scoped, logged; another team's
patient is a 404); entering answers or sending a questionnaire needs a write role in one of the
patient's teams (a viewer gets a 403) and goes through ``careplans.questionnaires.services``.
"""

from __future__ import annotations

import datetime as dt
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
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from careplans.models import Questionnaire, QuestionnaireResponse
from careplans.questionnaires import selectors, services
from careplans.questionnaires.forms import AnswerForm, SendForm, field_name
from rms import access
from rms import selectors as rms_selectors
from rms.forms import attach_errors
from rms.models import Patient
from rms.presenters import PatientPresenter
from rms.web import is_htmx as _is_htmx
from rms.web import signed_in_user as _user

PANEL_TEMPLATE = "careplans/questionnaires/panel.html"
PAGE_TEMPLATE = "panel_page.html"
ENTER_TEMPLATE = "careplans/questionnaires/enter.html"
RESPONSE_TEMPLATE = "careplans/questionnaires/response.html"
LATEST_TEMPLATE = "careplans/questionnaires/latest.html"


def _open_for_write(request: HttpRequest, public_id: uuid.UUID, action: str) -> Patient:
    return access.patient_for_write(
        request=request,
        public_id=public_id,
        action=action,
    )


def _panel_context(
    request: HttpRequest, patient: Patient, send_form: SendForm | None = None
) -> dict[str, Any]:
    can_write = rms_selectors.user_can_write(user=_user(request), patient=patient)
    questionnaires = selectors.questionnaire_list()
    action = reverse("questionnaires:send", args=[patient.public_id])
    if can_write and send_form is None:
        send_form = SendForm(questionnaires=questionnaires, action=action)
    return {
        "patient": PatientPresenter(patient, today=timezone.localdate(), teams=()),
        "responses": list(selectors.response_list(patient=patient)[:50]),
        "requests": list(selectors.request_list(patient=patient)[:20]),
        "charts": selectors.score_charts(patient=patient),
        "questionnaires": list(questionnaires),
        "can_write": can_write,
        "send_form": send_form if can_write else None,
        "show_messages": _is_htmx(request),
    }


def _panel(request: HttpRequest, context: dict[str, Any], status: int = 200) -> HttpResponse:
    if _is_htmx(request):
        return render(request, PANEL_TEMPLATE, context, status=status)
    return render(
        request,
        PAGE_TEMPLATE,
        {
            **context,
            "partial_template": PANEL_TEMPLATE,
            "page_title": "Questionnaires",
            "with_charts": True,
        },
        status=status,
    )


@login_required
@never_cache
@require_GET
def patient_panel(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    patient = access.patient_for_request(
        request=request, public_id=public_id, action="questionnaires"
    )
    return _panel(request, _panel_context(request, patient))


@login_required
@require_POST
def send(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    patient = _open_for_write(request, public_id, "questionnaire_send")
    form = SendForm(
        request.POST,
        questionnaires=selectors.questionnaire_list(),
        action=reverse("questionnaires:send", args=[patient.public_id]),
    )
    if form.is_valid():
        try:
            services.request_create(
                patient=patient,
                questionnaire=form.cleaned_data["questionnaire"],
                actor=_user(request),
                due_date=form.cleaned_data.get("due_date"),
            )
        except ValidationError as exc:
            attach_errors(form, exc)
        else:
            messages.success(
                request,
                f"{form.cleaned_data['questionnaire'].title} will be sent to the patient "
                "through PKB.",
            )
            if not _is_htmx(request):
                return redirect("questionnaires:patient", public_id=patient.public_id)
            return _panel(request, _panel_context(request, patient))
    return _panel(request, _panel_context(request, patient, send_form=form), status=400)


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def enter(request: HttpRequest, public_id: uuid.UUID, code: str) -> HttpResponse:
    patient = _open_for_write(request, public_id, "questionnaire_enter")
    try:
        questionnaire = selectors.questionnaire_get(code=code)
    except Questionnaire.DoesNotExist:
        raise Http404("No such questionnaire.") from None
    action = reverse("questionnaires:enter", args=[patient.public_id, questionnaire.code])
    if request.method == "POST":
        form = AnswerForm(request.POST, questionnaire=questionnaire, action=action)
        if form.is_valid():
            day: dt.date = form.cleaned_data["authored_date"]
            now = timezone.localtime()
            authored = (
                now
                if day == now.date()
                else timezone.make_aware(dt.datetime.combine(day, dt.time(12)))
            )
            try:
                response = services.record_response(
                    patient=patient,
                    questionnaire=questionnaire,
                    response_json=services.response_json_from_answers(
                        questionnaire=questionnaire, answers=form.answers(), authored=authored
                    ),
                    source=QuestionnaireResponse.Source.CLINICIAN,
                    actor=_user(request),
                )
            except ValidationError as exc:
                _attach(form, exc)
            else:
                raised = " An alert was raised on the worklist." if response.alerts else ""
                messages.success(request, f"{questionnaire.title} answers saved.{raised}")
                return redirect("rms:patient_detail", public_id=patient.public_id)
    else:
        form = AnswerForm(
            questionnaire=questionnaire,
            action=action,
            initial={"authored_date": timezone.localdate()},
        )
    return render(
        request,
        ENTER_TEMPLATE,
        {
            "patient": PatientPresenter(patient, today=timezone.localdate(), teams=()),
            "questionnaire": questionnaire,
            "form": form,
        },
        status=400 if form.errors else 200,
    )


def _attach(form: AnswerForm, exc: ValidationError) -> None:
    if hasattr(exc, "error_dict"):
        for key, errors in exc.error_dict.items():
            name = field_name(key)
            form.add_error(name if name in form.fields else None, errors)
        return
    form.add_error(None, exc)


@login_required
@never_cache
@require_GET
def response_detail(
    request: HttpRequest, public_id: uuid.UUID, response_id: uuid.UUID
) -> HttpResponse:
    patient = access.patient_for_request(
        request=request, public_id=public_id, action="questionnaire_response"
    )
    try:
        response = selectors.response_get(patient=patient, public_id=response_id)
    except QuestionnaireResponse.DoesNotExist:
        raise Http404("No such response.") from None
    answers = {str(item.get("linkId")): item.get("answer") or [] for item in _flat(response.fhir)}
    from careplans.questionnaires import scoring

    rows = []
    for item in scoring.items_of(response.questionnaire.fhir):
        given = answers.get(item.link_id) or []
        shown = ""
        if given:
            value = given[0]
            if "valueCoding" in value:
                option = item.option(str(value["valueCoding"].get("code", "")))
                shown = option.display if option else str(value["valueCoding"].get("code"))
            else:
                shown = next((str(v) for k, v in value.items() if k.startswith("value")), "")
        rows.append({"link_id": item.link_id, "text": item.text, "answer": shown})
    return render(
        request,
        RESPONSE_TEMPLATE,
        {
            "patient": PatientPresenter(patient, today=timezone.localdate(), teams=()),
            "response": response,
            "rows": rows,
        },
    )


def _flat(fhir: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []

    def walk(items: list[dict[str, Any]]) -> None:
        for item in items:
            out.append(item)
            walk(item.get("item") or [])

    walk(fhir.get("item") or [])
    return out


@login_required
@never_cache
@require_GET
def latest(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    """The newest scores of each questionnaire, for the virtual review page."""
    patient = access.patient_for_request(
        request=request, public_id=public_id, action="questionnaires"
    )
    return render(
        request,
        LATEST_TEMPLATE,
        {
            "patient": PatientPresenter(patient, today=timezone.localdate(), teams=()),
            "latest": [
                (response, selectors.scores_in_words(response))
                for response in selectors.latest_scores(patient=patient)
            ],
        },
    )
