"""Writes of questionnaires: definitions, requests to patients, responses and their alerts.

A response is validated against its questionnaire, scored, stored and checked against the
questionnaire's alert rules in one transaction; when any rule fires, ONE work item
(``QUESTIONNAIRE_ALERT``) is raised for the response, at the highest priority of the rules that
fired, its explanation naming each score and answer that fired. The PKB bridge reads the
pending PKB requests (``pending_pkb_requests``), reports what happened to each
(``mark_request_sent`` / ``mark_request_failed``) and files what patients send back
(``record_response``, idempotent on PKB's id).
"""

from __future__ import annotations

import calendar
import datetime as dt
from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from careplans import signals
from careplans.models import (
    FollowUpPlan,
    PathwayQuestionnaire,
    Questionnaire,
    QuestionnaireRequest,
    QuestionnaireResponse,
)
from careplans.questionnaires import scoring as scoring_rules
from careplans.work_item_keys import QuestionnaireAlertKey
from rms import permissions
from rms import selectors as rms_selectors
from rms.models import Patient, Team
from rms.services import system_user
from worklists.models import WorkItem
from worklists.services import work_item_raise

Status = QuestionnaireRequest.Status
Channel = QuestionnaireRequest.Channel
Source = QuestionnaireResponse.Source


# ---------------------------------------------------------------------------
# Definitions
# ---------------------------------------------------------------------------
def validate_questionnaire_json(data: Any) -> None:
    """Check a FHIR R4 Questionnaire (dict or JSON text). Raises ValidationError with the
    field path and the problem. No side effects."""
    scoring_rules.validate_questionnaire_json(data)


def validate_scoring_json(scoring: Any, fhir: Any) -> None:
    """Check a scoring definition against its questionnaire. Raises ValidationError naming
    the score or rule at fault. No side effects."""
    definition = scoring_rules.validate_questionnaire_json(fhir)
    scoring_rules.validate_scoring(scoring, definition)


@transaction.atomic
def questionnaire_save(
    *,
    code: str,
    version: str,
    title: str,
    description: str,
    fhir: Any,
    scoring: Any,
    active: bool = True,
    pkb_questionnaire_id: str = "",
) -> Questionnaire:
    """Create or update (by code and version) a questionnaire after checking its FHIR JSON and
    its scoring. Safe to repeat with the same input."""
    definition = scoring_rules.validate_questionnaire_json(fhir)
    rules = scoring_rules.validate_scoring(scoring, definition)
    questionnaire, _ = Questionnaire.objects.update_or_create(
        code=code,
        version=version,
        defaults={
            "title": title,
            "description": description,
            "fhir": definition,
            "scoring": rules,
            "active": active,
            "pkb_questionnaire_id": pkb_questionnaire_id,
        },
    )
    return questionnaire


# ---------------------------------------------------------------------------
# Requests
# ---------------------------------------------------------------------------
def _writing_team(*, actor: User, patient: Patient) -> Team:
    return permissions.require_write(user=actor, patient=patient)


@transaction.atomic
def request_create(
    *,
    patient: Patient,
    questionnaire: Questionnaire,
    actor: User,
    channel: str = Channel.PKB,
    due_date: dt.date | None = None,
) -> QuestionnaireRequest:
    """A clinician asks the patient to complete a questionnaire. Channel ``pkb``: pending, for
    the PKB bridge to deliver; refused here, not failed later, when it could not be delivered
    (the patient not shared with PKB, the questionnaire without a PKB id, a due date in the
    past). Each call makes a new request."""
    team = _writing_team(actor=actor, patient=patient)
    if not questionnaire.active:
        raise ValidationError({"questionnaire": "This questionnaire is no longer in use."})
    if channel not in Channel.values:
        raise ValidationError({"channel": f"Unknown channel {channel!r}."})
    if channel == Channel.PKB:
        _check_deliverable(patient=patient, questionnaire=questionnaire, due_date=due_date)
    return QuestionnaireRequest.objects.create(
        patient=patient,
        team=team,
        questionnaire=questionnaire,
        channel=channel,
        requested_by=actor,
        due_date=due_date or timezone.localdate(),
    )


def _on_portal(field: str) -> Q:
    """A filter keeping the patients (``field``: the patient's id) a questionnaire can be
    sent to through the portal: the apps above answer ``careplans.signals.portal_patients``
    (the care plans import none of them)."""
    shared = Q(pk__in=[])
    for _, ids in signals.portal_patients.send(sender=QuestionnaireRequest):
        shared |= Q(**{f"{field}__in": ids})
    return shared


def _check_deliverable(
    *, patient: Patient, questionnaire: Questionnaire, due_date: dt.date | None
) -> None:
    """Raise ValidationError (by field) when PKB could not deliver this request."""
    errors: dict[str, str] = {}
    if not Patient.objects.filter(_on_portal("pk"), pk=patient.pk).exists():
        errors["patient"] = (
            "The patient is not shared with Patients Know Best, so a questionnaire cannot be "
            "sent to them there. Share them from the PKB panel first, or enter their answers "
            "from a phone call."
        )
    if not questionnaire.pkb_questionnaire_id:
        errors["questionnaire"] = (
            f"{questionnaire.title} cannot be sent through PKB yet: it has no PKB "
            "questionnaire id. An administrator sets it (Django admin, Questionnaires); until "
            "then, enter the patient's answers from a phone call."
        )
    if due_date is not None and due_date < timezone.localdate():
        errors["due_date"] = "The due date is in the past: choose today or a later date."
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def request_cancel(*, request: QuestionnaireRequest, actor: User) -> QuestionnaireRequest:
    """Cancel a request not yet completed. Cancelling a cancelled request is a no-op."""
    _writing_team(actor=actor, patient=request.patient)
    fresh = QuestionnaireRequest.objects.select_for_update().get(pk=request.pk)
    if fresh.status == Status.CANCELLED:
        return fresh
    if fresh.status == Status.COMPLETED:
        raise ValidationError("The patient has already completed this questionnaire.")
    fresh.status = Status.CANCELLED
    fresh.save(update_fields=["status"])
    return fresh


def pending_pkb_requests(limit: int = 100) -> QuerySet[QuestionnaireRequest]:
    """The requests waiting to be delivered to PKB, oldest first. Reads only."""
    return (
        QuestionnaireRequest.objects.filter(status=Status.PENDING, channel=Channel.PKB)
        .select_related("patient", "team", "questionnaire")
        .order_by("requested_at", "id")[:limit]
    )


@transaction.atomic
def mark_request_sent(request: QuestionnaireRequest, *, external_id: str) -> None:
    """PKB accepted the request under ``external_id``: pending → sent. A request already sent,
    completed or cancelled is left as it is (safe to repeat)."""
    fresh = QuestionnaireRequest.objects.select_for_update().get(pk=request.pk)
    if fresh.status not in (Status.PENDING, Status.FAILED):
        return
    fresh.status = Status.SENT
    fresh.sent_at = timezone.now()
    fresh.external_id = external_id
    fresh.attempts += 1
    fresh.last_error = ""
    fresh.save(update_fields=["status", "sent_at", "external_id", "attempts", "last_error"])
    _copy(request, fresh)


@transaction.atomic
def mark_request_failed(request: QuestionnaireRequest, *, error: str, permanent: bool) -> None:
    """A delivery attempt failed. Transient: the request stays pending for another attempt.
    Permanent: it is marked failed. Either way ``attempts`` grows and the error is kept."""
    fresh = QuestionnaireRequest.objects.select_for_update().get(pk=request.pk)
    if fresh.status != Status.PENDING:
        return
    fresh.attempts += 1
    fresh.last_error = error.strip()
    if permanent:
        fresh.status = Status.FAILED
    fresh.save(update_fields=["status", "attempts", "last_error"])
    _copy(request, fresh)


def _copy(target: QuestionnaireRequest, fresh: QuestionnaireRequest) -> None:
    if target is not fresh:
        for f in QuestionnaireRequest._meta.concrete_fields:
            setattr(target, f.attname, getattr(fresh, f.attname))


# ---------------------------------------------------------------------------
# Schedules
# ---------------------------------------------------------------------------
def _add_months(day: dt.date, months: int) -> dt.date:
    month0 = day.month - 1 + months
    year, month = day.year + month0 // 12, month0 % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def latest_due_date(step: PathwayQuestionnaire, anchor: dt.date, today: dt.date) -> dt.date | None:
    """The most recent due date of a schedule on or before ``today`` (None when the first is
    still ahead or the schedule ended before today). Pure."""
    first = _add_months(anchor, step.from_month)
    if first > today:
        return None
    if not step.every_months:
        return first
    months = step.from_month
    due = first
    while True:
        following = months + step.every_months
        if step.until_month is not None and following > step.until_month:
            return due
        candidate = _add_months(anchor, following)
        if candidate > today:
            return due
        months, due = following, candidate


def schedule_due_requests(*, today: dt.date | None = None) -> int:
    """Create the PKB requests the pathways' questionnaire schedules make due for each active
    plan of a patient shared with PKB: only the latest due date (a plan started late, or a
    patient shared late, does not get a backlog). A patient not shared is skipped, not sent a
    request PKB could not deliver: their latest due request is made on the first run after
    they are shared. Returns how many were created. Safe to repeat: one request per plan,
    questionnaire and due date."""
    day = today or timezone.localdate()
    steps: dict[int, list[PathwayQuestionnaire]] = {}
    for step in PathwayQuestionnaire.objects.filter(questionnaire__active=True).select_related(
        "questionnaire"
    ):
        steps.setdefault(step.pathway_id, []).append(step)
    if not steps:
        return 0
    plans = FollowUpPlan.objects.filter(
        _on_portal("patient_id"), status=FollowUpPlan.Status.ACTIVE, pathway_id__in=list(steps)
    ).select_related("patient", "team")
    wanted: list[tuple[FollowUpPlan, PathwayQuestionnaire, dt.date]] = []
    for plan in plans.iterator(chunk_size=500):
        for step in steps[plan.pathway_id]:
            due = latest_due_date(step, plan.anchor_date, day)
            if due is not None:
                wanted.append((plan, step, due))
    if not wanted:
        return 0
    existing = set(
        QuestionnaireRequest.objects.filter(
            plan_id__in={plan.pk for plan, _, _ in wanted}
        ).values_list("plan_id", "questionnaire_id", "due_date")
    )
    created = 0
    for plan, step, due in wanted:
        if (plan.pk, step.questionnaire_id, due) in existing:
            continue
        try:
            with transaction.atomic():
                QuestionnaireRequest.objects.create(
                    patient=plan.patient,
                    team=plan.team,
                    questionnaire=step.questionnaire,
                    plan=plan,
                    channel=Channel.PKB,
                    due_date=due,
                )
        except IntegrityError:
            continue  # another worker created it a moment ago
        created += 1
    return created


# ---------------------------------------------------------------------------
# Responses
# ---------------------------------------------------------------------------
def _authored(data: dict[str, Any]) -> dt.datetime:
    text = data.get("authored")
    if not text:
        return timezone.now()
    moment = parse_datetime(str(text))
    if moment is None:
        # A date alone is valid FHIR: noon local time that day.
        day = dt.date.fromisoformat(str(text)[:10])
        return timezone.make_aware(dt.datetime.combine(day, dt.time(12)))
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    return moment


def response_json_from_answers(
    *, questionnaire: Questionnaire, answers: dict[str, str], authored: dt.datetime | None = None
) -> dict[str, Any]:
    """A FHIR QuestionnaireResponse for answers given as ``{linkId: option code or value}``
    (what the clinician's phone form posts). Unanswered (blank) items are left out. Pure."""
    items = []
    for item in scoring_rules.items_of(questionnaire.fhir):
        given = (answers.get(item.link_id) or "").strip()
        if not given:
            continue
        raw_options = _raw_options(questionnaire.fhir, item.link_id)
        option = item.option(given)
        value: dict[str, Any]
        if raw_options and option is None:
            raise ValidationError({item.link_id: f"{given!r} is not one of the answers."})
        if option is not None and "valueCoding" in raw_options[0]:
            value = {"valueCoding": {"code": option.code, "display": option.display}}
        elif (option is not None and "valueInteger" in raw_options[0]) or item.type == "integer":
            try:
                value = {"valueInteger": int(given)}
            except ValueError:
                raise ValidationError({item.link_id: "Enter a whole number."}) from None
        elif item.type == "decimal":
            try:
                value = {"valueDecimal": float(given)}
            except ValueError:
                raise ValidationError({item.link_id: "Enter a number."}) from None
        else:
            value = {"valueString": given}
        items.append({"linkId": item.link_id, "text": item.text, "answer": [value]})
    return {
        "resourceType": "QuestionnaireResponse",
        "status": "completed",
        "questionnaire": questionnaire.fhir.get("url", f"Questionnaire/{questionnaire.code}"),
        "authored": (authored or timezone.now()).isoformat(),
        "item": items,
    }


def _raw_options(fhir: dict[str, Any], link_id: str) -> list[dict[str, Any]]:
    def walk(items: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
        for raw in items:
            if raw.get("linkId") == link_id:
                return list(raw.get("answerOption") or [])
            found = walk(raw.get("item") or [])
            if found is not None:
                return found
        return None

    return walk(fhir.get("item") or []) or []


def _response_team(
    *, patient: Patient, request: QuestionnaireRequest | None, actor: User | None, source: str
) -> Team | None:
    if request is not None:
        return request.team
    if source == Source.CLINICIAN and actor is not None:
        return _writing_team(actor=actor, patient=patient)
    return rms_selectors.patient_team_list(patient=patient).order_by("name", "id").first()


@transaction.atomic
def record_response(
    *,
    patient: Patient,
    questionnaire: Questionnaire,
    response_json: dict[str, Any],
    source: str,
    actor: User | None = None,
    request: QuestionnaireRequest | None = None,
    external_id: str = "",
) -> QuestionnaireResponse:
    """Validate, score and store a completed questionnaire; raise one work item when any of its
    alert rules fires; mark the request it answers completed. A response entered by a
    clinician needs a write role in the patient's team. Safe to repeat with the same
    ``external_id``: the response stored the first time is returned."""
    external_id = (external_id or "").strip()
    if external_id:
        existing = QuestionnaireResponse.objects.filter(external_id=external_id).first()
        if existing is not None:
            return existing
    if source not in Source.values:
        raise ValidationError({"source": f"Unknown source {source!r}."})
    if source == Source.CLINICIAN and actor is None:
        raise ValidationError({"actor": "A response entered by a clinician needs the clinician."})
    if request is not None:
        if request.patient_id != patient.pk or request.questionnaire_id != questionnaire.pk:
            raise ValidationError(
                {"request": "The request is for another patient or questionnaire."}
            )
        if request.status == Status.CANCELLED:
            raise ValidationError({"request": "The request was cancelled."})
    answers = scoring_rules.validate_response_json(response_json, questionnaire.fhir)
    if not answers:
        raise ValidationError("The response answers no item.")
    team = _response_team(patient=patient, request=request, actor=actor, source=source)
    scores = scoring_rules.compute_scores(questionnaire.scoring, answers)
    fired = scoring_rules.evaluate_alerts(
        questionnaire.scoring, scores, answers, title=questionnaire.title
    )
    response = QuestionnaireResponse(
        patient=patient,
        team=team,
        questionnaire=questionnaire,
        request=request,
        fhir=response_json,
        scores=scores,
        alerts=[
            {"label": f.label, "priority": f.priority, "reason": f.reason, **f.details}
            for f in fired
        ],
        source=source,
        entered_by=actor if source == Source.CLINICIAN else None,
        authored_at=_authored(response_json),
        external_id=external_id,
    )
    try:
        with transaction.atomic():
            response.save()
    except IntegrityError:
        # The same PKB response arrived twice at once: the other one is stored.
        existing = QuestionnaireResponse.objects.filter(external_id=external_id).first()
        if external_id and existing is not None:
            return existing
        raise
    if request is not None and request.status != Status.COMPLETED:
        QuestionnaireRequest.objects.filter(pk=request.pk).update(
            status=Status.COMPLETED, completed_at=timezone.now()
        )
        request.status = Status.COMPLETED
    if fired:
        _raise_alert(response=response, fired=fired, actor=actor)
    return response


def _raise_alert(
    *, response: QuestionnaireResponse, fired: list[scoring_rules.Fired], actor: User | None
) -> None:
    questionnaire = response.questionnaire
    priority = min(f.priority for f in fired)
    labels = "; ".join(dict.fromkeys(f.label for f in fired))
    who = (
        f"entered by {actor.get_full_name() or actor.get_username()}"
        if response.source == Source.CLINICIAN and actor is not None
        else "sent by the patient through PKB"
    )
    explanation = (
        f"{questionnaire.title} completed on {timezone.localtime(response.authored_at):%d %b %Y} "
        f"({who}): " + "; ".join(f.reason for f in fired) + f".\n\nAlerts: {labels}. "
        "Review the answers on the patient's questionnaires page and contact the patient."
    )
    work_item_raise(
        kind=WorkItem.Kind.QUESTIONNAIRE_ALERT,
        key=QuestionnaireAlertKey(response_public_id=response.public_id),
        title=f"{questionnaire.title}: {labels}",
        explanation=explanation,
        source=f"questionnaire_response:{response.pk}",
        actor=system_user() if actor is None else actor,
        patient=response.patient,
        team=response.team,
        priority=priority,
        waiting_since=response.authored_at,
        risk_of_self_harm=any(
            scoring_rules.is_self_harm_answer(questionnaire.code, f) for f in fired
        ),
        details={
            "questionnaire": questionnaire.code,
            "response": str(response.public_id),
            "fired": response.alerts,
            "scores": {k: v.get("value") for k, v in response.scores.items()},
        },
    )
