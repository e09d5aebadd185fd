"""The care plan pages and API: allowed and refused for every page and endpoint."""

from __future__ import annotations

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from careplans.care_plans import services
from careplans.models import CarePlan, CarePlanTemplate, CarePlanVersion

pytestmark = pytest.mark.django_db

XSS = '<script>alert("x")</script>'


@pytest.fixture
def care_plan(patient, clinician) -> CarePlan:
    template = CarePlanTemplate.objects.get(pathway__code="prostate-post-prostatectomy")
    plan = services.care_plan_create(patient=patient, template=template, actor=clinician)
    services.care_plan_section_update(
        care_plan=plan,
        position=3,
        heading="After your operation",
        body="Leaking is common.",
        actor=clinician,
    )
    return plan


def page_urls(patient, plan) -> list[str]:
    p, c = patient.public_id, plan.public_id
    return [
        reverse("care_plans:patient_care_plans", args=[p]),
        reverse("care_plans:care_plan_detail", args=[p, c]),
        reverse("care_plans:care_plan_version", args=[p, c, 1]),
        reverse("care_plans:care_plan_compare", args=[p, c]) + "?from_version=1&to_version=2",
        reverse("care_plans:care_plan_section_edit", args=[p, c, 1]),
        reverse("care_plans:patient_consents", args=[p]),
        reverse("care_plans:consent_create", args=[p]),
    ]


def api_urls(patient, plan) -> list[str]:
    p, c = patient.public_id, plan.public_id
    return [
        reverse("api:patient-care-plans", kwargs={"public_id": p}),
        reverse("api:patient-care-plan", kwargs={"public_id": p, "care_plan_id": c}),
        reverse("api:patient-consents", kwargs={"public_id": p}),
    ]


def test_the_paths_are_under_care_plans_and_api(patient, care_plan):
    assert page_urls(patient, care_plan)[0] == f"/care-plans/patients/{patient.public_id}/"
    assert api_urls(patient, care_plan)[0] == f"/api/v1/patients/{patient.public_id}/care-plans/"


def test_a_clinician_sees_every_page(client, clinician, patient, care_plan):
    client.force_login(clinician)
    for url in page_urls(patient, care_plan):
        assert client.get(url).status_code == 200, url


def test_another_teams_clinician_gets_404_on_every_page_and_endpoint(
    client, other_team_clinician, patient, care_plan, api_other_clinician
):
    client.force_login(other_team_clinician)
    p, c = patient.public_id, care_plan.public_id
    for url in page_urls(patient, care_plan):
        assert client.get(url).status_code == 404, url
    posts = [
        reverse("care_plans:care_plan_create", args=[p]),
        reverse("care_plans:care_plan_section_edit", args=[p, c, 1]),
        reverse("care_plans:consent_create", args=[p]),
    ]
    for url in posts:
        assert client.post(url, {"heading": "h", "body": "b"}).status_code == 404, url
    for url in api_urls(patient, care_plan):
        assert api_other_clinician.get(url).status_code == 404, url
        assert api_other_clinician.post(url, {}, format="json").status_code in {404, 405}, url
    versions = reverse("api:patient-care-plan-versions", kwargs={"public_id": p, "care_plan_id": c})
    assert api_other_clinician.post(versions, {"sections": []}, format="json").status_code == 404
    assert CarePlanVersion.objects.filter(care_plan=care_plan).count() == 2


def test_a_viewer_reads_but_is_neither_offered_nor_allowed_changes(
    client, viewer, patient, care_plan, api_viewer
):
    client.force_login(viewer)
    p, c = patient.public_id, care_plan.public_id
    panel = client.get(reverse("care_plans:patient_care_plans", args=[p]))
    assert panel.status_code == 200 and b"Create care plan" not in panel.content
    detail = client.get(reverse("care_plans:care_plan_detail", args=[p, c]))
    assert detail.status_code == 200 and b">Edit<" not in detail.content
    edit = reverse("care_plans:care_plan_section_edit", args=[p, c, 1])
    assert client.get(edit).status_code == 403
    assert client.post(edit, {"heading": "h", "body": "b"}).status_code == 403
    template = CarePlanTemplate.objects.first()
    create = reverse("care_plans:care_plan_create", args=[p])
    assert client.post(create, {"template": template.pk}).status_code == 403
    api = reverse("api:patient-care-plans", kwargs={"public_id": p})
    assert api_viewer.get(api).status_code == 200
    assert api_viewer.post(api, {"pathway": "colorectal-cea"}, format="json").status_code == 403
    versions = reverse("api:patient-care-plan-versions", kwargs={"public_id": p, "care_plan_id": c})
    body = {"sections": [{"position": 1, "heading": "h", "body": "b"}]}
    assert api_viewer.post(versions, body, format="json").status_code == 403
    assert CarePlan.objects.count() == 1
    assert CarePlanVersion.objects.filter(care_plan=care_plan).count() == 2


def test_anonymous_users_are_sent_to_log_in_and_the_api_answers_401(client, patient, care_plan):
    for url in page_urls(patient, care_plan):
        response = client.get(url)
        assert response.status_code == 302 and "/accounts/login/" in response["Location"], url
    anonymous = APIClient()
    for url in api_urls(patient, care_plan):
        assert anonymous.get(url).status_code == 401, url


def test_a_clinician_makes_a_plan_edits_a_section_and_compares_versions(client, clinician, patient):
    client.force_login(clinician)
    template = CarePlanTemplate.objects.get(pathway__code="colorectal-cea")
    response = client.post(
        reverse("care_plans:care_plan_create", args=[patient.public_id]),
        {"template": template.pk},
    )
    plan = CarePlan.objects.get(patient=patient)
    assert response.status_code == 302 and response["Location"].endswith(
        f"/plans/{plan.public_id}/"
    )
    edit = reverse("care_plans:care_plan_section_edit", args=[patient.public_id, plan.public_id, 3])
    response = client.post(
        edit, {"heading": "If you have a stoma", "body": "Call the stoma nurse.", "note": "short"}
    )
    assert response.status_code == 302
    detail = client.get(response["Location"])
    assert b"Version 2" in detail.content and b"Call the stoma nurse." in detail.content
    compare = client.get(
        reverse("care_plans:care_plan_compare", args=[patient.public_id, plan.public_id]),
        {"from_version": 1, "to_version": 2},
    )
    html = compare.content.decode()
    assert '<ins class="diff-insert">Call the stoma nurse.</ins>' in html or (
        '<ins class="diff-insert">' in html and "stoma nurse" in html
    )
    assert '<del class="diff-delete">' in html
    assert "css/care-plans.css" in html and "style=" not in html
    earlier = client.get(
        reverse("care_plans:care_plan_version", args=[patient.public_id, plan.public_id, 1])
    )
    assert b"stops working" in earlier.content and b"an earlier version" in earlier.content


def test_a_script_in_a_section_is_escaped_on_the_pages(client, clinician, patient, care_plan):
    services.care_plan_section_update(
        care_plan=care_plan, position=1, heading=f"Tests {XSS}", body=XSS, actor=clinician
    )
    client.force_login(clinician)
    p, c = patient.public_id, care_plan.public_id
    for url in (
        reverse("care_plans:care_plan_detail", args=[p, c]),
        reverse("care_plans:care_plan_compare", args=[p, c]) + "?from_version=2&to_version=3",
        reverse("care_plans:care_plan_section_edit", args=[p, c, 1]),
    ):
        html = client.get(url).content.decode()
        assert "<script>alert" not in html, url
        assert "&lt;script&gt;" in html, url


def test_the_patient_page_loads_both_panels_by_htmx(client, clinician, patient):
    client.force_login(clinician)
    html = client.get(reverse("rms:patient_detail", args=[patient.public_id])).content.decode()
    assert f'hx-get="/care-plans/patients/{patient.public_id}/"' in html
    assert f'hx-get="/care-plans/patients/{patient.public_id}/consent/"' in html
    panel = client.get(
        reverse("care_plans:patient_care_plans", args=[patient.public_id]), HTTP_HX_REQUEST="true"
    )
    assert b'id="care-plans-panel"' in panel.content and b"<html" not in panel.content


def test_the_api_makes_a_plan_and_saves_a_version(api_clinician, patient):
    url = reverse("api:patient-care-plans", kwargs={"public_id": patient.public_id})
    created = api_clinician.post(url, {"pathway": "prostate-active-surveillance"}, format="json")
    assert created.status_code == 201
    assert created.data["latest_version"] == 1 and len(created.data["versions"]) == 1
    plan_id = created.data["public_id"]
    versions = reverse(
        "api:patient-care-plan-versions",
        kwargs={"public_id": patient.public_id, "care_plan_id": plan_id},
    )
    body = {"sections": [{"position": 3, "heading": "Changing your mind", "body": "Ask us."}]}
    saved = api_clinician.post(versions, {**body, "note": "api"}, format="json")
    assert saved.status_code == 201 and saved.data["number"] == 2
    again = api_clinician.post(versions, body, format="json")
    assert again.status_code == 200 and again.data["number"] == 2
    detail = api_clinician.get(
        reverse(
            "api:patient-care-plan",
            kwargs={"public_id": patient.public_id, "care_plan_id": plan_id},
        )
    )
    assert [v["number"] for v in detail.data["versions"]] == [1, 2]
    assert detail.data["versions"][1]["sections"][2]["body"] == "Ask us."
    assert detail.data["document_number"] == f"CP-{plan_id}"
    bad = api_clinician.post(url, {"pathway": "nope"}, format="json")
    assert bad.status_code == 400 and "pathway" in bad.data
