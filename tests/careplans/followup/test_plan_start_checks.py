"""Starting a follow-up plan: the anchor (treatment) date cannot be before the patient was
born, nor in the future (a schedule counts from a treatment that has happened); a pathway
for another tumour site than the patient's recorded diagnosis is started with a warning, not
refused (the clinician may know what the record does not yet say)."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.contrib.messages import get_messages
from django.core.exceptions import ValidationError
from django.urls import reverse
from pytest_django.asserts import assertContains

from careplans.followup import services
from careplans.models import FollowUpPlan, Pathway
from rms.models import Diagnosis, Patient, TumourSite
from tests.factories import DiagnosisFactory

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}


@pytest.fixture(autouse=True)
def today():  # type: ignore[no-untyped-def]
    with time_machine.travel(dt.datetime(2025, 3, 15, 12, 0, tzinfo=dt.UTC), tick=False):
        yield


def start(client, patient: Patient, pathway: str, anchor: str, **kwargs):  # type: ignore[no-untyped-def]
    url = reverse("careplans:plan_start", args=[patient.public_id])
    return client.post(url, {"pathway": pathway, "anchor_date": anchor}, **kwargs)


def messages_of(response) -> list[str]:  # type: ignore[no-untyped-def]
    return [str(m) for m in get_messages(response.wsgi_request)]


def born_2010(patient: Patient) -> Patient:
    """A young patient, so a date before their birth is within the pathway's 30 years."""
    Patient.objects.filter(pk=patient.pk).update(date_of_birth=dt.date(2010, 5, 1))
    patient.refresh_from_db()
    return patient


def test_an_anchor_date_before_the_patients_birth_is_refused_on_the_form(
    client, clinician, patient: Patient
) -> None:
    born_2010(patient)
    client.force_login(clinician)

    response = start(client, patient, "colorectal-cea", "2010-04-30", headers=HTMX)

    assertContains(response, "before the patient&#x27;s date of birth")
    assert not FollowUpPlan.objects.exists()


def test_the_service_refuses_it_too(clinician, patient: Patient) -> None:
    born_2010(patient)
    with pytest.raises(ValidationError) as refused:
        services.plan_start(
            patient=patient,
            pathway=Pathway.objects.get(code="colorectal-cea"),
            anchor_date=dt.date(2010, 4, 30),
            actor=clinician,
        )
    assert "anchor_date" in refused.value.message_dict


def test_an_anchor_on_the_day_of_birth_is_accepted(clinician, patient: Patient) -> None:
    """The boundary: not before the birth; the day itself is allowed (the other checks,
    at most 30 years ago, are the pathway's own)."""
    born_2010(patient)
    plan = services.plan_start(
        patient=patient,
        pathway=Pathway.objects.get(code="colorectal-cea"),
        anchor_date=dt.date(2010, 5, 1),
        actor=clinician,
    )
    assert plan.anchor_date == dt.date(2010, 5, 1)


def test_a_pathway_for_another_tumour_site_starts_with_a_warning(
    client, clinician, patient: Patient
) -> None:
    DiagnosisFactory(patient=patient, tumour_site=TumourSite.PROSTATE)
    client.force_login(clinician)

    response = start(client, patient, "colorectal-cea", "2025-01-20")

    assert FollowUpPlan.objects.filter(patient=patient).count() == 1
    shown = messages_of(response)
    assert shown[0] == "Follow-up plan started: Colorectal cancer: CEA surveillance."
    assert "Colorectal pathway" in shown[1]
    assert "Prostate" in shown[1]


def test_the_warning_shows_in_the_htmx_panel(client, clinician, patient: Patient) -> None:
    DiagnosisFactory(patient=patient, tumour_site=TumourSite.PROSTATE)
    client.force_login(clinician)

    response = start(client, patient, "colorectal-cea", "2025-01-20", headers=HTMX)

    assertContains(response, "alert-warning")
    assertContains(response, "Check that this is the right pathway")


def test_a_matching_pathway_gives_no_warning(client, clinician, patient: Patient) -> None:
    DiagnosisFactory(patient=patient, tumour_site=TumourSite.COLORECTAL)
    # A prostate diagnosis entered in error does not count against the colorectal pathway.
    DiagnosisFactory(
        patient=patient,
        tumour_site=TumourSite.PROSTATE,
        status=Diagnosis.Status.ENTERED_IN_ERROR,
    )
    client.force_login(clinician)

    response = start(client, patient, "colorectal-cea", "2025-01-20")

    assert messages_of(response) == ["Follow-up plan started: Colorectal cancer: CEA surveillance."]


def test_no_warning_when_no_diagnosis_records_a_tumour_site(clinician, patient: Patient) -> None:
    pathway = Pathway.objects.get(code="colorectal-cea")
    assert services.pathway_mismatch(patient=patient, pathway=pathway) is None


def test_a_viewer_cannot_start_a_plan_even_with_a_valid_date(client, viewer, patient) -> None:
    client.force_login(viewer)

    response = start(client, patient, "colorectal-cea", "2025-01-20")

    assert response.status_code == 403
    assert not FollowUpPlan.objects.exists()


def test_a_missing_pathway_does_not_hide_a_date_before_birth(client, clinician, patient) -> None:
    born_2010(patient)
    client.force_login(clinician)

    response = start(client, patient, "", "2010-04-30", headers=HTMX)

    errors = response.context["start_form"].errors
    assert "pathway" in errors
    assert "date of birth" in errors["anchor_date"][0]
    assert not FollowUpPlan.objects.exists()
