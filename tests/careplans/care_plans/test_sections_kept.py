"""A care plan version cannot lose a section silently: the follow-up schedule, the symptoms
to report and who to contact are what a patient on remote follow-up relies on (the seeded
templates carry all three, careplans/migrations/0003_care_plans.py), so a new version that
empties one is refused with the reason, and the earlier version stays the current one. "Who to
contact" gives the team's own telephone number from the team's settings (Team.contact_phone);
a change to that section that drops the number is refused. Allowed and refused through the
services and the section edit page; viewers and other teams are refused."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from careplans.care_plans import selectors, services
from careplans.models import CarePlan, CarePlanTemplate, CarePlanVersion
from rms.models import Team

pytestmark = pytest.mark.django_db

TEAM_PHONE = "0113 496 0123"  # Ofcom's range for drama: never a real line


@pytest.fixture
def template() -> CarePlanTemplate:
    return CarePlanTemplate.objects.get(pathway__code="prostate-post-prostatectomy")


@pytest.fixture
def team_with_phone(team: Team) -> Team:
    team.contact_phone = TEAM_PHONE
    team.full_clean()
    team.save()
    return team


def _position(care_plan: CarePlan, kind: str) -> int:
    latest = selectors.version_latest(care_plan=care_plan)
    assert latest is not None
    return latest.sections.get(kind=kind).position


def _section_url(care_plan: CarePlan, position: int) -> str:
    return reverse(
        "care_plans:care_plan_section_edit",
        args=[care_plan.patient.public_id, care_plan.public_id, position],
    )


def test_who_to_contact_carries_the_teams_number_from_its_settings(
    patient, clinician, template, team_with_phone, settings
) -> None:
    settings.PKB_TEAM_CONTACT = "your clinical nurse specialist team"
    care_plan = services.care_plan_create(patient=patient, template=template, actor=clinician)

    latest = selectors.version_latest(care_plan=care_plan)
    assert latest is not None
    contacts = latest.sections.get(kind="contacts").body
    assert TEAM_PHONE in contacts
    assert TEAM_PHONE in latest.content_html  # what the patient receives


def test_without_a_team_number_the_site_setting_is_used(patient, clinician, template, settings):
    settings.PKB_TEAM_CONTACT = "the CNS line on 01234 567890"
    care_plan = services.care_plan_create(patient=patient, template=template, actor=clinician)

    latest = selectors.version_latest(care_plan=care_plan)
    assert latest is not None
    assert "01234 567890" in latest.sections.get(kind="contacts").body


@pytest.mark.parametrize("kind", ["schedule", "symptoms", "contacts"])
def test_emptying_a_required_section_is_refused_and_no_version_is_written(
    patient, clinician, template, kind
) -> None:
    care_plan = services.care_plan_create(patient=patient, template=template, actor=clinician)
    position = _position(care_plan, kind)

    with pytest.raises(ValidationError) as refused:
        services.care_plan_section_update(
            care_plan=care_plan,
            position=position,
            heading="Kept heading",
            body="  \n ",
            actor=clinician,
        )

    assert "must keep" in refused.value.message_dict["body"][0]
    assert CarePlanVersion.objects.filter(care_plan=care_plan).count() == 1


def test_a_free_section_may_be_emptied(patient, clinician, template) -> None:
    care_plan = services.care_plan_create(patient=patient, template=template, actor=clinician)
    latest = selectors.version_latest(care_plan=care_plan)
    assert latest is not None
    free = latest.sections.filter(kind="free").first()
    if free is None:
        pytest.skip("the seeded template has no free section")
    version = services.care_plan_section_update(
        care_plan=care_plan, position=free.position, heading=free.heading, body="", actor=clinician
    )
    assert version.number == 2


def test_a_contacts_change_that_drops_the_teams_number_is_refused(
    patient, clinician, template, team_with_phone
) -> None:
    care_plan = services.care_plan_create(patient=patient, template=template, actor=clinician)
    position = _position(care_plan, "contacts")

    with pytest.raises(ValidationError) as refused:
        services.care_plan_section_update(
            care_plan=care_plan,
            position=position,
            heading="Who to contact",
            body="Ring the ward.",
            actor=clinician,
        )
    assert TEAM_PHONE in refused.value.message_dict["body"][0]

    kept = services.care_plan_section_update(
        care_plan=care_plan,
        position=position,
        heading="Who to contact",
        body="Ring the CNS team on +44 113 4960123, Monday to Friday.",
        actor=clinician,
    )
    assert kept.number == 2


def test_another_section_can_still_be_changed_on_a_plan_written_before_the_team_had_a_number(
    patient, clinician, template, team: Team
) -> None:
    care_plan = services.care_plan_create(patient=patient, template=template, actor=clinician)
    team.contact_phone = TEAM_PHONE
    team.save()

    version = services.care_plan_section_update(
        care_plan=care_plan,
        position=_position(care_plan, "symptoms"),
        heading="Symptoms to report",
        body="Tell us about new bone pain.",
        actor=clinician,
    )
    assert version.number == 2


def test_the_edit_page_shows_the_refusal_and_keeps_what_was_typed(
    client, clinician, patient, template
) -> None:
    care_plan = services.care_plan_create(patient=patient, template=template, actor=clinician)
    client.force_login(clinician)

    response = client.post(
        _section_url(care_plan, _position(care_plan, "symptoms")),
        {"heading": "Symptoms to report", "body": "", "note": "tidying up"},
    )

    assert response.status_code == 200
    assert "must keep" in response.content.decode()
    assert 'value="tidying up"' in response.content.decode()
    assert CarePlanVersion.objects.filter(care_plan=care_plan).count() == 1


def test_the_edit_page_saves_a_section_with_words(client, clinician, patient, template) -> None:
    care_plan = services.care_plan_create(patient=patient, template=template, actor=clinician)
    client.force_login(clinician)

    response = client.post(
        _section_url(care_plan, _position(care_plan, "symptoms")),
        {"heading": "Symptoms to report", "body": "New bone pain.", "note": ""},
    )

    assert response.status_code == 302
    assert CarePlanVersion.objects.filter(care_plan=care_plan).count() == 2


def test_viewers_and_other_teams_are_refused_the_edit(
    client, viewer, other_team_clinician, clinician, patient, template
) -> None:
    care_plan = services.care_plan_create(patient=patient, template=template, actor=clinician)
    url = _section_url(care_plan, _position(care_plan, "symptoms"))
    data = {"heading": "Symptoms to report", "body": "Changed.", "note": ""}

    client.force_login(viewer)
    assert client.post(url, data).status_code == 403
    client.force_login(other_team_clinician)
    assert client.post(url, data).status_code == 404
    assert CarePlanVersion.objects.filter(care_plan=care_plan).count() == 1


def test_a_team_number_that_is_not_a_telephone_number_is_refused(team: Team) -> None:
    team.contact_phone = "ask at reception"
    with pytest.raises(ValidationError) as refused:
        team.full_clean()
    assert "contact_phone" in refused.value.message_dict
