"""Patient-entered data: monitored like any result, shown apart on the patient page, marked as
seen by a clinician (not a viewer, not another team)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from auditlog.models import LogEntry
from django.urls import reverse
from django.utils import timezone

from careplans.models import FollowUpPlan, Pathway, Rule
from devtools.sandbox import SandboxServer
from pkb_bridge.fhir import client_from_settings
from pkb_bridge.fhir import services as fhir
from rms.models import Result
from tests.factories import ObservationFactory, ResultFactory
from tests.pkb_bridge import fhir_helpers as h
from worklists.models import WorkItem

pytestmark = pytest.mark.django_db


@pytest.fixture
def pkb(settings) -> Iterator[SandboxServer]:
    server = h.start_sandbox()
    h.point_settings_at(settings, server)
    yield server
    server.stop()


def poll() -> None:
    with client_from_settings() as client:
        fhir.poll(client=client)


def weight_plan(patient, team, clinician) -> FollowUpPlan:  # type: ignore[no-untyped-def]
    pathway = Pathway.objects.create(
        code="weight-watch", name="Weight watch", tumour_site="colorectal", treatment="Surgery",
        description="Test pathway",
    )  # fmt: skip
    plan = FollowUpPlan.objects.create(
        patient=patient, team=team, pathway=pathway, anchor_date=dt.date(2025, 1, 1),
        started_by=clinician,
    )  # fmt: skip
    Rule.objects.create(
        plan=plan,
        name="Weight down 5% in a month",
        test_code="29463-7",
        rule_type="percent_change",
        params={"percent": 5, "window_days": 30, "direction": "down", "units": "kg"},
    )
    return plan


def test_a_weight_series_dropping_6_percent_in_a_month_raises_a_threshold_item(
    pkb, patient, team, clinician
) -> None:
    weight_plan(patient, team, clinician)
    start = timezone.now() - dt.timedelta(days=28)
    for n, kg in enumerate(["80.0", "79.0", "77.5"]):
        pkb.fhir.queue(h.weight(f"w{n}", patient.nhs_number, kg, start + dt.timedelta(days=n * 9)))
    poll()
    assert not WorkItem.objects.filter(kind=WorkItem.Kind.THRESHOLD_BREACH).exists()  # 3.1%
    pkb.fhir.queue(h.weight("w3", patient.nhs_number, "75.2", timezone.now()))  # 6% below 80
    poll()
    item = WorkItem.objects.get(kind=WorkItem.Kind.THRESHOLD_BREACH, patient=patient)
    assert item.title == "Weight down 5% in a month"
    assert "6% below" in item.explanation
    pkb.fhir.queue(h.weight("w4", patient.nhs_number, "75.0", timezone.now()))
    poll()  # a further loss from the same peak is the same breach
    assert WorkItem.objects.filter(kind=WorkItem.Kind.THRESHOLD_BREACH).count() == 1


def test_a_loss_spread_over_more_than_the_window_does_not_breach(
    pkb, patient, team, clinician
) -> None:
    weight_plan(patient, team, clinician)
    pkb.fhir.queue(
        h.weight("old", patient.nhs_number, "80", timezone.now() - dt.timedelta(days=60))
    )
    pkb.fhir.queue(h.weight("new", patient.nhs_number, "75", timezone.now()))
    poll()
    assert not WorkItem.objects.filter(kind=WorkItem.Kind.THRESHOLD_BREACH).exists()


# --- the patient page --------------------------------------------------------------------


def entry(patient, *, kg: str = "81.4") -> Result:  # type: ignore[no-untyped-def]
    result = ResultFactory(
        patient=patient, category="patient", source_system="PKB",
        service_code="29463-7", service_name="Body weight",
    )  # fmt: skip
    ObservationFactory(result=result, code="29463-7", name="Body weight", value_text=kg, units="kg")
    return result


def panel_url(patient) -> str:  # type: ignore[no-untyped-def]
    return reverse("patient_data:panel", args=[patient.public_id])


def seen_url(patient, result) -> str:  # type: ignore[no-untyped-def]
    return reverse("patient_data:mark_seen", args=[patient.public_id, result.public_id])


def test_patient_entered_data_is_shown_apart_with_its_source(client, clinician, patient) -> None:
    entry(patient)
    lab = ResultFactory(patient=patient, service_name="Prostate specific antigen")
    ObservationFactory(result=lab)
    client.force_login(clinician)
    page = client.get(reverse("rms:patient_detail", args=[patient.public_id])).content.decode()
    results_table = page.split('id="results-heading"')[1].split("</section>")[0]
    assert "Prostate specific antigen" in results_table
    assert "Body weight" not in results_table
    assert panel_url(patient) in page
    panel = client.get(panel_url(patient), HTTP_HX_REQUEST="true").content.decode()
    assert "Body weight" in panel and "81.4" in panel
    assert "Entered by the patient in PKB" in panel
    assert "Prostate specific antigen" not in panel
    assert "Mark as seen" in panel


def test_a_clinician_marks_an_entry_seen_recording_who_and_when(client, clinician, patient) -> None:
    result = entry(patient)
    client.force_login(clinician)
    response = client.post(seen_url(patient, result), HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    result.refresh_from_db()
    assert result.seen_by == clinician and result.seen_at is not None
    assert "Seen by" in response.content.decode()
    assert LogEntry.objects.get_for_object(result).filter(changes__icontains="seen_at").exists()
    again = client.post(seen_url(patient, result))  # harmless, and without htmx a redirect
    assert again.status_code == 302
    assert Result.objects.get(pk=result.pk).seen_at == result.seen_at


def test_a_viewer_sees_the_panel_but_cannot_mark_seen(client, viewer, patient) -> None:
    result = entry(patient)
    client.force_login(viewer)
    panel = client.get(panel_url(patient)).content.decode()
    assert "Body weight" in panel and "Mark as seen" not in panel
    assert client.post(seen_url(patient, result)).status_code == 403
    result.refresh_from_db()
    assert result.seen_at is None


def test_another_teams_clinician_gets_404(client, other_team_clinician, patient) -> None:
    result = entry(patient)
    client.force_login(other_team_clinician)
    assert client.get(panel_url(patient)).status_code == 404
    assert client.post(seen_url(patient, result)).status_code == 404
    result.refresh_from_db()
    assert result.seen_at is None


def test_a_lab_result_cannot_be_marked_seen_here(client, clinician, patient) -> None:
    lab = ResultFactory(patient=patient)
    client.force_login(clinician)
    assert client.post(seen_url(patient, lab)).status_code == 404


def test_anonymous_users_are_sent_to_log_in(client, patient) -> None:
    response = client.get(panel_url(patient))
    assert response.status_code == 302
    assert "login" in response["Location"]
