"""Consent dates a clinician expects to be checked: consent cannot have been given before the
patient was born nor in the future, and a wrong date is reported with every other error of
the same submission (not after the others are put right). Page and service; viewers refused."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from careplans.care_plans import services
from careplans.models import ConsentRecord
from rms.models import Patient

pytestmark = pytest.mark.django_db


def _before_birth(patient: Patient) -> dt.datetime:
    day = patient.date_of_birth - dt.timedelta(days=1)
    return timezone.make_aware(dt.datetime.combine(day, dt.time(12, 0)))


def test_consent_before_the_patients_birth_is_refused(patient, clinician) -> None:
    with pytest.raises(ValidationError) as refused:
        services.consent_record(
            patient=patient,
            actor=clinician,
            topic="Remote follow-up by PSA monitoring",
            information_given="",
            method="verbal",
            status="given",
            given_at=_before_birth(patient),
        )
    assert "date of birth" in refused.value.message_dict["given_at"][0]
    assert not ConsentRecord.objects.exists()


def test_a_wrong_date_and_a_missing_topic_are_reported_together(patient, clinician) -> None:
    with pytest.raises(ValidationError) as refused:
        services.consent_record(
            patient=patient,
            actor=clinician,
            topic="",
            information_given="",
            method="verbal",
            status="given",
            given_at=timezone.now() + dt.timedelta(days=2),
        )
    assert {"topic", "given_at"} <= set(refused.value.message_dict)


def test_the_page_shows_both_errors_and_saves_nothing(client, clinician, patient) -> None:
    client.force_login(clinician)
    response = client.post(
        reverse("care_plans:consent_create", args=[patient.public_id]),
        {
            "topic": "",
            "information_given": "",
            "method": "verbal",
            "status": "given",
            "given_at": _before_birth(patient).strftime("%Y-%m-%dT%H:%M"),
        },
    )
    errors = response.context["form"].errors
    assert "topic" in errors
    assert "date of birth" in errors["given_at"][0]
    assert not ConsentRecord.objects.exists()


def test_a_viewer_is_refused(client, viewer, patient) -> None:
    client.force_login(viewer)
    response = client.post(
        reverse("care_plans:consent_create", args=[patient.public_id]),
        {"topic": "x", "method": "verbal", "status": "given", "given_at": "2024-01-01T10:00"},
    )
    assert response.status_code == 403
    assert not ConsentRecord.objects.exists()
