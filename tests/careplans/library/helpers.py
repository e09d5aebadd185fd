"""Shared set-up of the resource library tests: resources in each state, a pack."""

from __future__ import annotations

import datetime as dt

from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from careplans.models import InformationPack, Milestone, Pathway, Resource
from rms.models import Team
from tests.factories import UserFactory

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def resource(
    team: Team,
    *,
    title: str = "Living with a PSA test",
    status: str = Resource.Status.APPROVED,
    kind: str = Resource.Kind.LINK,
    url: str = "https://www.nhs.uk/conditions/prostate-cancer/",
    description: str = "What a rising PSA means.",
    review_in_days: int = 200,
    leaflet: bool = False,
) -> Resource:
    approver = UserFactory(username=f"approver-{team.code.lower()}")
    item = Resource(team=team, title=title, kind=kind, url=url, description=description)
    if leaflet:
        item.kind = Resource.Kind.LEAFLET
        item.url = ""
        item.file = SimpleUploadedFile("leaflet.pdf", PDF, content_type="application/pdf")  # type: ignore[assignment]
    if status in (Resource.Status.APPROVED, Resource.Status.RETIRED):
        item.status = Resource.Status.APPROVED
        item.review_date = timezone.localdate() + dt.timedelta(days=review_in_days)
        item.approved_by = approver
        item.approved_at = timezone.now()
    if status == Resource.Status.RETIRED:
        item.status = Resource.Status.RETIRED
        item.retired_by = approver
        item.retired_at = timezone.now()
    item.save()
    return item


def pathway(code: str = "prostate-post-prostatectomy") -> Pathway:
    return Pathway.objects.get(code=code)


def pack(
    team: Team,
    resources: list[Resource],
    *,
    milestone: str = Milestone.REMOTE_FOLLOW_UP,
    name: str = "Remote follow-up pack",
    code: str = "prostate-post-prostatectomy",
) -> InformationPack:
    made = InformationPack.objects.create(
        team=team, name=name, pathway=pathway(code), milestone=milestone
    )
    made.resources.set(resources)
    return made
