"""Sharing the resource library with patients: one resource, an information pack, and the packs
a milestone of a pathway brings; the reminder that a resource is due for review.

What is shared is a letter (an ``rms.Document``, HTML, type ``PKB_INFORMATION_DOCUMENT_TYPE``)
listing each resource's title, description and link, with its own document number (TXA-12)
per share. A PDF leaflet goes with it as a PDF document of its own: the patient reads PKB from
home, where a link into the Trust's network would not open, and PKB keeps the copy the team
approved. The PKB bridge sends the documents (MDM^T02) when the patient is enrolled, under the
team's publication policy; nothing here talks to PKB.

Only approved resources whose review date has not passed are shared (``rms.services.library.
share_refusal``). A clinician sharing one resource that is not is refused with the reason; a
pack shares those of its resources that are, and says in its note which were left out (or
why nothing was sent). A pack is shared with a patient once: a unique constraint on patient
and pack makes a repeated or concurrent milestone a no-op.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.html import escape, format_html

from careplans.models import (
    InformationPack,
    Milestone,
    MilestoneReached,
    Pathway,
    PathwayResource,
    ResourceShare,
)
from careplans.models.followup import FollowUpPlan
from careplans.work_item_keys import ResourceReviewKey
from rms import permissions
from rms.models import Document, Patient, Resource, Team
from rms.services import library as rms_library
from rms.services import system_user
from rms.services.results import DocumentInput, document_record
from worklists.models import WorkItem
from worklists.services import work_item_raise, work_items_close_by_cause

logger = logging.getLogger("careplans")

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
    refusal = rms_library.share_refusal(resource, today=today)
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
        refusal = rms_library.share_refusal(resource, today=today)
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
    for resource in rms_library.resources_due_for_review(until=until):
        review_date = resource.review_date
        if review_date is None:  # approved rows always have one (a check constraint)
            continue
        with transaction.atomic():
            if not rms_library.resource_review_reminder_recorded(
                resource=resource, review_date=review_date
            ):
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
    if not rms_library.user_can_edit(user=actor, team=resource.team):
        raise permissions.Refused(rms_library.NOT_A_WRITER)
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
