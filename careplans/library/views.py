"""The resource library pages (list with filters, add, edit, approve, retire) and the patient's
resources panel (milestones reached, what was shared, share a resource or a pack, record a
milestone).

Resources are those of the user's teams: any other is a 404. Viewers read; clinicians and team
admins add and edit; only a team admin of the resource's team approves or retires (others get
a 403). The panel is loaded into the patient record by htmx and is also a page of its own; its
patient is opened with ``rms.access.patient_for_request``. A service's refusal is shown on the
form, never as a server error.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from careplans.followup import selectors
from careplans.library import selectors as reads
from careplans.library import services
from careplans.library.forms import (
    PANEL_ID,
    ApproveForm,
    MilestoneForm,
    ResourceForm,
    SharePackForm,
    ShareResourceForm,
)
from careplans.models import Milestone, Resource
from rms import access, permissions
from rms import selectors as rms_selectors
from rms.forms import attach_errors
from rms.models import Patient, Role
from rms.models.teams import WRITE_ROLES
from rms.presenters import PatientPresenter
from rms.web import is_htmx as _is_htmx
from rms.web import signed_in_user as _actor

logger = logging.getLogger("rms.security")

LIST_TEMPLATE = "careplans/library/resource_list.html"
FORM_TEMPLATE = "careplans/library/resource_form.html"
APPROVE_TEMPLATE = "careplans/library/resource_approve.html"
PANEL_TEMPLATE = "careplans/library/patient_panel.html"
PAGE_TEMPLATE = "panel_page.html"


def _resource(request: HttpRequest, resource_id: uuid.UUID) -> Resource:
    try:
        return services.resource_get(user=request.user, public_id=resource_id)
    except Resource.DoesNotExist:
        raise Http404("No such resource.") from None


def _list_url() -> str:
    return reverse("library:resource_list")


# --- the library ---------------------------------------------------------------------------


class ResourceRow:
    """One resource as the list shows it, with what the user may do to it."""

    def __init__(self, resource: Resource, *, role: str | None, today: Any) -> None:
        self.resource = resource
        self.public_id = resource.public_id
        self.title = resource.title
        self.kind = resource.get_kind_display()
        self.team = resource.team.name
        self.status = resource.get_status_display()
        self.status_code = resource.status
        self.review_date = resource.review_date
        self.review_overdue = bool(
            resource.status == Resource.Status.APPROVED
            and resource.review_date
            and resource.review_date < today
        )
        self.tags = [tag.pathway.name for tag in resource.pathway_tags.all()]
        self.link = resource.url or (
            reverse("library:resource_leaflet", args=[resource.public_id]) if resource.file else ""
        )
        open_ = resource.status != Resource.Status.RETIRED
        self.can_edit = open_ and role in WRITE_ROLES
        self.can_approve = open_ and role == Role.TEAM_ADMIN
        self.can_retire = self.can_approve


@login_required
@never_cache
@require_GET
def resource_list(request: HttpRequest) -> HttpResponse:
    user = _actor(request)
    status = request.GET.get("status", "")
    if status not in Resource.Status.values:
        status = ""
    tag = request.GET.get("tag", "").strip()
    today = timezone.localdate()
    resources = reads.resource_list(user=user, status=status, pathway_code=tag)
    # Team roles read once, not per row.
    roles: dict[int, str] = dict(user.memberships.values_list("team_id", "role"))
    rows = [ResourceRow(r, role=roles.get(r.team_id), today=today) for r in resources]
    return render(
        request,
        LIST_TEMPLATE,
        {
            "rows": rows,
            "statuses": Resource.Status.choices,
            "pathways": selectors.pathway_list(),
            "status": status,
            "tag": tag,
            "can_add": any(role in WRITE_ROLES for role in roles.values()),
        },
    )


def _write_teams(user: User) -> Any:
    return rms_selectors.team_list(user=user, roles=WRITE_ROLES).order_by("name")


@login_required
@never_cache
@require_GET
def resource_leaflet(request: HttpRequest, resource_id: uuid.UUID) -> FileResponse:
    """A leaflet's PDF, for a member of the resource's team (any role; another team's
    resource, or one with no file, is a 404). Served here, by the resource's id, never from
    MEDIA_URL by a file name; as a download the browser shows inline, under a name made
    from the title."""
    user = _actor(request)
    try:
        resource = services.resource_get(user=user, public_id=resource_id)
    except Resource.DoesNotExist:
        logger.info("Leaflet %s refused to user %s", resource_id, user.pk)
        raise Http404("No such resource.") from None
    if not resource.file:
        raise Http404("This resource has no leaflet.")
    logger.info("Leaflet %s served to user %s", resource.public_id, user.pk)
    name = f"{slugify(resource.title) or 'leaflet'}.pdf"
    response = FileResponse(
        resource.file.open("rb"), content_type="application/pdf", as_attachment=False, filename=name
    )
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def resource_create(request: HttpRequest) -> HttpResponse:
    user = _actor(request)
    teams = _write_teams(user)
    if not teams.exists():
        raise permissions.Refused("Viewers cannot add to the library.")
    action = reverse("library:resource_create")
    form = ResourceForm(
        request.POST or None, request.FILES or None, action=action, teams=teams, button="Add"
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            resource = services.resource_create(
                team=data["team"],
                data=form.resource_input(),
                actor=user,
            )
            services.resource_tags_set(resource=resource, pathways=data["pathways"], actor=user)
        except ValidationError as exc:
            attach_errors(form, exc)
        else:
            messages.success(request, f"Added to the library as a draft: {resource.title}.")
            return redirect(_list_url())
    return render(request, FORM_TEMPLATE, {"form": form, "heading": "Add a resource"})


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def resource_edit(request: HttpRequest, resource_id: uuid.UUID) -> HttpResponse:
    user = _actor(request)
    resource = _resource(request, resource_id)
    if not services.user_can_edit(user=user, team=resource.team):
        raise permissions.Refused("Viewers cannot change the library.")
    action = reverse("library:resource_edit", args=[resource.public_id])
    teams = _write_teams(user).filter(pk=resource.team_id)
    initial = {
        "team": resource.team,
        "title": resource.title,
        "kind": resource.kind,
        "url": resource.url,
        "description": resource.description,
        "pathways": reads.pathway_tags(resource=resource),
    }
    form = ResourceForm(
        request.POST or None,
        request.FILES or None,
        action=action,
        teams=teams,
        button="Save",
        initial=initial,
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        was_approved = resource.status == Resource.Status.APPROVED
        try:
            resource = services.resource_update(
                resource=resource,
                data=form.resource_input(),
                actor=user,
            )
            services.resource_tags_set(resource=resource, pathways=data["pathways"], actor=user)
        except ValidationError as exc:
            attach_errors(form, exc)
        else:
            if was_approved and resource.status == Resource.Status.DRAFT:
                messages.warning(
                    request,
                    f"Saved. {resource.title} is a draft again until a team admin "
                    "approves the change.",
                )
            else:
                messages.success(request, f"Saved: {resource.title}.")
            return redirect(_list_url())
    return render(
        request,
        FORM_TEMPLATE,
        {"form": form, "heading": f"Edit {resource.title}", "resource": resource},
    )


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def resource_approve(request: HttpRequest, resource_id: uuid.UUID) -> HttpResponse:
    user = _actor(request)
    resource = _resource(request, resource_id)
    if not services.user_can_approve(user=user, team=resource.team):
        raise permissions.Refused(services.NOT_AN_ADMIN)
    action = reverse("library:resource_approve", args=[resource.public_id])
    form = ApproveForm(request.POST or None, action=action)
    if request.method == "POST" and form.is_valid():
        try:
            services.resource_approve(
                resource=resource, review_date=form.cleaned_data["review_date"], actor=user
            )
        except ValidationError as exc:
            attach_errors(form, exc)
        else:
            messages.success(request, f"Approved: {resource.title}.")
            return redirect(_list_url())
    return render(request, APPROVE_TEMPLATE, {"form": form, "resource": resource})


@login_required
@never_cache
@require_POST
def resource_retire(request: HttpRequest, resource_id: uuid.UUID) -> HttpResponse:
    user = _actor(request)
    resource = _resource(request, resource_id)
    if not services.user_can_approve(user=user, team=resource.team):
        raise permissions.Refused(services.NOT_AN_ADMIN)
    services.resource_retire(resource=resource, actor=user)
    messages.success(request, f"Retired: {resource.title}. It is no longer shared.")
    return redirect(_list_url())


# --- the patient's resources panel ---------------------------------------------------------


def _open_for_write(request: HttpRequest, public_id: uuid.UUID, action: str) -> Patient:
    return access.patient_for_write(
        request=request,
        public_id=public_id,
        action=action,
    )


def _url(name: str, patient: Patient) -> str:
    return reverse(f"library:{name}", args=[patient.public_id])


def _share_form(request: HttpRequest, patient: Patient, data: Any = None) -> ShareResourceForm:
    offered = reads.shareable_resources(user=request.user, patient=patient)
    return ShareResourceForm(
        data,
        action=_url("share_resource", patient),
        resources=reads.team_resources(user=request.user, patient=patient),
        offered=offered.filter(review_date__gte=timezone.localdate()),
    )


def _render_panel(request: HttpRequest, patient: Patient, **bound: Any) -> HttpResponse:
    user = _actor(request)
    can_write = rms_selectors.user_can_write(user=user, patient=patient)
    context: dict[str, Any] = {
        "patient": PatientPresenter(patient, today=timezone.localdate(), teams=()),
        "panel_id": PANEL_ID,
        "can_write": can_write,
        "milestones": reads.milestone_list(patient=patient),
        "shares": reads.share_list(patient=patient),
        "show_messages": _is_htmx(request),
    }
    if can_write:
        context["share_form"] = bound.get("share_form") or _share_form(request, patient)
        context["pack_form"] = bound.get("pack_form") or SharePackForm(
            action=_url("share_pack", patient),
            packs=reads.pack_list(user=user, patient=patient),
        )
        context["milestone_form"] = bound.get("milestone_form") or MilestoneForm(
            action=_url("milestone", patient)
        )
    if _is_htmx(request):
        return render(request, PANEL_TEMPLATE, context)
    return render(
        request,
        PAGE_TEMPLATE,
        {**context, "partial_template": PANEL_TEMPLATE, "page_title": "Information and resources"},
    )


def _after_post(request: HttpRequest, patient: Patient) -> HttpResponse:
    if _is_htmx(request):
        return _render_panel(request, patient)
    return redirect(_url("patient_panel", patient))


@login_required
@never_cache
@require_GET
def patient_panel(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    patient = access.patient_for_request(request=request, public_id=public_id, action="resources")
    return _render_panel(request, patient)


@login_required
@never_cache
@require_POST
def share_resource(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    user = _actor(request)
    patient = _open_for_write(request, public_id, "resource_share")
    form = _share_form(request, patient, request.POST)
    if form.is_valid():
        try:
            share = services.resource_share(
                patient=patient, resource=form.cleaned_data["resource"], actor=user
            )
        except ValidationError as exc:
            attach_errors(form, exc)
        else:
            messages.success(request, f"Shared with the patient: {share.resource}.")
            return _after_post(request, patient)
    return _render_panel(request, patient, share_form=form)


@login_required
@never_cache
@require_POST
def share_pack(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    user = _actor(request)
    patient = _open_for_write(request, public_id, "resource_share")
    form = SharePackForm(
        request.POST,
        action=_url("share_pack", patient),
        packs=reads.pack_list(user=user, patient=patient),
    )
    if form.is_valid():
        pack = form.cleaned_data["pack"]
        try:
            _, created = services.pack_share(patient=patient, pack=pack, actor=user)
        except ValidationError as exc:
            attach_errors(form, exc)
        else:
            if created:
                messages.success(request, f"Shared with the patient: {pack.name}.")
            else:
                messages.info(request, f"{pack.name} was already shared with the patient.")
            return _after_post(request, patient)
    return _render_panel(request, patient, pack_form=form)


@login_required
@never_cache
@require_POST
def milestone(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    user = _actor(request)
    patient = _open_for_write(request, public_id, "milestone")
    form = MilestoneForm(request.POST, action=_url("milestone", patient))
    if form.is_valid():
        try:
            reached, shares = services.milestone_reach(
                patient=patient,
                pathway=form.cleaned_data["pathway"],
                milestone=form.cleaned_data["milestone"],
                actor=user,
            )
        except ValidationError as exc:
            attach_errors(form, exc)
        else:
            label = Milestone(reached.milestone).label
            sent = ", ".join(share.pack.name for share in shares if share.pack) or "no new pack"
            messages.success(request, f"Recorded: {label}. Shared: {sent}.")
            return _after_post(request, patient)
    return _render_panel(request, patient, milestone_form=form)
