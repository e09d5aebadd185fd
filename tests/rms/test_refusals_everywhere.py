"""A viewer refused a change to a patient's record gets the same 403 and the same sentence
(``rms.permissions.WRITE_REFUSAL``) from every app's pages and API endpoints."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils.html import escape

from rms.permissions import WRITE_REFUSAL
from tests.conftest import token_client

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "url_name",
    [
        "rms:patient_edit",  # the patient's details (rms)
        "careplans:plan_start",  # a follow-up plan (careplans)
        "pkb:opt_in",  # sharing with PKB (pkb_bridge)
    ],
)
def test_a_viewers_change_is_refused_with_the_one_sentence_on_every_page(
    client, viewer, patient, url_name
) -> None:
    client.force_login(viewer)
    response = client.post(reverse(url_name, kwargs={"public_id": patient.public_id}), {})
    assert response.status_code == 403
    assert escape(WRITE_REFUSAL) in response.content.decode()


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/patients/{public_id}/plans/",  # careplans
        "/api/v1/patients/{public_id}/enrolment/",  # pkb_bridge
    ],
)
def test_a_viewers_change_is_refused_with_the_one_sentence_in_the_api(
    viewer, patient, path
) -> None:
    response = token_client(viewer).post(
        path.format(public_id=patient.public_id),
        {"pathway": "colorectal-cea", "anchor_date": "2026-01-05", "attestation": "x" * 20},
        format="json",
    )
    assert response.status_code == 403
    assert response.json()["detail"] == WRITE_REFUSAL
