"""The resource library: a team's resources and their approval, sharing them with patients
(one resource, an information pack, and the packs a milestone of a pathway brings), their
pathway tags and the reminder that a resource is due for review.

The approval workflow. A resource is a draft until a team admin of its team approves it,
setting the date by which it must be reviewed again (in the future). Any member who writes
(clinician or team admin) creates and edits; a viewer only reads. Editing the content of an
approved resource sends it back to draft: what a patient receives must be what a team admin
approved. A retired resource is never shared again and cannot be edited (a new resource
replaces it). Who approved or retired, and when, is stored on the resource; every change is in
its audit log. Approving again or retiring closes the resource's "due for review" work items
in the same transaction. Each of these functions is keyword-only, runs in one transaction and
raises ``ValidationError`` keyed by field name; repeating a transition already made changes
nothing.

Sharing. What is shared is a letter (an ``rms.Document``, HTML, type
``PKB_INFORMATION_DOCUMENT_TYPE``) listing each resource's title, description and link, with
its own document number (TXA-12) per share. A PDF leaflet goes with it as a PDF document of its
own: the patient reads PKB from home, where a link into the Trust's network would not open, and
PKB keeps the copy the team approved. The PKB bridge sends the documents (MDM^T02) when the
patient is enrolled, under the team's publication policy; nothing here talks to PKB.

Only approved resources whose review date has not passed are shared (``share_refusal``). A
clinician sharing one resource that is not is refused with the reason; a pack shares those of
its resources that are, and says in its note which were left out (or why nothing was sent). A
pack is shared with a patient once: a unique constraint on patient and pack makes a repeated or
concurrent milestone a no-op.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import socket
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth.models import AnonymousUser, User
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.db.models import F, QuerySet
from django.utils import timezone
from django.utils.html import escape, format_html
from pypdf import PdfReader

from careplans.models import (
    InformationPack,
    Milestone,
    MilestoneReached,
    Pathway,
    PathwayResource,
    Resource,
    ResourceShare,
)
from careplans.models.followup import FollowUpPlan
from careplans.work_item_keys import ResourceReviewKey
from rms import permissions
from rms.models import Document, Patient, Team
from rms.services import system_user
from rms.services.results import DocumentInput, document_record
from worklists.models import WorkItem
from worklists.services import work_item_raise, work_items_close_by_cause

logger = logging.getLogger("careplans")

# --- the approval workflow -------------------------------------------------------------------

Status = Resource.Status
Kind = Resource.Kind

# What a patient reads: a change to any of these is a change to what was approved.
CONTENT_FIELDS = ("title", "kind", "url", "file", "description")
TITLE_MAX = 200
DESCRIPTION_MAX = 4000
# A review date further off than this is almost certainly a typing error.
MAX_REVIEW_YEARS = 5
PDF_MAGIC = b"%PDF-"

NOT_A_WRITER = "Only a clinician or team admin of the resource's team can change the library."
NOT_AN_ADMIN = "Only a team admin of the resource's team can approve or retire a resource."


def user_can_edit(*, user: User | AnonymousUser, team: Team) -> bool:
    """True when ``user`` is a clinician or team admin of ``team``."""
    return permissions.can_write_in_team(user=user, team_id=team.pk)


def user_can_approve(*, user: User | AnonymousUser, team: Team) -> bool:
    """True when ``user`` is a team admin of ``team``."""
    return permissions.is_team_admin(user=user, team_ids=[team.pk])


def resource_list(*, user: User | AnonymousUser) -> QuerySet[Resource]:
    """The resources of ``user``'s teams (any role), by title; others' do not exist."""
    if not user.is_authenticated:
        return Resource.objects.none()
    teams = permissions.member_teams(user=user).values("pk")
    return Resource.objects.filter(team_id__in=teams).select_related("team").order_by("title", "id")


def resource_get(*, user: User | AnonymousUser, public_id: uuid.UUID | str) -> Resource:
    """One resource of ``user``'s teams; ``Resource.DoesNotExist`` for anything else."""
    try:
        return resource_list(user=user).get(public_id=public_id)
    except (ValueError, ValidationError):
        raise Resource.DoesNotExist from None


def share_refusal(resource: Resource, *, today: dt.date | None = None) -> str | None:
    """Why ``resource`` may not be shared with a patient now, in words; None when it may."""
    today = today or timezone.localdate()
    if resource.status == Status.RETIRED:
        return f"'{resource.title}' has been retired and is no longer shared with patients."
    if resource.status != Status.APPROVED:
        return f"'{resource.title}' has not been approved by a team admin yet."
    if resource.review_date is not None and resource.review_date < today:
        return (
            f"'{resource.title}' was due for review on {resource.review_date:%d %b %Y}; "
            "a team admin must review and approve it again before it is shared."
        )
    return None


def link_refusal(url: str) -> str | None:
    """Why a link's host is refused, or None. Only hosts written as IP addresses (in any form
    a browser reads as one: 127.1, 0x7f000001, 2130706433, [::ffff:127.0.0.1]) and local
    names are checked: no DNS lookup here (a name's address is the patient's resolver's)."""
    try:
        host = (urlsplit(url).hostname or "").rstrip(".").lower()
    except ValueError:
        return "Give a whole web address, e.g. https://www.nhs.uk/..."
    if not host:
        return "Give a whole web address, e.g. https://www.nhs.uk/..."
    if host == "localhost" or host.endswith((".localhost", ".local", ".internal")):
        return "Give a public web address: this one names a computer on a local network."
    address = _ip_literal(host)
    if address is None:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if not address.is_global or address.is_multicast:
        return (
            "Give a public web address: this one is a private, loopback or link-local address "
            f"({address}), which a patient cannot open and which could reach our own network."
        )
    return None


def _ip_literal(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """``host`` as an IP address if it is written as one, else None."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    # The forms browsers also read as IPv4 (RFC 3986 does not, WHATWG URL does): fewer than
    # four parts, hexadecimal or octal parts, one 32-bit number. inet_aton reads the same.
    if all(part and part[0].isdigit() for part in host.split(".")):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def is_whole_pdf(upload: UploadedFile) -> bool:
    """Whether the whole upload reads as a PDF (pypdf): the header, the cross-reference
    table or stream, the trailer and every page. A file that only starts with %PDF- is not."""
    upload.seek(0)
    head = upload.read(len(PDF_MAGIC))
    upload.seek(0)
    if head != PDF_MAGIC:
        return False
    try:
        reader = PdfReader(upload, strict=True)
        pages = len(reader.pages)
        for page in reader.pages:
            page.get_contents()
    except Exception:
        return False
    finally:
        upload.seek(0)
    return pages > 0


@dataclass(frozen=True)
class ResourceInput:
    title: str
    kind: str
    url: str = ""
    description: str = ""
    # A new upload; None keeps the current file (on an edit) or means no file.
    file: UploadedFile | None = None


def _clean(data: ResourceInput, current: Resource | None) -> dict[str, object]:
    errors: dict[str, str] = {}
    title = " ".join((data.title or "").split())
    url = (data.url or "").strip()
    description = (data.description or "").strip()
    if not title:
        errors["title"] = "Give the resource a title patients will recognise."
    elif len(title) > TITLE_MAX:
        errors["title"] = f"Keep the title to {TITLE_MAX} characters."
    if len(description) > DESCRIPTION_MAX:
        errors["description"] = f"Keep the description to {DESCRIPTION_MAX} characters."
    if data.kind not in Kind.values:
        errors["kind"] = f"Unknown kind {data.kind!r}."
    # Only web addresses a patient's browser opens safely (no javascript:, no file:), on the
    # public internet (not this server, a cloud's metadata service or the Trust's network).
    if url and not url.lower().startswith(("https://", "http://")):
        errors["url"] = "Give a web address starting with https:// (or http://)."
    elif url and (refusal := link_refusal(url)):
        errors["url"] = refusal
    has_file = data.file is not None or bool(current is not None and current.file)
    if data.kind in (Kind.LINK, Kind.VIDEO) and not url:
        errors["url"] = "A web link or a video needs its web address."
    if data.kind == Kind.LEAFLET and not has_file:
        errors["file"] = "A leaflet needs its PDF file."
    if data.file is not None and not is_whole_pdf(data.file):
        errors["file"] = (
            "The leaflet must be a PDF file that opens (this one does not read as a PDF)."
        )
    if errors:
        raise ValidationError(errors)
    return {"title": title, "kind": data.kind, "url": url, "description": description}


@transaction.atomic
def resource_create(*, team: Team, data: ResourceInput, actor: User) -> Resource:
    """Add a draft resource to ``team``'s library. Not idempotent: each call adds one."""
    if not user_can_edit(user=actor, team=team):
        raise permissions.Refused(NOT_A_WRITER)
    values = _clean(data, None)
    resource = Resource(team=team, created_by=actor, status=Status.DRAFT, **values)
    if data.file is not None:
        resource.file = stored_as_random_name(data.file)
    resource.full_clean()
    resource.save()
    return resource


def stored_as_random_name(upload: UploadedFile) -> UploadedFile:
    """The upload under a random name: the file is served only through the library's view
    (which checks the user's teams), never by a guessable name under MEDIA_URL."""
    upload.name = f"{uuid.uuid4().hex}.pdf"
    return upload


def _lock(resource: Resource) -> Resource:
    # Two admins at once: the second waits, then sees the first one's change.
    locked = Resource.objects.select_for_update().get(pk=resource.pk)
    for field in Resource._meta.concrete_fields:
        setattr(resource, field.attname, getattr(locked, field.attname))
    return resource


def _back_to_draft(resource: Resource) -> None:
    resource.status = Status.DRAFT
    resource.approved_by = None
    resource.approved_at = None
    resource.review_date = None
    resource.review_reminder_raised_for = None


@transaction.atomic
def resource_update(*, resource: Resource, data: ResourceInput, actor: User) -> Resource:
    """Change a resource's content. An approved resource whose content changes goes back to
    draft (to be approved again); a retired one is refused. Same content again: no change."""
    if not user_can_edit(user=actor, team=resource.team):
        raise permissions.Refused(NOT_A_WRITER)
    resource = _lock(resource)
    if resource.status == Status.RETIRED:
        raise ValidationError(
            {"status": "A retired resource cannot be changed; add a new resource instead."}
        )
    values = _clean(data, resource)
    changed = [name for name, value in values.items() if getattr(resource, name) != value]
    if data.file is not None:
        resource.file = stored_as_random_name(data.file)
        changed.append("file")
    if not changed:
        return resource
    for name, value in values.items():
        setattr(resource, name, value)
    resource_content_changed(resource=resource)
    resource.full_clean()
    resource.save()
    return resource


def resource_content_changed(*, resource: Resource) -> bool:
    """Record, on the unsaved ``resource``, that its content changed: an approved resource
    goes back to draft. Returns True when it did. (Django admin calls this before saving.)"""
    if resource.status != Status.APPROVED:
        return False
    _back_to_draft(resource)
    return True


def _clean_review_date(review_date: object) -> dt.date:
    if isinstance(review_date, dt.datetime) or not isinstance(review_date, dt.date):
        raise ValidationError({"review_date": "Give the review date as a date."})
    today = timezone.localdate()
    if review_date <= today:
        raise ValidationError({"review_date": "The review date must be in the future."})
    if review_date > today.replace(year=today.year + MAX_REVIEW_YEARS):
        raise ValidationError(
            {"review_date": f"Review a resource at least every {MAX_REVIEW_YEARS} years."}
        )
    return review_date


@transaction.atomic
def resource_approve(*, resource: Resource, review_date: dt.date, actor: User) -> Resource:
    """Approve a draft (or re-approve an approved resource after its review, with a new review
    date) as a team admin of its team. Safe to repeat: the same date again changes nothing."""
    if not user_can_approve(user=actor, team=resource.team):
        raise permissions.Refused(NOT_AN_ADMIN)
    when = _clean_review_date(review_date)
    resource = _lock(resource)
    if resource.status == Status.RETIRED:
        raise ValidationError({"status": "A retired resource cannot be approved again."})
    if resource.status == Status.APPROVED and resource.review_date == when:
        return resource
    resource.status = Status.APPROVED
    resource.review_date = when
    resource.approved_by = actor
    resource.approved_at = timezone.now()
    resource.save(
        update_fields=["status", "review_date", "approved_by", "approved_at"],
    )
    resource_review_items_close(resource=resource, actor=actor)
    return resource


@transaction.atomic
def resource_retire(*, resource: Resource, actor: User) -> Resource:
    """Retire a resource for good, as a team admin of its team: it is never shared again.
    Safe to repeat: retiring a retired resource changes nothing."""
    if not user_can_approve(user=actor, team=resource.team):
        raise permissions.Refused(NOT_AN_ADMIN)
    resource = _lock(resource)
    if resource.status == Status.RETIRED:
        return resource
    resource.status = Status.RETIRED
    resource.retired_by = actor
    resource.retired_at = timezone.now()
    resource.save(update_fields=["status", "retired_by", "retired_at"])
    resource_review_items_close(resource=resource, actor=actor)
    return resource


@transaction.atomic
def resource_review_reminder_recorded(*, resource: Resource, review_date: dt.date) -> bool:
    """Record that the reminder for ``review_date`` was raised; False when it already was
    (so a second scan, or a concurrent one, raises nothing)."""
    updated = (
        Resource.objects.filter(pk=resource.pk, status=Status.APPROVED, review_date=review_date)
        .exclude(review_reminder_raised_for=review_date)
        .update(review_reminder_raised_for=review_date)
    )
    if updated:
        resource.review_reminder_raised_for = review_date
    return bool(updated)


def resources_due_for_review(*, until: dt.date) -> QuerySet[Resource]:
    """Approved resources whose review date is on or before ``until`` and whose reminder for
    that date has not been raised yet (the beat task's query; one indexed read)."""
    return (
        Resource.objects.filter(status=Status.APPROVED, review_date__lte=until)
        .exclude(review_reminder_raised_for=F("review_date"))
        .select_related("team")
        .order_by("review_date", "id")
    )


# --- sharing ---------------------------------------------------------------------------------

DOCUMENT_PREFIX = "RMS-INFO-"


def _writable_teams(actor: User, patient: Patient) -> list[Team]:
    return list(permissions.writable_teams(user=actor, patient=patient).order_by("name", "id"))


def _require_team(actor: User, patient: Patient, team: Team, field: str) -> None:
    if team.pk not in {t.pk for t in _writable_teams(actor, patient)}:
        raise ValidationError(
            {field: "Choose from the library of one of the patient's teams in which you write."}
        )


def _lock_patient(patient: Patient) -> None:
    # Serialise shares for one patient: two clicks (or a click and a plan start) at once.
    Patient.objects.select_for_update().filter(pk=patient.pk).first()


# --- the letter ------------------------------------------------------------------------------


def _author(actor: User) -> str:
    return (actor.get_full_name() or actor.get_username())[:200]


def _resource_html(resource: Resource, leaflet_titles: dict[int, str]) -> str:
    parts: list[str] = [format_html("<h2>{}</h2>", resource.title)]
    if resource.description:
        paragraphs = [p.strip() for p in resource.description.split("\n\n") if p.strip()]
        # Escaped first, then the line breaks: nothing the author typed becomes markup.
        parts.append("".join(f"<p>{escape(p)}</p>".replace("\n", "<br>") for p in paragraphs))
    if resource.url:
        label = "Watch the video" if resource.kind == Resource.Kind.VIDEO else "Open the link"
        parts.append(
            format_html('<p><a href="{}">{}</a>: {}</p>', resource.url, label, resource.url)
        )
    if resource.pk in leaflet_titles:
        parts.append(
            format_html(
                "<p>The leaflet is in your record as a separate document: {}.</p>",
                leaflet_titles[resource.pk],
            )
        )
    return "".join(parts)


def _letter_html(
    *,
    title: str,
    introduction: str,
    team: Team,
    resources: Sequence[Resource],
    leaflet_titles: dict[int, str],
) -> str:
    head = format_html("<h1>{}</h1><p>From {}.</p>", title, team.name)
    intro = format_html("<p>{}</p>", introduction) if introduction else ""
    body = "".join(_resource_html(resource, leaflet_titles) for resource in resources)
    return f"{head}{intro}{body}"


def _leaflet_pdf(resource: Resource) -> bytes | None:
    if resource.kind != Resource.Kind.LEAFLET or not resource.file:
        return None
    with resource.file.open("rb") as handle:
        data: bytes = handle.read()
    return data


def _send(
    *,
    share: ResourceShare,
    patient: Patient,
    team: Team,
    title: str,
    introduction: str,
    resources: Sequence[Resource],
    actor: User,
) -> Document:
    """Record the letter (and each leaflet as a PDF) for PKB; link the letter to the share."""
    number = f"{DOCUMENT_PREFIX}{share.public_id}"
    now = timezone.now()
    leaflet_titles: dict[int, str] = {}
    for index, resource in enumerate(resources, start=1):
        pdf = _leaflet_pdf(resource)
        if pdf is None:
            continue
        leaflet_title = f"Leaflet: {resource.title}"[:255]
        document_record(
            patient=patient,
            data=DocumentInput(
                document_number=f"{number}-{index}",
                document_type=settings.PKB_INFORMATION_DOCUMENT_TYPE,
                title=leaflet_title,
                authored_at=now,
                content_type=Document.ContentType.PDF,
                content_pdf=pdf,
                author=_author(actor),
            ),
            actor=actor,
        )
        leaflet_titles[resource.pk] = leaflet_title
    html = _letter_html(
        title=title,
        introduction=introduction,
        team=team,
        resources=resources,
        leaflet_titles=leaflet_titles,
    )
    document, _ = document_record(
        patient=patient,
        data=DocumentInput(
            document_number=number,
            document_type=settings.PKB_INFORMATION_DOCUMENT_TYPE,
            title=title[:255],
            authored_at=now,
            content_type=Document.ContentType.HTML,
            content_html=html,
            author=_author(actor),
        ),
        actor=actor,
    )
    share.document = document
    share.save(update_fields=["document"])
    return document


# --- sharing -------------------------------------------------------------------------------


@transaction.atomic
def resource_share(
    *, patient: Patient, resource: Resource, actor: User, today: dt.date | None = None
) -> ResourceShare:
    """Share one resource of one of the patient's teams with the patient: a share record and
    a letter for PKB. Refuses a resource that is not approved, is retired or is past its
    review date. Not idempotent: each call is a share (the clinician meant to send it again)."""
    permissions.require_write(user=actor, patient=patient)
    _require_team(actor, patient, resource.team, "resource")
    resource = Resource.objects.select_for_update().get(pk=resource.pk)
    refusal = share_refusal(resource, today=today)
    if refusal:
        raise ValidationError({"resource": refusal})
    _lock_patient(patient)
    share = ResourceShare.objects.create(
        patient=patient, team=resource.team, resource=resource, shared_by=actor
    )
    share.included.set([resource])
    _send(
        share=share,
        patient=patient,
        team=resource.team,
        title=f"Information from your care team: {resource.title}",
        introduction="",
        resources=[resource],
        actor=actor,
    )
    return share


def _shareable(
    pack: InformationPack, today: dt.date
) -> tuple[list[Resource], list[tuple[Resource, str]]]:
    ok: list[Resource] = []
    left_out: list[tuple[Resource, str]] = []
    for resource in pack.resources.order_by("title", "id"):
        refusal = share_refusal(resource, today=today)
        if refusal:
            left_out.append((resource, refusal))
        else:
            ok.append(resource)
    return ok, left_out


def _pack_share(
    *,
    patient: Patient,
    pack: InformationPack,
    actor: User,
    milestone: MilestoneReached | None,
    today: dt.date,
    refuse_empty: bool,
) -> tuple[ResourceShare, bool]:
    existing = ResourceShare.objects.filter(patient=patient, pack=pack).first()
    if existing is not None:
        return existing, False
    ok, left_out = _shareable(pack, today)
    if not ok and refuse_empty:
        reasons = " ".join(reason for _, reason in left_out)
        raise ValidationError(
            {
                "pack": f"Nothing in this pack can be shared now. {reasons}"
                if left_out
                else "This pack has no resources."
            }
        )
    if not ok:
        note = (
            "Nothing was sent: no resource of the pack is approved and within its review date. "
            + " ".join(reason for _, reason in left_out)
            if left_out
            else "Nothing was sent: the pack has no resources."
        )
    elif left_out:
        note = "Left out: " + " ".join(reason for _, reason in left_out)
    else:
        note = ""
    try:
        with transaction.atomic():
            share = ResourceShare.objects.create(
                patient=patient,
                team=pack.team,
                pack=pack,
                milestone=milestone,
                shared_by=actor,
                note=note,
            )
    except IntegrityError:
        # Another transaction shared the pack a moment ago: theirs is the share.
        existing = ResourceShare.objects.filter(patient=patient, pack=pack).first()
        if existing is None:
            raise
        return existing, False
    if ok:
        share.included.set(ok)
        _send(
            share=share,
            patient=patient,
            team=pack.team,
            title=f"Information from your care team: {pack.name}",
            introduction=pack.description,
            resources=ok,
            actor=actor,
        )
    else:
        logger.info("Information pack %s had nothing to send for share %s", pack.pk, share.pk)
    return share, True


@transaction.atomic
def pack_share(
    *, patient: Patient, pack: InformationPack, actor: User, today: dt.date | None = None
) -> tuple[ResourceShare, bool]:
    """Share an information pack of one of the patient's teams with the patient, once:
    ``(share, created)``; a pack already shared returns its share and sends nothing. Refuses
    a pack with nothing that can be shared now."""
    permissions.require_write(user=actor, patient=patient)
    _require_team(actor, patient, pack.team, "pack")
    if not pack.active:
        raise ValidationError({"pack": "This information pack is no longer in use."})
    _lock_patient(patient)
    return _pack_share(
        patient=patient,
        pack=pack,
        actor=actor,
        milestone=None,
        today=today or timezone.localdate(),
        refuse_empty=True,
    )


@transaction.atomic
def milestone_reach(
    *,
    patient: Patient,
    pathway: Pathway,
    milestone: str,
    actor: User,
    team: Team | None = None,
    source: str = MilestoneReached.Source.CLINICIAN,
) -> tuple[MilestoneReached, list[ResourceShare]]:
    """Record that the patient reached ``milestone`` of ``pathway`` with ``team`` (default:
    the first of the patient's teams the actor writes in), and share every active pack of that
    team for the pathway and milestone not yet shared with the patient. Safe to repeat: the
    milestone is recorded once and each pack shared once. Returns the new shares."""
    permissions.require_write(user=actor, patient=patient)
    if milestone not in Milestone.values:
        raise ValidationError({"milestone": f"Unknown milestone {milestone!r}."})
    if team is None:
        team = permissions.require_write(user=actor, patient=patient)
    else:
        _require_team(actor, patient, team, "team")
    _lock_patient(patient)
    reached = MilestoneReached.objects.filter(
        patient=patient, team=team, pathway=pathway, milestone=milestone
    ).first()
    if reached is None:
        try:
            with transaction.atomic():
                reached = MilestoneReached.objects.create(
                    patient=patient,
                    team=team,
                    pathway=pathway,
                    milestone=milestone,
                    source=source,
                    reached_by=actor,
                )
        except IntegrityError:
            reached = MilestoneReached.objects.get(
                patient=patient, team=team, pathway=pathway, milestone=milestone
            )
    packs = InformationPack.objects.filter(
        team=team, pathway=pathway, milestone=milestone, active=True
    ).order_by("name", "id")
    today = timezone.localdate()
    shares: list[ResourceShare] = []
    for pack in packs:
        share, created = _pack_share(
            patient=patient,
            pack=pack,
            actor=actor,
            milestone=reached,
            today=today,
            refuse_empty=False,
        )
        if created:
            shares.append(share)
    return reached, shares


def on_plan_started(*, plan: FollowUpPlan, actor: User) -> None:
    """A follow-up plan started: the patient is discharged to remote follow-up on its pathway
    with its team (called by ``plan_start`` in its transaction)."""
    milestone_reach(
        patient=plan.patient,
        pathway=plan.pathway,
        milestone=Milestone.REMOTE_FOLLOW_UP,
        actor=actor,
        team=plan.team,
        source=MilestoneReached.Source.PLAN_START,
    )


# --- the reminder ----------------------------------------------------------------------------


def review_reminders_raise(*, today: dt.date | None = None) -> int:
    """Raise a "resource due for review" work item for the team of every approved resource
    whose review date is within ``RESOURCE_REVIEW_REMINDER_DAYS``: once per resource and
    review date (recorded on the resource, and the item's dedupe key). Safe to repeat."""
    today = today or timezone.localdate()
    until = today + dt.timedelta(days=settings.RESOURCE_REVIEW_REMINDER_DAYS)
    actor = system_user()
    raised = 0
    for resource in resources_due_for_review(until=until):
        review_date = resource.review_date
        if review_date is None:  # approved rows always have one (a check constraint)
            continue
        with transaction.atomic():
            if not resource_review_reminder_recorded(resource=resource, review_date=review_date):
                continue
            _, created = work_item_raise(
                kind=WorkItem.Kind.RESOURCE_REVIEW,
                key=ResourceReviewKey(resource_pk=resource.pk, review_date=review_date),
                title=f"Review '{resource.title}'",
                explanation=(
                    f"The library resource '{resource.title}' is due for review on "
                    f"{review_date:%d %b %Y}. After that date it is no longer shared with "
                    "patients until a team admin reviews it and approves it again with a new "
                    "review date (or retires it)."
                ),
                source=f"resource:{resource.pk}",
                actor=actor,
                team=resource.team,
                priority=WorkItem.Priority.LOW,
                due_date=review_date,
                details={
                    "resource": str(resource.public_id),
                    "review_date": review_date.isoformat(),
                },
            )
            raised += int(created)
    return raised


# --- pathway tags ----------------------------------------------------------------------------


@transaction.atomic
def resource_tags_set(*, resource: Resource, pathways: Sequence[Pathway], actor: User) -> bool:
    """Tag ``resource`` with exactly ``pathways`` (by a clinician or team admin of its team).
    Tags say whom a resource is for; they do not change what a patient reads, so an approved
    resource stays approved. Returns True when the tags changed; safe to repeat."""
    if not user_can_edit(user=actor, team=resource.team):
        raise permissions.Refused(NOT_A_WRITER)
    wanted = {pathway.pk for pathway in pathways}
    current = set(
        PathwayResource.objects.filter(resource=resource).values_list("pathway_id", flat=True)
    )
    if wanted == current:
        return False
    PathwayResource.objects.filter(resource=resource).exclude(pathway_id__in=wanted).delete()
    for pathway_id in sorted(wanted - current):
        PathwayResource.objects.get_or_create(resource=resource, pathway_id=pathway_id)
    return True


@transaction.atomic
def resource_review_items_close(*, resource: Resource, actor: User) -> int:
    """A library resource was approved again with a new review date, or retired: close its
    open "due for review" items for any other review date ("Reviewed"). Returns how many this
    call closed; safe to repeat."""
    retired = resource.status == Resource.Status.RETIRED
    done = "retired" if retired else "approved again"
    current = ResourceReviewKey(resource_pk=resource.pk, review_date=resource.review_date)
    # Still due for the review date it has now (unless retired): still to do.
    keep = None if retired else WorkItem.objects.filter(dedupe_key=current.render()).first()
    return work_items_close_by_cause(
        cause=ResourceReviewKey.scope(resource.pk),
        kind=WorkItem.Kind.RESOURCE_REVIEW,
        keep=keep,
        actor=actor,
        outcome="Reviewed",
        note=f"{actor.get_full_name() or actor.get_username()} {done} the resource.",
    )
