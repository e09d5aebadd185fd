"""Holding means holding: what a team holds back is not sent to PKB until a clinician releases
it, or, where the team's policy releases it automatically, not before the team was told with a
review item and the page shows the date. Through the real path: the sweeper and the outbox
delivering to the PKB sandbox over real HTTP (the sandbox stands in for PKB, the edge we do
not own)."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from pkb_bridge import services, tasks
from pkb_bridge.models import OutboundMessage, Publication, ReleasePolicy
from rms import services as rms_services
from rms.services import ResultInput
from tests.pkb_bridge.records import lab
from worklists.models import WorkItem

pytestmark = pytest.mark.django_db
Status = OutboundMessage.Status


@pytest.fixture(autouse=True)
def pkb_is_the_sandbox(settings, sandbox) -> None:  # type: ignore[no-untyped-def]
    """The sweeper's dispatcher sends to the sandbox."""
    settings.PKB_URL = sandbox.url
    settings.PKB_USERNAME = "rms"
    settings.PKB_PASSWORD = "pw"
    settings.PKB_TIMEOUT_S = 3.0
    settings.PKB_CONNECT_TIMEOUT_S = 2.0


def radiology(patient, actor, *, fon: str = "RAD1"):  # type: ignore[no-untyped-def]
    return rms_services.result_record(
        patient=patient,
        actor=actor,
        data=ResultInput(
            category="radiology",
            source_system="CRIS",
            filler_order_number=fon,
            observed_at=timezone.now() - dt.timedelta(hours=5),
            service_code="MRPR",
            service_name="MRI prostate",
            report_text="Findings: new lesion in the left lobe.\nConclusion: suspicious.",
        ),
    ).result


def sweep_at(moment: dt.datetime) -> None:
    """The sweeper as Celery beat runs it (its dispatcher sending to the sandbox)."""
    with time_machine.travel(moment, tick=False):
        tasks.sweep()


def pkb_record(sandbox, patient) -> dict:  # type: ignore[no-untyped-def]
    return sandbox.state.patient(patient.nhs_number) or {}


def panel(client, user, patient) -> str:  # type: ignore[no-untyped-def]
    client.force_login(user)
    response = client.get(reverse("pkb:patient_panel", args=[patient.public_id]))
    assert response.status_code == 200
    return response.content.decode()


def test_radiology_is_held_for_a_clinician_by_default_and_goes_only_when_released(
    client, patient, clinician, sandbox
) -> None:
    """Issue: "radiology is held for review by default". PKB interface §8: once PKB has an
    item the patient is notified and, at most after a delay, sees it; the only way to keep a
    report back until a person has looked is not to send it (§8, "withhold sending"). A team
    with no radiology policy: the report is never sent by itself, however long it waits."""
    services.enrolment_opt_in(
        patient=patient, actor=clinician, attestation="Consented in clinic, paper form filed"
    )
    report = radiology(patient, clinician)
    start = timezone.now()
    for days in (0, 1, 30, 400):
        sweep_at(start + dt.timedelta(days=days, minutes=1))
    assert pkb_record(sandbox, patient), "the registration went"
    assert pkb_record(sandbox, patient)["radiology"] == {}
    assert not OutboundMessage.objects.filter(kind=OutboundMessage.Kind.RADIOLOGY).exists()
    assert "Not sent: held until a clinician releases it" in panel(client, clinician, patient)

    publication = Publication.objects.get(result=report)
    services.publication_release(publication=publication, actor=clinician, reason="Seen in clinic")
    sweep_at(start + dt.timedelta(days=400, minutes=2))
    assert len(pkb_record(sandbox, patient)["radiology"]) == 1


def test_an_automatic_release_is_announced_with_its_date_and_a_review_item_before_it_happens(
    client, patient, team, clinician, sandbox
) -> None:
    """Issue: an auto-release "is shown with its date on the patient page and raises a review
    item before it happens". PKB interface §8 (an item PKB has is notified to the patient;
    holding back means not sending). The team's policy holds lab results and releases them
    after 3 days: nothing reaches PKB before then, a work item for the team is raised a day
    (PKB_AUTO_RELEASE_NOTICE_HOURS) before, and the release then reaches PKB."""
    ReleasePolicy.objects.create(team=team, category="lab", mode="hold", auto_release_days=3)
    services.enrolment_opt_in(
        patient=patient, actor=clinician, attestation="Consented in clinic, paper form filed"
    )
    start = timezone.now()
    result = lab(patient, clinician)
    publication = Publication.objects.get(result=result)
    release_at = publication.auto_release_at
    assert release_at is not None

    page = panel(client, clinician, patient)
    assert "released automatically on" in page
    assert "Keep held" in page

    sweep_at(start + dt.timedelta(hours=1))
    assert not WorkItem.objects.filter(kind=WorkItem.Kind.RESULT_TO_REVIEW).exists()
    sweep_at(start + dt.timedelta(days=2, hours=1))
    item = WorkItem.objects.get(kind=WorkItem.Kind.RESULT_TO_REVIEW)
    assert (item.patient, item.team, item.status) == (patient, team, WorkItem.Status.OPEN)
    # Announced 23 h before the release: the release moves to a full notice after the
    # announcement (see the next test), never earlier. The item is due on the day it happens,
    # which is the next day when the original release fell in the last hour before midnight.
    publication.refresh_from_db()
    assert publication.auto_release_at is not None
    assert publication.auto_release_at >= release_at, "never brought forward"
    assert item.due_date == timezone.localdate(publication.auto_release_at)
    assert "released to the patient automatically" in item.explanation
    assert pkb_record(sandbox, patient)["lab_results"] == {}, "announced, not sent"

    sweep_at(start + dt.timedelta(days=3, hours=1))
    assert "LIVE1" in pkb_record(sandbox, patient)["lab_results"]
    publication.refresh_from_db()
    assert publication.state == Publication.State.RELEASED
    item.refresh_from_db()
    assert (item.status, item.outcome) == (WorkItem.Status.DONE, "Released")


def test_an_automatic_release_sooner_than_the_notice_waits_for_the_full_notice(
    patient, team, clinician, sandbox, settings
) -> None:
    """Issue: the review item comes "before it happens". A policy releasing on the day of
    arrival (0 days) would otherwise release before anyone was told: the release is moved to
    a full notice (24 h by default) after the review item was raised."""
    ReleasePolicy.objects.create(team=team, category="lab", mode="hold", auto_release_days=0)
    services.enrolment_opt_in(
        patient=patient, actor=clinician, attestation="Consented in clinic, paper form filed"
    )
    start = timezone.now()
    result = lab(patient, clinician)
    sweep_at(start + dt.timedelta(minutes=1))
    assert WorkItem.objects.filter(kind=WorkItem.Kind.RESULT_TO_REVIEW).count() == 1
    sweep_at(start + dt.timedelta(hours=23))
    assert pkb_record(sandbox, patient)["lab_results"] == {}
    assert Publication.objects.get(result=result).state == Publication.State.HELD
    sweep_at(start + dt.timedelta(hours=24, minutes=2))
    assert "LIVE1" in pkb_record(sandbox, patient)["lab_results"]


def test_keep_held_stops_the_automatic_release_and_only_the_patients_team_can_do_it(
    client, patient, team, clinician, other_team_clinician, sandbox
) -> None:
    """Reliability and security reference §3.5 (actions scoped to the patient's teams) and
    §3.4 (audited); issue: "holding must mean holding". Another team's clinician is refused
    (404, nothing changes); the patient's clinician keeps the item held: the review item
    closes and the item is never sent, however long the sweeper runs."""
    ReleasePolicy.objects.create(team=team, category="lab", mode="hold", auto_release_days=2)
    services.enrolment_opt_in(
        patient=patient, actor=clinician, attestation="Consented in clinic, paper form filed"
    )
    start = timezone.now()
    result = lab(patient, clinician)
    sweep_at(start + dt.timedelta(days=1, hours=1))
    item = WorkItem.objects.get(kind=WorkItem.Kind.RESULT_TO_REVIEW)
    url = reverse("pkb:publication_hold", args=[patient.public_id, result.public_id])

    client.force_login(other_team_clinician)
    assert client.post(url, {"reason": "not mine"}).status_code == 404
    assert Publication.objects.get(result=result).auto_release_at is not None

    client.force_login(clinician)
    assert client.post(url, {"reason": "Tell the patient in clinic first"}).status_code == 302
    publication = Publication.objects.get(result=result)
    assert (publication.state, publication.auto_release_at) == (Publication.State.HELD, None)
    assert publication.decisions.latest("id").reason == "Tell the patient in clinic first"
    item.refresh_from_db()
    assert (item.status, item.outcome) == (WorkItem.Status.DONE, "Kept held")
    for days in (2, 3, 30):
        sweep_at(start + dt.timedelta(days=days, hours=2))
    assert pkb_record(sandbox, patient)["lab_results"] == {}
    assert "Not sent: held until a clinician releases it" in panel(client, clinician, patient)
