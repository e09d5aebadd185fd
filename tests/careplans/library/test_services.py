"""Sharing the library with patients: one resource, packs at milestones (once), the letter and
its path to PKB, and the review reminder."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from careplans.followup import services as plan_services
from careplans.library import services as library
from careplans.models import Milestone, MilestoneReached, Resource, ResourceShare
from careplans.tasks import resource_review_reminders
from pkb_bridge import services as pkb_services
from pkb_bridge.models import OutboundMessage
from pkb_bridge.transport import PkbTransport
from rms.models import Document
from tests.careplans.library.helpers import pack, pathway, resource
from worklists.models import WorkItem

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media(settings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings.MEDIA_ROOT = tmp_path


def documents_sent(patient) -> list[OutboundMessage]:  # type: ignore[no-untyped-def]
    return list(OutboundMessage.objects.filter(patient=patient, kind=OutboundMessage.Kind.DOCUMENT))


def test_a_milestone_sends_its_pack_once_even_when_reached_again_and_a_plan_starts(
    patient, team, clinician, sandbox, django_capture_on_commit_callbacks
) -> None:
    pkb_services.enrolment_opt_in(
        attestation="Consented in clinic, paper form filed", patient=patient, actor=clinician
    )
    approved = resource(team)
    pack(team, [approved])
    path = pathway()

    for _ in range(2):
        library.milestone_reach(
            patient=patient, pathway=path, milestone=Milestone.REMOTE_FOLLOW_UP, actor=clinician
        )
    plan_services.plan_start(
        patient=patient,
        pathway=path,
        anchor_date=timezone.localdate() - dt.timedelta(days=30),
        actor=clinician,
    )

    assert MilestoneReached.objects.filter(patient=patient).count() == 1
    assert ResourceShare.objects.filter(patient=patient).count() == 1
    info = Document.objects.filter(patient=patient, document_number__startswith="RMS-INFO-")
    assert info.count() == 1
    assert len(documents_sent(patient)) == 1

    transport = PkbTransport(sandbox.url, "rms", "pw", connect_timeout_s=2.0, deadline_s=3.0)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            for _ in range(5):
                if not pkb_services.dispatch(transport=transport, budget_s=10):
                    break
    finally:
        transport.close()
    seen = sandbox.state.patient(patient.nhs_number)
    assert seen is not None
    assert len(seen["documents"]) == 1
    mdm = [m for m in sandbox.state.messages() if m["message_type"] == "MDM^T02"]
    assert len(mdm) == 1 and mdm[0]["ack_code"] == "AA"


def test_starting_a_plan_counts_as_discharge_to_remote_follow_up(patient, team, clinician) -> None:
    pack(team, [resource(team)])
    plan_services.plan_start(
        patient=patient,
        pathway=pathway(),
        anchor_date=timezone.localdate() - dt.timedelta(days=3),
        actor=clinician,
    )
    reached = MilestoneReached.objects.get(patient=patient)
    assert reached.milestone == Milestone.REMOTE_FOLLOW_UP
    assert reached.source == MilestoneReached.Source.PLAN_START
    assert reached.shares.count() == 1


def test_a_pack_shares_only_approved_current_resources_and_says_what_it_left_out(
    patient, team, clinician
) -> None:
    good = resource(team, title="Diet after surgery")
    draft = resource(team, title="Draft leaflet", status=Resource.Status.DRAFT)
    retired = resource(team, title="Old leaflet", status=Resource.Status.RETIRED)
    bundle = pack(team, [good, draft, retired])
    share, created = library.pack_share(patient=patient, pack=bundle, actor=clinician)
    assert created
    assert list(share.included.all()) == [good]
    assert "Draft leaflet" in share.note and "Old leaflet" in share.note
    assert share.document is not None
    assert "Diet after surgery" in share.document.content_html
    assert "Draft leaflet" not in share.document.content_html


def test_a_milestone_whose_pack_has_nothing_shareable_records_why(patient, team, clinician) -> None:
    pack(team, [resource(team, status=Resource.Status.DRAFT)])
    _, shares = library.milestone_reach(
        patient=patient, pathway=pathway(), milestone=Milestone.REMOTE_FOLLOW_UP, actor=clinician
    )
    assert len(shares) == 1
    assert shares[0].document is None
    assert "Nothing was sent" in shares[0].note
    assert not Document.objects.filter(patient=patient).exists()


@pytest.mark.parametrize(
    ("status", "review_in_days", "words"),
    [
        (Resource.Status.DRAFT, 100, "not been approved"),
        (Resource.Status.RETIRED, 100, "retired"),
        (Resource.Status.APPROVED, -1, "due for review"),
    ],
)
def test_an_unapproved_retired_or_out_of_review_resource_cannot_be_shared(
    patient, team, clinician, status, review_in_days, words
) -> None:
    item = resource(team, status=status, review_in_days=review_in_days)
    with pytest.raises(ValidationError) as raised:
        library.resource_share(patient=patient, resource=item, actor=clinician)
    assert words in str(raised.value.message_dict["resource"])
    assert not ResourceShare.objects.exists()
    assert not Document.objects.filter(patient=patient).exists()


def test_sharing_a_resource_records_who_what_and_an_escaped_letter_with_its_own_number(
    patient, team, clinician, settings
) -> None:
    settings.PKB_INFORMATION_DOCUMENT_TYPE = "CL"
    item = resource(
        team, title="<script>alert(1)</script> Fatigue", description="Rest & pace\n<b>yourself</b>"
    )
    first = library.resource_share(patient=patient, resource=item, actor=clinician)
    second = library.resource_share(patient=patient, resource=item, actor=clinician)
    assert first.shared_by == clinician and first.resource == item
    assert first.document is not None and second.document is not None
    assert first.document.document_number != second.document.document_number
    html = first.document.content_html
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "&lt;b&gt;yourself&lt;/b&gt;" in html and "Rest &amp; pace" in html
    assert 'href="https://www.nhs.uk/conditions/prostate-cancer/"' in html
    assert first.document.document_type == "CL"


def test_a_leaflet_goes_as_a_pdf_document_of_its_own(patient, team, clinician) -> None:
    item = resource(team, title="Pelvic floor exercises", leaflet=True)
    share = library.resource_share(patient=patient, resource=item, actor=clinician)
    pdfs = Document.objects.filter(patient=patient, content_type=Document.ContentType.PDF)
    assert pdfs.count() == 1
    assert bytes(pdfs.get().content_pdf).startswith(b"%PDF-")
    assert share.document is not None
    assert "Leaflet: Pelvic floor exercises" in share.document.content_html


def test_a_viewer_or_another_teams_clinician_cannot_share(
    patient, team, viewer, other_team_clinician
) -> None:
    item = resource(team)
    for actor in (viewer, other_team_clinician):
        with pytest.raises(PermissionDenied):
            library.resource_share(patient=patient, resource=item, actor=actor)


def test_another_teams_resource_cannot_be_shared(patient, other_team, clinician) -> None:
    with pytest.raises(ValidationError):
        library.resource_share(patient=patient, resource=resource(other_team), actor=clinician)


def test_the_review_reminder_is_raised_once_per_resource_and_review_date(
    team, team_admin, settings
) -> None:
    settings.RESOURCE_REVIEW_REMINDER_DAYS = 30
    soon = resource(team, title="Soon", review_in_days=10)
    resource(team, title="Later", review_in_days=90)
    assert resource_review_reminders() == 1
    assert resource_review_reminders() == 0
    item = WorkItem.objects.get(kind=WorkItem.Kind.RESOURCE_REVIEW)
    assert item.team == team and item.patient is None
    assert "Soon" in item.title
    soon.refresh_from_db()
    assert soon.review_reminder_raised_for == soon.review_date

    # Re-approved with a new date: the review is done (its item closes itself) and the next
    # reminder is for the new date.
    new_date = timezone.localdate() + dt.timedelta(days=20)
    library.resource_approve(resource=soon, review_date=new_date, actor=team_admin)
    item.refresh_from_db()
    assert (item.status, item.outcome) == (WorkItem.Status.DONE, "Reviewed")
    assert resource_review_reminders() == 1
    assert WorkItem.objects.filter(kind=WorkItem.Kind.RESOURCE_REVIEW).count() == 2
    newer = WorkItem.objects.get(kind=WorkItem.Kind.RESOURCE_REVIEW, status=WorkItem.Status.OPEN)
    assert new_date.isoformat() in newer.dedupe_key

    # Approving again with the same date changes nothing; retiring it closes the newer item.
    library.resource_approve(resource=soon, review_date=new_date, actor=team_admin)
    newer.refresh_from_db()
    assert newer.status == WorkItem.Status.OPEN
    library.resource_retire(resource=soon, actor=team_admin)
    newer.refresh_from_db()
    assert newer.status == WorkItem.Status.DONE


def test_no_reminder_for_a_retired_resource(team) -> None:
    resource(team, status=Resource.Status.RETIRED, review_in_days=5)
    assert library.review_reminders_raise() == 0


def test_the_reminder_days_come_from_the_setting(team, settings) -> None:
    resource(team, review_in_days=40)
    settings.RESOURCE_REVIEW_REMINDER_DAYS = 30
    assert library.review_reminders_raise() == 0
    with time_machine.travel(timezone.now() + dt.timedelta(days=15)):
        assert library.review_reminders_raise() == 1
