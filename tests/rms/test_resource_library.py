"""The resource library's approval workflow (rms.services.library)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.conf import settings as django_settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from rms.models import Document, Resource
from rms.services import library
from rms.services.library import ResourceInput

pytestmark = pytest.mark.django_db

LINK = ResourceInput(
    title="Prostate cancer: after surgery",
    kind=Resource.Kind.LINK,
    url="https://www.nhs.uk/conditions/prostate-cancer/",
    description="What to expect.",
)


@pytest.fixture(autouse=True)
def media(settings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings.MEDIA_ROOT = tmp_path


def in_days(days: int) -> dt.date:
    return timezone.localdate() + dt.timedelta(days=days)


def test_a_clinician_adds_a_draft(team, clinician) -> None:
    resource = library.resource_create(team=team, data=LINK, actor=clinician)
    assert resource.status == Resource.Status.DRAFT
    assert resource.created_by == clinician


def test_a_viewer_or_another_team_cannot_add(team, viewer, other_team_clinician) -> None:
    for actor in (viewer, other_team_clinician):
        with pytest.raises(PermissionDenied):
            library.resource_create(team=team, data=LINK, actor=actor)


def test_only_a_team_admin_of_the_team_approves(
    team, clinician, team_admin, viewer, other_team_clinician
) -> None:
    resource = library.resource_create(team=team, data=LINK, actor=clinician)
    for actor in (clinician, viewer, other_team_clinician):
        with pytest.raises(PermissionDenied):
            library.resource_approve(resource=resource, review_date=in_days(90), actor=actor)
    library.resource_approve(resource=resource, review_date=in_days(90), actor=team_admin)
    resource.refresh_from_db()
    assert resource.status == Resource.Status.APPROVED
    assert resource.approved_by == team_admin and resource.approved_at is not None
    assert resource.review_date == in_days(90)


@pytest.mark.parametrize("days", [0, -3, 365 * 6])
def test_the_review_date_must_be_in_the_future_and_not_too_far(team, team_admin, days) -> None:
    resource = library.resource_create(team=team, data=LINK, actor=team_admin)
    with pytest.raises(ValidationError) as raised:
        library.resource_approve(resource=resource, review_date=in_days(days), actor=team_admin)
    assert "review_date" in raised.value.message_dict


def test_editing_an_approved_resource_sends_it_back_to_draft(team, clinician, team_admin) -> None:
    resource = library.resource_create(team=team, data=LINK, actor=clinician)
    library.resource_approve(resource=resource, review_date=in_days(90), actor=team_admin)
    # The same content again changes nothing.
    library.resource_update(resource=resource, data=LINK, actor=clinician)
    resource.refresh_from_db()
    assert resource.status == Resource.Status.APPROVED
    changed = ResourceInput(**{**LINK.__dict__, "description": "What to expect, revised."})
    library.resource_update(resource=resource, data=changed, actor=clinician)
    resource.refresh_from_db()
    assert resource.status == Resource.Status.DRAFT
    assert resource.approved_by is None and resource.review_date is None


def test_a_retired_resource_cannot_be_edited_or_approved(team, team_admin) -> None:
    resource = library.resource_create(team=team, data=LINK, actor=team_admin)
    library.resource_retire(resource=resource, actor=team_admin)
    library.resource_retire(resource=resource, actor=team_admin)  # harmless again
    resource.refresh_from_db()
    assert resource.status == Resource.Status.RETIRED
    assert resource.retired_by == team_admin and resource.retired_at is not None
    with pytest.raises(ValidationError):
        library.resource_update(resource=resource, data=LINK, actor=team_admin)
    with pytest.raises(ValidationError):
        library.resource_approve(resource=resource, review_date=in_days(30), actor=team_admin)


def test_only_a_team_admin_retires(team, clinician) -> None:
    resource = library.resource_create(team=team, data=LINK, actor=clinician)
    with pytest.raises(PermissionDenied):
        library.resource_retire(resource=resource, actor=clinician)


def test_a_leaflet_must_be_a_pdf_and_a_link_a_web_address(team, clinician) -> None:
    not_pdf = SimpleUploadedFile("leaflet.pdf", b"<html>no</html>")
    with pytest.raises(ValidationError) as raised:
        library.resource_create(
            team=team,
            data=ResourceInput(title="Leaflet", kind=Resource.Kind.LEAFLET, file=not_pdf),
            actor=clinician,
        )
    assert "file" in raised.value.message_dict
    with pytest.raises(ValidationError) as raised:
        library.resource_create(
            team=team,
            data=ResourceInput(title="Bad", kind=Resource.Kind.LINK, url="javascript:alert(1)"),
            actor=clinician,
        )
    assert "url" in raised.value.message_dict
    pdf = SimpleUploadedFile("leaflet.pdf", b"%PDF-1.4 tiny")
    made = library.resource_create(
        team=team,
        data=ResourceInput(title="Leaflet", kind=Resource.Kind.LEAFLET, file=pdf),
        actor=clinician,
    )
    assert made.file


def test_share_refusal_names_the_reason(team, clinician, team_admin) -> None:
    resource = library.resource_create(team=team, data=LINK, actor=clinician)
    assert "not been approved" in (library.share_refusal(resource) or "")
    library.resource_approve(resource=resource, review_date=in_days(10), actor=team_admin)
    assert library.share_refusal(resource) is None
    assert "due for review" in (library.share_refusal(resource, today=in_days(11)) or "")


def test_a_resource_of_another_team_does_not_exist_for_the_user(
    team, other_team, clinician
) -> None:
    theirs = library.resource_create(team=other_team, data=LINK, actor=_admin_of(other_team))
    with pytest.raises(Resource.DoesNotExist):
        library.resource_get(user=clinician, public_id=theirs.public_id)


def _admin_of(team):  # type: ignore[no-untyped-def]
    from rms.models import Role
    from tests.factories import MembershipFactory, UserFactory

    user = UserFactory(username=f"admin-{team.code.lower()}")
    MembershipFactory(user=user, team=team, role=Role.TEAM_ADMIN)
    return user


def test_the_information_document_type_setting_offers_every_type_but_care_plans() -> None:
    allowed = set(Document.DocumentType.values) - {Document.DocumentType.CARE_PLAN}
    assert set(django_settings.PKB_INFORMATION_DOCUMENT_TYPES) == allowed
    assert django_settings.PKB_INFORMATION_DOCUMENT_TYPE == "CL"
    assert django_settings.RESOURCE_REVIEW_REMINDER_DAYS == 30
    beat = django_settings.CELERY_BEAT_SCHEDULE["library-review-reminders"]
    assert beat["task"] == "careplans.tasks.resource_review_reminders"


@pytest.mark.parametrize(
    ("name", "value"),
    [("PKB_INFORMATION_DOCUMENT_TYPE", "CP"), ("RESOURCE_REVIEW_REMINDER_DAYS", "soon")],
)
def test_a_bad_library_setting_stops_the_start_naming_it(name: str, value: str) -> None:
    from tests.rms.test_settings import run_manage

    result = run_manage("check", **{name: value})
    assert result.returncode != 0
    assert name in result.stderr
