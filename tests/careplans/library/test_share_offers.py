"""What the share forms offer: a retired leaflet is never offered to share with a patient
(careplans/library/services.py: "A retired resource is never shared again"), nor one past its review
date or not yet approved; a pack is offered only with something in it that can be shared
today, and says how much of it that is. Refused to viewers; another team's patient is a 404."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from careplans.models import Resource, ResourceShare
from rms.models import Patient
from tests.careplans.library.helpers import pack, resource

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media(settings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings.MEDIA_ROOT = tmp_path


def _options(page: str, select_name: str) -> list[str]:
    select = re.search(rf'<select name="{select_name}".*?</select>', page, re.S)
    assert select, select_name
    return [label.strip() for label in re.findall(r"<option[^>]*>([^<]*)</option>", select[0])]


def _panel(client, patient: Patient) -> str:  # type: ignore[no-untyped-def]
    response = client.get(reverse("library:patient_panel", args=[patient.public_id]))
    assert response.status_code == 200
    return response.content.decode()


def test_the_resource_form_offers_only_current_approved_resources(
    client, clinician, team, patient
) -> None:
    resource(team, title="Current leaflet", leaflet=True)
    resource(team, title="Retired leaflet", leaflet=True, status=Resource.Status.RETIRED)
    resource(team, title="Draft leaflet", leaflet=True, status=Resource.Status.DRAFT)
    resource(team, title="Out of review", review_in_days=-1)
    client.force_login(clinician)

    offered = _options(_panel(client, patient), "resource")

    assert any(o.startswith("Current leaflet") for o in offered)
    assert not any(
        o.startswith(("Retired leaflet", "Draft leaflet", "Out of review")) for o in offered
    )


def test_a_pack_of_only_retired_leaflets_is_not_offered_and_a_mixed_one_says_so(
    client, clinician, team, patient
) -> None:
    retired = resource(team, title="Old leaflet", leaflet=True, status=Resource.Status.RETIRED)
    current = resource(team, title="New leaflet", leaflet=True)
    pack(team, [retired], name="Old pack")
    pack(team, [retired, current], name="Mixed pack")
    pack(team, [current], name="Current pack")
    client.force_login(clinician)

    offered = _options(_panel(client, patient), "pack")

    assert "Old pack" not in " ".join(offered)
    assert "Mixed pack (1 of 2 items current)" in offered
    assert "Current pack (1 item)" in offered


def test_a_pack_posted_anyway_is_refused_with_its_reason_and_nothing_shared(
    client, clinician, team, patient
) -> None:
    retired = resource(team, title="Old leaflet", leaflet=True, status=Resource.Status.RETIRED)
    old = pack(team, [retired], name="Old pack")
    client.force_login(clinician)

    response = client.post(
        reverse("library:share_pack", args=[patient.public_id]), {"pack": str(old.public_id)}
    )

    assert response.status_code == 200
    assert not ResourceShare.objects.exists()


def test_the_consent_form_does_not_offer_a_retired_leaflet(
    client, clinician, team, patient
) -> None:
    resource(team, title="Current leaflet", leaflet=True)
    resource(team, title="Retired leaflet", leaflet=True, status=Resource.Status.RETIRED)
    client.force_login(clinician)

    page = client.get(reverse("care_plans:consent_create", args=[patient.public_id]))

    offered = _options(page.content.decode(), "resource")
    assert "Current leaflet" in offered
    assert "Retired leaflet" not in offered


def test_a_viewer_is_offered_no_share_form(client, viewer, team, patient) -> None:
    resource(team, title="Current leaflet", leaflet=True)
    client.force_login(viewer)

    page = _panel(client, patient)

    assert '<select name="resource"' not in page
    assert '<select name="pack"' not in page


def test_another_teams_clinician_gets_a_404(client, other_team_clinician, patient) -> None:
    client.force_login(other_team_clinician)

    response = client.get(reverse("library:patient_panel", args=[patient.public_id]))

    assert response.status_code == 404
