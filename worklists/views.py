"""The worklist pages: the worklist with its actions (one item or the ticked ones), the
alert yield for team admins.

Items are read through ``worklists.selectors`` (and ``worklists.reads``, built on them): a
user sees the items of their own teams, and another team's item is a 404. Every change is a
call to a ``worklists.services`` function with the user as the actor, which records who did
what (a ``WorkItemEvent``). A viewer sees the list without buttons, and an action posted
anyway is a 403. A service's refusal (the item was closed meanwhile, a colleague who cannot
act) is shown in the item's row, never as a server error.

Each action posts with htmx and gets back the item's row, which replaces the old one; without
JavaScript the same form posts and the page redirects back to the list it came from.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from rms import access, permissions
from rms.web import is_htmx as _is_htmx
from rms.web import signed_in_user as _user
from worklists import reads, selectors, services
from worklists.forms import (
    BULK_ASSIGN_TO_ME,
    BULK_COMPLETE,
    BULK_DISMISS,
    PATIENT_ASSIGN,
    PATIENT_COMPLETE,
    PATIENT_REVIEW,
    AssignForm,
    BulkForm,
    CompleteForm,
    DismissForm,
    PatientActionForm,
    WorklistFilterForm,
    YieldPeriodForm,
)
from worklists.models import Outcome, WorkItem
from worklists.presenters import (
    PatientGroup,
    RowFeedback,
    WorkItemRow,
    YieldPresenter,
    kind_tabs,
    scope_tabs,
)

ITEMS_PER_PAGE = 50
PATIENTS_PER_PAGE = 50

ROW_TEMPLATE = "worklists/_row.html"
BULK_RESULT_TEMPLATE = "worklists/_bulk_result.html"
PATIENT_TEMPLATE = "worklists/_patient.html"
TABS_TEMPLATE = "worklists/_tabs.html"
# The event an action's answer raises on the page (HX-Trigger): the tabs fetch their counts.
WORKLIST_CHANGED = "worklist-changed"


def _list_url() -> str:
    return reverse("worklists:list")


def _next_url(request: HttpRequest) -> str:
    """Where a form without JavaScript returns to: the list it was posted from, if that is a
    page of this site, else the worklist."""
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return _list_url()


def _refusal_text(error: ValidationError | PermissionDenied) -> str:
    if isinstance(error, ValidationError):
        return " ".join(error.messages)
    return str(error) or "You cannot act on this work item."


def _form_errors(form: Any) -> str:
    return " ".join(str(e) for errors in form.errors.values() for e in errors)


# --- the worklist --------------------------------------------------------------------------


def _colleagues_for(
    item: WorkItem, user: User, teams: reads.MyTeams, by_team: dict[int, list[User]]
) -> list[User]:
    """Whom the item can be given to: its team's clinicians and admins. An item with no team
    is the administrators'; an active superuser can take it."""
    if item.team_id is None:
        return [user] if teams.may_act(item) else []
    return by_team.get(item.team_id, [])


def _rows(
    items: Sequence[WorkItem],
    *,
    user: User,
    teams: reads.MyTeams,
    outcomes: list[Outcome],
    feedback: dict[int, RowFeedback] | None = None,
    colleagues: dict[int, list[User]] | None = None,
) -> list[WorkItemRow]:
    """The rows of ``items`` with what each needs for its buttons: at most one query (the
    colleagues of all the rows' teams, once, unless the caller has them) for any number of
    rows."""
    today = timezone.localdate()
    if colleagues is None:
        actionable = {item.team_id for item in items if teams.may_act(item) and item.team_id}
        colleagues = reads.colleagues_by_team(team_ids=actionable) if actionable else {}
    labels = {o.code: o.label for o in outcomes}
    feedback = feedback or {}
    return [
        WorkItemRow(
            item,
            today=today,
            user=user,
            may_act=teams.may_act(item),
            colleagues=_colleagues_for(item, user, teams, colleagues),
            outcomes=outcomes,
            outcome_labels=labels,
            feedback=feedback.get(item.pk),
        )
        for item in items
    ]


def _filter_form(
    query: QueryDict, user: User, teams: reads.MyTeams, colleagues: dict[int, list[User]]
) -> WorklistFilterForm:
    """The worklist's filters read from ``query`` (an invalid one is dropped and said so)."""
    # Everyone who can hold an item in my teams: the assignee filter's choices.
    people = list({p.pk: p for team in colleagues.values() for p in team}.values())
    people.sort(key=lambda p: (p.last_name, p.first_name, p.username))
    form = WorklistFilterForm(query or None, teams=teams.teams, people=people)
    if form.is_bound:
        form.is_valid()
    return form


def _tabs_context(user: User, filters: reads.WorklistFilters) -> dict[str, Any]:
    counts = reads.kind_counts(user=user, filters=filters)
    return {
        "scope_tabs": scope_tabs(counts, scope=filters.scope, kind=filters.kind),
        "kind_tabs": kind_tabs(counts, scope=filters.scope, kind=filters.kind),
    }


def _groups(
    items_by_patient: dict[int | None, list[WorkItem]],
    *,
    user: User,
    teams: reads.MyTeams,
    outcomes: list[Outcome],
    colleagues: dict[int, list[User]],
    feedback: dict[int, RowFeedback] | None = None,
) -> list[PatientGroup]:
    groups = []
    for items in items_by_patient.values():
        if items:
            rows = _rows(
                items,
                user=user,
                teams=teams,
                outcomes=outcomes,
                colleagues=colleagues,
                feedback=feedback,
            )
            groups.append(PatientGroup(rows))
    return groups


@login_required
@never_cache
@require_GET
def worklist(request: HttpRequest) -> HttpResponse:
    """The worklist: by default one row per patient (their open items behind it, the most
    pressing first); ``?view=items`` one row per item."""
    user = _user(request)
    teams = reads.my_teams(user=user)
    # Everyone who can hold an item in my teams: the assignee filter's choices and, for the
    # teams I may act in, each row's "assign to" list. One query.
    colleagues = reads.colleagues_by_team(team_ids=[t.pk for t in teams.teams])
    form = _filter_form(request.GET, user, teams, colleagues)
    filters = form.filters()
    view = form.chosen_view()
    outcomes = reads.outcome_list()
    rows: list[WorkItemRow] = []
    groups: list[PatientGroup] = []
    if view == reads.BY_PATIENT:
        page = Paginator(
            reads.worklist_patients(user=user, filters=filters), PATIENTS_PER_PAGE
        ).get_page(request.GET.get("page"))
        patient_ids = [row["patient"] for row in page.object_list]
        access.patients_listed(
            request=request, patient_ids=[pk for pk in patient_ids if pk], action="worklist"
        )
        by_patient = reads.worklist_of_patients(user=user, filters=filters, patient_ids=patient_ids)
        groups = _groups(
            by_patient, user=user, teams=teams, outcomes=outcomes, colleagues=colleagues
        )
    else:
        page = Paginator(reads.worklist(user=user, filters=filters), ITEMS_PER_PAGE).get_page(
            request.GET.get("page")
        )
        items = list(page.object_list)
        access.patients_listed(
            request=request, patient_ids=[item.patient_id for item in items], action="worklist"
        )
        rows = _rows(items, user=user, teams=teams, outcomes=outcomes, colleagues=colleagues)
    next_url = request.get_full_path()
    can_act = teams.can_act_anywhere
    bulk_form = (
        BulkForm(
            outcomes=outcomes,
            action_url=reverse("worklists:bulk"),
            initial={"next": next_url},
        )
        if can_act and view == reads.BY_ITEM
        else None
    )
    return render(
        request,
        "worklists/worklist.html",
        {
            "filter_form": form,
            "filters": filters,
            "view": view,
            "by_patient": view == reads.BY_PATIENT,
            "tabs_query": request.GET.urlencode(),
            **_tabs_context(user, filters),
            "page": page,
            "rows": rows,
            "groups": groups,
            "can_act": can_act,
            "bulk_form": bulk_form,
            "next_url": next_url,
        },
    )


@login_required
@never_cache
@require_GET
def tabs(request: HttpRequest) -> HttpResponse:
    """The worklist's tabs and their counts for the filters in the query string: fetched
    again by the page after each action, so the counts follow without a reload."""
    user = _user(request)
    teams = reads.my_teams(user=user)
    colleagues = reads.colleagues_by_team(team_ids=[t.pk for t in teams.teams])
    form = _filter_form(request.GET, user, teams, colleagues)
    filters = form.filters()
    context = {
        "filters": filters,
        "view": form.chosen_view(),
        "tabs_query": request.GET.urlencode(),
        **_tabs_context(user, filters),
        "refresh": True,
    }
    return render(request, TABS_TEMPLATE, context)


def _changed(response: HttpResponse) -> HttpResponse:
    """Tell the page (htmx) that items changed: it fetches its tab counts again."""
    response["HX-Trigger"] = WORKLIST_CHANGED
    return response


def _item_for(request: HttpRequest, public_id: uuid.UUID) -> tuple[WorkItem, reads.MyTeams]:
    try:
        item = selectors.work_item_get(user=request.user, public_id=public_id)
    except WorkItem.DoesNotExist:
        raise Http404("No such work item.") from None
    return item, reads.my_teams(user=request.user)


def _render_row(
    request: HttpRequest,
    item: WorkItem,
    teams: reads.MyTeams,
    feedback: RowFeedback | None = None,
    *,
    status: int = 200,
) -> HttpResponse:
    # The row as the list shows it, from a fresh read (the service may have changed it).
    fresh = selectors.work_item_list(user=request.user).filter(pk=item.pk).first()
    if fresh is None:
        # No longer in the user's scope (they left the team meanwhile): the row goes.
        return HttpResponse("", status=status)
    item = fresh
    outcomes = reads.outcome_list()
    feedback_by_item = {item.pk: feedback} if feedback else None
    row = _rows(
        [item], user=_user(request), teams=teams, outcomes=outcomes, feedback=feedback_by_item
    )[0]
    context = {"row": row, "can_act": teams.can_act_anywhere, "next_url": _next_url(request)}
    return _changed(render(request, ROW_TEMPLATE, context, status=status))


def _act(
    request: HttpRequest,
    public_id: uuid.UUID,
    *,
    form_name: str,
    make_form: Callable[[WorkItem, reads.MyTeams], Any] | None,
    do: Callable[[WorkItem, User, Any], str],
) -> HttpResponse:
    """One action on one item: check the role, validate the form, call the service, and
    answer with the row (htmx) or a redirect back to the list (no JavaScript)."""
    user = _user(request)
    item, teams = _item_for(request, public_id)
    if not teams.may_act(item):
        # A viewer (or someone whose role changed since the page was drawn).
        refusal = RowFeedback(
            "Only a clinician or team admin of the item's team can act on it.", level="danger"
        )
        if _is_htmx(request):
            return _render_row(request, item, teams, refusal, status=403)
        raise permissions.Refused(refusal.message)
    form = make_form(item, teams) if make_form else None
    if form is not None and not form.is_valid():
        feedback = RowFeedback(
            _form_errors(form),
            level="danger",
            open_form=form_name,
            values={k: str(v) for k, v in request.POST.items()},
        )
    else:
        try:
            done = do(item, user, form)
        except (ValidationError, PermissionDenied) as exc:
            feedback = RowFeedback(_refusal_text(exc), level="danger")
        else:
            feedback = RowFeedback(done)
    if _is_htmx(request):
        return _render_row(request, item, teams, feedback)
    if feedback.level == "success":
        messages.success(request, f"{item.title}: {feedback.message}")
    else:
        messages.error(request, f"{item.title}: {feedback.message}")
    return redirect(_next_url(request))


@login_required
@never_cache
@require_POST
def item_assign(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    def make_form(item: WorkItem, teams: reads.MyTeams) -> AssignForm:
        by_team = reads.colleagues_by_team(team_ids=[item.team_id] if item.team_id else [])
        return AssignForm(
            request.POST, colleagues=_colleagues_for(item, _user(request), teams, by_team)
        )

    def do(item: WorkItem, user: User, form: AssignForm) -> str:
        assignee = form.chosen()
        services.work_item_assign(item=item, assignee=assignee, actor=user)
        if assignee is None:
            return "Unassigned."
        return "Assigned to you." if assignee.pk == user.pk else "Assigned."

    return _act(request, public_id, form_name="assign", make_form=make_form, do=do)


@login_required
@never_cache
@require_POST
def item_start(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    def do(item: WorkItem, user: User, form: None) -> str:
        services.work_item_start(item=item, actor=user)
        return "Started."

    return _act(request, public_id, form_name="start", make_form=None, do=do)


@login_required
@never_cache
@require_POST
def item_complete(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    def make_form(item: WorkItem, teams: reads.MyTeams) -> CompleteForm:
        return CompleteForm(request.POST, outcomes=reads.outcome_list())

    def do(item: WorkItem, user: User, form: CompleteForm) -> str:
        services.work_item_complete(
            item=item,
            actor=user,
            outcome=form.cleaned_data["outcome"],
            note=form.cleaned_data["note"],
        )
        return "Completed."

    return _act(request, public_id, form_name="complete", make_form=make_form, do=do)


@login_required
@never_cache
@require_POST
def item_dismiss(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    def make_form(item: WorkItem, teams: reads.MyTeams) -> DismissForm:
        return DismissForm(request.POST)

    def do(item: WorkItem, user: User, form: DismissForm) -> str:
        services.work_item_dismiss(item=item, actor=user, reason=form.cleaned_data["reason"])
        return "Dismissed."

    return _act(request, public_id, form_name="dismiss", make_form=make_form, do=do)


# --- bulk ----------------------------------------------------------------------------------

BULK_DONE = {
    BULK_ASSIGN_TO_ME: ("assigned to you", "Assigned to you."),
    BULK_COMPLETE: ("completed", "Completed."),
    BULK_DISMISS: ("dismissed", "Dismissed."),
}


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _each(
    wanted: Sequence[uuid.UUID],
    found: dict[uuid.UUID, WorkItem],
    teams: reads.MyTeams,
    do: Callable[[WorkItem], object],
) -> tuple[list[WorkItem], list[tuple[WorkItem, str]]]:
    """``do`` for each ticked item found, in the order ticked, one service call each (each
    its own transaction and event): the items done, and those refused with the reason."""
    done: list[WorkItem] = []
    refused: list[tuple[WorkItem, str]] = []
    for public_id in wanted:
        item = found.get(public_id)
        if item is None:
            continue
        if not teams.may_act(item):
            refused.append(
                (item, "only a clinician or team admin of the item's team can act on it.")
            )
            continue
        try:
            do(item)
        except (ValidationError, PermissionDenied) as exc:
            refused.append((item, _refusal_text(exc)))
        else:
            done.append(item)
    return done, refused


@login_required
@never_cache
@require_POST
def bulk(request: HttpRequest) -> HttpResponse:
    """The same action on every ticked item, one service call each (each its own transaction
    and event); an item refused is reported by name and the others still go ahead."""
    user = _user(request)
    teams = reads.my_teams(user=user)
    if not teams.can_act_anywhere:
        raise permissions.Refused("Viewers cannot act on work items.")
    outcomes = reads.outcome_list()
    form = BulkForm(request.POST, outcomes=outcomes, action_url=reverse("worklists:bulk"))
    done: list[WorkItem] = []
    refused: list[tuple[WorkItem, str]] = []
    missing = 0
    if form.is_valid():
        action = form.cleaned_data["action"]
        wanted = form.cleaned_data["items"]
        found = {
            item.public_id: item
            for item in selectors.work_item_list(user=user).filter(public_id__in=wanted)
        }
        missing = len(wanted) - len(found)

        def do(item: WorkItem) -> None:
            if action == BULK_ASSIGN_TO_ME:
                services.work_item_assign(item=item, assignee=user, actor=user)
            elif action == BULK_COMPLETE:
                services.work_item_complete(
                    item=item,
                    actor=user,
                    outcome=form.cleaned_data["outcome"],
                    note=form.cleaned_data["note"],
                )
            else:
                services.work_item_dismiss(
                    item=item, actor=user, reason=form.cleaned_data["reason"]
                )

        done, refused = _each(wanted, found, teams, do)
        verb, row_message = BULK_DONE[action]
        summary = f"{_plural(len(done), 'item')} {verb}." if done else f"No items {verb}."
    else:
        summary = _form_errors(form)
        row_message = ""
    problems = [f"{item.title}: {reason}" for item, reason in refused]
    if missing:
        problems.append(f"{_plural(missing, 'ticked item')} could not be found in your teams.")
    level = "success" if done and not problems else ("warning" if done else "danger")

    if not _is_htmx(request):
        for text in [summary, *problems]:
            messages.add_message(
                request, messages.SUCCESS if text == summary and done else messages.ERROR, text
            )
        return redirect(_next_url(request))

    feedback = {item.pk: RowFeedback(row_message) for item in done}
    feedback.update({item.pk: RowFeedback(reason, level="danger") for item, reason in refused})
    touched = [item.pk for item in done] + [item.pk for item, _ in refused]
    fresh = list(selectors.work_item_list(user=user).filter(pk__in=touched))
    rows = _rows(fresh, user=user, teams=teams, outcomes=outcomes, feedback=feedback)
    next_url = _next_url(request)
    html = render_to_string(
        BULK_RESULT_TEMPLATE,
        {
            "summary": summary,
            "problems": problems,
            "level": level,
            "rows": rows,
            "can_act": True,
            "next_url": next_url,
        },
        request=request,
    )
    return _changed(HttpResponse(html))


# --- a patient's items ---------------------------------------------------------------------

PATIENT_DONE = {
    PATIENT_REVIEW: "review started",
    PATIENT_ASSIGN: "assigned",
    PATIENT_COMPLETE: "completed",
}


@login_required
@never_cache
@require_POST
def patient_act(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    """One action on the ticked items of one patient (a row of the worklist by patient): one
    service call per item, each its own transaction and event, as in bulk. Only items of the
    user's teams are found (another team's patient is a 404); an item the user may not act on,
    or one the service refuses, is reported by name and the others still go ahead. htmx gets
    the patient's row back, with the tabs told to count again."""
    user = _user(request)
    teams = reads.my_teams(user=user)
    in_scope = selectors.work_item_list(user=user).filter(patient__public_id=public_id)
    if not in_scope.exists():
        raise Http404("No work items of this patient in your teams.")
    if not teams.can_act_anywhere:
        raise PermissionDenied("Viewers cannot act on work items.")
    team_ids = {item.team_id for item in in_scope if item.team_id and teams.may_act(item)}
    colleagues = reads.colleagues_by_team(team_ids=team_ids)
    outcomes = reads.outcome_list()
    form = PatientActionForm(
        request.POST,
        outcomes=outcomes,
        colleagues={p.pk: p for people in colleagues.values() for p in people}.values(),
    )
    done: list[WorkItem] = []
    refused: list[tuple[WorkItem, str]] = []
    if form.is_valid():
        action = form.cleaned_data["action"]
        wanted = form.cleaned_data["items"]
        found = {item.public_id: item for item in in_scope.filter(public_id__in=wanted)}

        def do(item: WorkItem) -> None:
            if action == PATIENT_REVIEW:
                services.work_item_start(item=item, actor=user)
            elif action == PATIENT_ASSIGN:
                services.work_item_assign(item=item, assignee=form.chosen(), actor=user)
            else:
                services.work_item_complete(
                    item=item,
                    actor=user,
                    outcome=form.cleaned_data["outcome"],
                    note=form.cleaned_data["note"],
                )

        done, refused = _each(wanted, found, teams, do)
        missing = len(wanted) - len(found)
        verb = PATIENT_DONE[action]
        summary = f"{_plural(len(done), 'item')} {verb}." if done else f"No items {verb}."
        problems = [f"{item.title}: {reason}" for item, reason in refused]
        if missing:
            problems.append(f"{_plural(missing, 'ticked item')} could not be found.")
    else:
        summary, problems = _form_errors(form), []
    level = "success" if done and not problems else ("warning" if done else "danger")
    message = " ".join([summary, *problems])

    if not _is_htmx(request):
        messages.add_message(
            request, messages.SUCCESS if level == "success" else messages.ERROR, message
        )
        return redirect(_next_url(request))

    # The patient's open items as they now stand, and the ones just closed (with what was
    # done), so the row says what happened.
    touched = [item.pk for item in done]
    fresh = list(
        selectors.work_item_list(user=user)
        .filter(patient__public_id=public_id)
        .filter(Q(status__in=WorkItem.ACTIVE) | Q(pk__in=touched))
    )
    groups = _groups(
        {None: fresh}, user=user, teams=teams, outcomes=outcomes, colleagues=colleagues
    )
    if not groups:
        # Nothing of the patient is left in the user's scope (they left the team meanwhile).
        return _changed(HttpResponse(""))
    group = groups[0]
    group.feedback = RowFeedback(message, level=level)
    context = {"group": group, "can_act": True, "next_url": _next_url(request), "open": True}
    return _changed(render(request, PATIENT_TEMPLATE, context))


# --- alert yield ---------------------------------------------------------------------------


@login_required
@never_cache
@require_GET
def alert_yield(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    teams = reads.my_teams(user=user)
    admin_teams = teams.admin_teams
    if not admin_teams:
        raise permissions.Refused("The alert yield is for team admins.")
    form = YieldPeriodForm(request.GET or None, today=timezone.localdate())
    start, end = form.period()
    report = YieldPresenter(reads.alert_yield(teams=admin_teams, start=start, end=end))
    return render(
        request,
        "worklists/yield.html",
        {
            "form": form,
            "report": report,
            "chart_data": report.chart_data(),
            "teams": admin_teams,
        },
    )
