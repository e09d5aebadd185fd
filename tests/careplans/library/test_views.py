"""The library pages and the patient's resources panel: allowed and refused."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from careplans.models import MilestoneReached, Resource, ResourceShare
from tests.careplans.library.helpers import pack, resource

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media(settings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings.MEDIA_ROOT = tmp_path


def test_the_list_shows_my_teams_resources_filtered_by_status(
    client, clinician, team, other_team
) -> None:
    resource(team, title="Ours approved")
    resource(team, title="Ours draft", status=Resource.Status.DRAFT)
    resource(other_team, title="Theirs")
    client.force_login(clinician)
    page = client.get(reverse("library:resource_list")).content.decode()
    assert "Ours approved" in page and "Ours draft" in page and "Theirs" not in page
    drafts = client.get(reverse("library:resource_list"), {"status": "draft"}).content.decode()
    assert "Ours draft" in drafts and "Ours approved" not in drafts


def test_anonymous_is_sent_to_log_in(client) -> None:
    response = client.get(reverse("library:resource_list"))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_a_clinician_adds_a_resource_with_its_pathway(client, clinician, team) -> None:
    client.force_login(clinician)
    response = client.post(
        reverse("library:resource_create"),
        {
            "team": team.pk,
            "title": "Exercise after treatment",
            "kind": "link",
            "url": "https://www.nhs.uk/live-well/exercise/",
            "description": "Gentle exercise helps.",
            "pathways": ["prostate-post-prostatectomy"],
        },
    )
    assert response.status_code == 302
    made = Resource.objects.get(title="Exercise after treatment")
    assert made.status == Resource.Status.DRAFT
    assert [t.pathway.code for t in made.pathway_tags.all()] == ["prostate-post-prostatectomy"]
    listed = client.get(reverse("library:resource_list"), {"tag": "prostate-post-prostatectomy"})
    assert "Exercise after treatment" in listed.content.decode()  # (and the message is read)
    tagged = client.get(reverse("library:resource_list"), {"tag": "colorectal-cea"})
    assert "Exercise after treatment" not in tagged.content.decode()


def test_a_viewer_cannot_add_edit_approve_or_retire(client, viewer, team) -> None:
    item = resource(team, status=Resource.Status.DRAFT)
    client.force_login(viewer)
    assert client.get(reverse("library:resource_list")).status_code == 200
    assert client.get(reverse("library:resource_create")).status_code == 403
    assert client.get(reverse("library:resource_edit", args=[item.public_id])).status_code == 403
    approve = reverse("library:resource_approve", args=[item.public_id])
    assert client.post(approve, {"review_date": "2099-01-01"}).status_code == 403
    retire = reverse("library:resource_retire", args=[item.public_id])
    assert client.post(retire).status_code == 403


def test_only_a_team_admin_approves_on_the_page(client, clinician, team_admin, team) -> None:
    item = resource(team, status=Resource.Status.DRAFT)
    url = reverse("library:resource_approve", args=[item.public_id])
    when = (timezone.localdate() + dt.timedelta(days=180)).isoformat()
    client.force_login(clinician)
    assert client.post(url, {"review_date": when}).status_code == 403
    client.force_login(team_admin)
    assert client.post(url, {"review_date": when}).status_code == 302
    item.refresh_from_db()
    assert item.status == Resource.Status.APPROVED and item.approved_by == team_admin


def test_a_past_review_date_is_shown_on_the_form(client, team_admin, team) -> None:
    item = resource(team, status=Resource.Status.DRAFT)
    client.force_login(team_admin)
    response = client.post(
        reverse("library:resource_approve", args=[item.public_id]), {"review_date": "2020-01-01"}
    )
    assert response.status_code == 200
    assert "must be in the future" in response.content.decode()


def test_another_teams_resource_is_a_404(client, clinician, other_team) -> None:
    theirs = resource(other_team)
    client.force_login(clinician)
    for name in ("resource_edit", "resource_approve"):
        assert client.get(reverse(f"library:{name}", args=[theirs.public_id])).status_code == 404
    assert (
        client.post(reverse("library:resource_retire", args=[theirs.public_id])).status_code == 404
    )


def test_the_patient_panel_shares_a_resource_and_lists_it(client, clinician, patient, team):
    item = resource(team, title="Fatigue after radiotherapy")
    client.force_login(clinician)
    url = reverse("library:share_resource", args=[patient.public_id])
    response = client.post(url, {"resource": str(item.public_id)}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    page = response.content.decode()
    assert "Shared with the patient: Fatigue after radiotherapy" in page
    assert ResourceShare.objects.filter(patient=patient, resource=item).count() == 1


@pytest.mark.parametrize("status", [Resource.Status.DRAFT, Resource.Status.RETIRED])
def test_the_panel_refuses_an_unapproved_or_retired_resource_with_the_reason(
    client, clinician, patient, team, status
) -> None:
    item = resource(team, status=status)
    client.force_login(clinician)
    response = client.post(
        reverse("library:share_resource", args=[patient.public_id]),
        {"resource": str(item.public_id)},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert "not been approved" in page or "retired" in page
    assert not ResourceShare.objects.exists()


def test_the_panel_records_a_milestone_and_shares_its_pack(
    client, clinician, patient, team
) -> None:
    pack(team, [resource(team)], name="After surgery pack")
    client.force_login(clinician)
    response = client.post(
        reverse("library:milestone", args=[patient.public_id]),
        {"pathway": "prostate-post-prostatectomy", "milestone": "remote_follow_up"},
    )
    assert response.status_code == 302
    assert MilestoneReached.objects.filter(patient=patient).count() == 1
    panel = client.get(reverse("library:patient_panel", args=[patient.public_id]))
    assert "After surgery pack" in panel.content.decode()


def test_a_viewer_reads_the_panel_but_cannot_share(client, viewer, patient, team) -> None:
    item = resource(team)
    client.force_login(viewer)
    panel = client.get(reverse("library:patient_panel", args=[patient.public_id]))
    assert panel.status_code == 200 and "Share a resource" not in panel.content.decode()
    response = client.post(
        reverse("library:share_resource", args=[patient.public_id]),
        {"resource": str(item.public_id)},
    )
    assert response.status_code == 403


def test_another_teams_patient_panel_is_a_404(client, other_team_clinician, patient) -> None:
    client.force_login(other_team_clinician)
    assert client.get(reverse("library:patient_panel", args=[patient.public_id])).status_code == 404


def test_the_patient_page_loads_the_panel_by_htmx(client, clinician, patient) -> None:
    client.force_login(clinician)
    page = client.get(reverse("rms:patient_detail", args=[patient.public_id])).content.decode()
    assert reverse("library:patient_panel", args=[patient.public_id]) in page
