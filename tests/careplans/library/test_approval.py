"""The resource library's approval workflow (careplans.library.services)."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.conf import settings as django_settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone
from pypdf import PdfWriter

from careplans.library import services as library
from careplans.library.services import ResourceInput
from careplans.models import Resource
from rms.models import Document

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


def real_pdf() -> bytes:
    """A whole, one-page PDF (written by pypdf)."""
    writer = PdfWriter()
    writer.add_blank_page(width=595, height=842)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


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
    pdf = SimpleUploadedFile("leaflet.pdf", real_pdf())
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


# --- issue 19, defect 6: links to private addresses, files that are not PDFs, serving ---------


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",  # a cloud's instance metadata (link-local)
        "http://127.0.0.1:8000/admin/",  # this server
        "http://127.1/",  # 127.0.0.1 as browsers also read it
        "http://2130706433/",  # 127.0.0.1 as one 32-bit number
        "http://0x7f000001/",  # and in hexadecimal
        "http://0177.0.0.1/",  # and in octal
        "http://[::1]/",  # IPv6 loopback
        "http://[::ffff:10.0.0.1]/",  # IPv4-mapped IPv6
        "https://10.12.4.20/",  # RFC 1918
        "https://172.16.0.1/",
        "https://192.168.1.1/",
        "http://localhost/",
        "http://0.0.0.0/",
    ],
)
def test_a_link_to_a_private_loopback_or_link_local_address_is_refused(
    team, clinician, url: str
) -> None:
    """RFC 1918 (private), RFC 3927 (link-local, the metadata service), RFC 1122 (loopback),
    RFC 4291 (IPv6 loopback and IPv4-mapped): none is a place a patient's leaflet lives,
    and a link there from a trusted system points at our own network. No DNS lookups: only
    hosts written as addresses (in the forms the WHATWG URL standard reads as IPv4)."""
    with pytest.raises(ValidationError) as raised:
        library.resource_create(
            team=team,
            data=ResourceInput(title="Link", kind=Resource.Kind.LINK, url=url),
            actor=clinician,
        )
    assert "public web address" in " ".join(raised.value.message_dict["url"])


def test_public_links_are_accepted(team, clinician) -> None:
    for url in ("https://www.nhs.uk/conditions/prostate-cancer/", "https://8.8.8.8/leaflet"):
        made = library.resource_create(
            team=team,
            data=ResourceInput(title="Link", kind=Resource.Kind.LINK, url=url),
            actor=clinician,
        )
        assert made.url == url


@pytest.mark.parametrize(
    "content",
    [
        b"%PDF-1.4 tiny",
        b"%PDF-1.7\n<html><script>alert(1)</script></html>",
        real_pdf()[:200],  # a real PDF cut short: no cross-reference table or trailer
    ],
)
def test_a_file_that_only_starts_like_a_pdf_is_refused(team, clinician, content: bytes) -> None:
    """ISO 32000-1 section 7.5: a PDF is a header, a body, a cross-reference table and a
    trailer; the first five bytes alone make none. The whole file must read as a PDF."""
    with pytest.raises(ValidationError) as raised:
        library.resource_create(
            team=team,
            data=ResourceInput(
                title="Leaflet",
                kind=Resource.Kind.LEAFLET,
                file=SimpleUploadedFile("leaflet.pdf", content),
            ),
            actor=clinician,
        )
    assert "file" in raised.value.message_dict


def test_a_leaflet_is_served_only_to_its_team_and_not_by_its_name(
    client, team, clinician, viewer, other_team_clinician
) -> None:  # type: ignore[no-untyped-def]
    content = real_pdf()
    made = library.resource_create(
        team=team,
        data=ResourceInput(
            title="After surgery",
            kind=Resource.Kind.LEAFLET,
            file=SimpleUploadedFile("Mr Smith's letter.pdf", content),
        ),
        actor=clinician,
    )
    assert "Smith" not in str(made.file.name)  # stored under a random name
    url = reverse("library:resource_leaflet", args=[made.public_id])

    client.force_login(viewer)
    response = client.get(url)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert b"".join(response.streaming_content) == content
    assert "after-surgery.pdf" in response["Content-Disposition"]

    client.force_login(other_team_clinician)
    assert client.get(url).status_code == 404
    client.logout()
    assert client.get(url).status_code == 302
    # The library page links to the view, not to MEDIA_URL.
    client.force_login(clinician)
    page = client.get(reverse("library:resource_list")).content.decode()
    assert url in page
    assert "/media/" not in page


def test_django_admin_applies_the_same_rules_to_links_and_leaflets(team) -> None:
    from careplans.library.admin import ResourceAdminForm

    link = ResourceAdminForm(
        data={"team": team.pk, "title": "x", "kind": Resource.Kind.LINK, "url": "http://127.1/"}
    )
    assert "url" in link.errors
    leaflet = ResourceAdminForm(
        data={"team": team.pk, "title": "x", "kind": Resource.Kind.LEAFLET},
        files={"file": SimpleUploadedFile("x.pdf", b"%PDF-1.4 tiny")},
    )
    assert "file" in leaflet.errors
