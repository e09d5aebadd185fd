"""The resource library's approval workflow: create and edit a team's resources, approve them
with a review date, retire them; and the one rule of what may be shared with a patient.

A resource is a draft until a team admin of its team approves it, setting the date by which it
must be reviewed again (in the future). Any member who writes (clinician or team admin) creates
and edits; a viewer only reads. Editing the content of an approved resource sends it back to
draft: what a patient receives must be what a team admin approved. A retired resource is never
shared again and cannot be edited (a new resource replaces it). Who approved or retired, and
when, is stored on the resource; every change is in its audit log.

Each function is keyword-only, runs in one transaction and raises ``ValidationError`` keyed by
field name; repeating a transition already made changes nothing.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import uuid
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.contrib.auth.models import AnonymousUser, User
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import F, QuerySet
from django.utils import timezone
from pypdf import PdfReader

from rms import permissions, signals
from rms.models import Resource, Team

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
    signals.resource_reviewed.send(sender=Resource, resource=resource, actor=actor)
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
    signals.resource_reviewed.send(sender=Resource, resource=resource, actor=actor)
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
