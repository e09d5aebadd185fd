"""Care plans: made from a pathway's template, each save a new version shared as one PKB care
plan document; the required end-to-end check runs the real delivery path to the sandbox."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from careplans.care_plans import selectors, services
from careplans.followup import services as plan_services
from careplans.models import CarePlan, CarePlanTemplate, CarePlanVersion
from pkb_bridge import services as pkb
from pkb_bridge.models import OutboundMessage
from pkb_bridge.transport import PkbTransport
from rms.models import Document

pytestmark = pytest.mark.django_db

XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'


@pytest.fixture
def template() -> CarePlanTemplate:
    return CarePlanTemplate.objects.get(pathway__code="prostate-post-prostatectomy")


def drain(transport: PkbTransport) -> None:
    for _ in range(5):
        if not pkb.dispatch(transport=transport, budget_s=10):
            break


def test_each_seeded_pathway_has_a_template_with_the_three_kinds_of_section():
    for code in (
        "prostate-post-prostatectomy",
        "prostate-post-radiotherapy",
        "prostate-active-surveillance",
        "colorectal-cea",
    ):
        template = CarePlanTemplate.objects.get(pathway__code=code)
        kinds = [s.kind for s in template.sections.order_by("position")]
        assert {"schedule", "symptoms", "contacts"} <= set(kinds)
    colorectal = CarePlanTemplate.objects.get(pathway__code="colorectal-cea")
    assert "blood in your poo" in colorectal.sections.get(kind="symptoms").body


def test_a_clinician_makes_a_care_plan_with_the_schedule_and_the_team_filled_in(
    patient, clinician, template, settings
):
    settings.PKB_TEAM_CONTACT = "the CNS line on 01234 567890"
    plan_services.plan_start(
        patient=patient,
        pathway=template.pathway,
        anchor_date=timezone.localdate() - dt.timedelta(days=30),
        actor=clinician,
    )
    care_plan = services.care_plan_create(patient=patient, template=template, actor=clinician)

    version = selectors.version_latest(care_plan=care_plan)
    assert version is not None and version.number == 1 and version.author == clinician
    sections = {s.kind: s for s in version.sections.all()}
    assert "PSA" in sections["schedule"].body and "every 3 months" in sections["schedule"].body
    assert "Your next test is due around" in sections["schedule"].body
    contacts = sections["contacts"].body
    assert "Urology CNS team" in contacts and "01234 567890" in contacts
    assert "{team_name}" not in contacts
    assert "bone" in sections["symptoms"].body
    document = Document.objects.get(patient=patient)
    assert document.document_type == "CP"
    assert document.document_number == f"CP-{care_plan.public_id}"
    assert version.document == document


def test_each_save_is_a_new_version_under_the_same_document_number(patient, clinician, template):
    care_plan = services.care_plan_create(patient=patient, template=template, actor=clinician)
    first = services.care_plan_section_update(
        care_plan=care_plan,
        position=1,
        heading="Your tests",
        body="PSA every 3 months.",
        actor=clinician,
        note="Simpler words",
    )
    second = services.care_plan_section_update(
        care_plan=care_plan,
        position=1,
        heading="Your tests",
        body="PSA every 6 months.",
        actor=clinician,
    )
    assert (first.number, second.number) == (2, 3)
    assert first.note == "Simpler words"
    assert CarePlanVersion.objects.filter(care_plan=care_plan).count() == 3
    # Version 2 is kept as it was saved.
    assert (
        selectors.version_get(care_plan=care_plan, number=2).sections.get(position=1).body
        == "PSA every 3 months."
    )
    assert Document.objects.filter(patient=patient).count() == 1
    document = Document.objects.get(patient=patient)
    assert "PSA every 6 months." in document.content_html


def test_saving_without_a_change_makes_no_version(patient, clinician, template):
    care_plan = services.care_plan_create(patient=patient, template=template, actor=clinician)
    section = selectors.version_latest(care_plan=care_plan).sections.get(position=2)
    again = services.care_plan_section_update(
        care_plan=care_plan,
        position=2,
        heading=section.heading,
        body=section.body,
        actor=clinician,
    )
    assert again.number == 1


def test_a_section_needs_a_heading_and_must_exist(patient, clinician, template):
    care_plan = services.care_plan_create(patient=patient, template=template, actor=clinician)
    with pytest.raises(ValidationError) as blank:
        services.care_plan_section_update(
            care_plan=care_plan, position=1, heading=" ", body="x", actor=clinician
        )
    assert "heading" in blank.value.message_dict
    with pytest.raises(ValidationError) as missing:
        services.care_plan_section_update(
            care_plan=care_plan, position=99, heading="h", body="x", actor=clinician
        )
    assert "position" in missing.value.message_dict


def test_viewers_and_other_teams_cannot_make_or_change_care_plans(
    patient, clinician, viewer, other_team_clinician, template
):
    with pytest.raises(PermissionDenied):
        services.care_plan_create(patient=patient, template=template, actor=viewer)
    care_plan = services.care_plan_create(patient=patient, template=template, actor=clinician)
    for actor in (viewer, other_team_clinician):
        with pytest.raises(PermissionDenied):
            services.care_plan_section_update(
                care_plan=care_plan, position=1, heading="h", body="b", actor=actor
            )
    assert CarePlan.objects.count() == 1 and CarePlanVersion.objects.count() == 1


def test_clinician_text_is_escaped_in_the_html_shared(patient, clinician, template):
    care_plan = services.care_plan_create(patient=patient, template=template, actor=clinician)
    version = services.care_plan_section_update(
        care_plan=care_plan, position=3, heading=f"Heading {XSS}", body=XSS, actor=clinician
    )
    for html in (version.content_html, Document.objects.get(patient=patient).content_html):
        assert "<script>" not in html and "<img" not in html
        assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html


def test_a_care_plan_edited_twice_reaches_pkb_as_two_versions_of_one_plan(
    patient, clinician, template, sandbox, transport, django_capture_on_commit_callbacks
):
    pkb.enrolment_opt_in(
        attestation="Consented in clinic, paper form filed", patient=patient, actor=clinician
    )
    care_plan = services.care_plan_create(patient=patient, template=template, actor=clinician)
    with django_capture_on_commit_callbacks(execute=True):
        drain(transport)
    services.care_plan_section_update(
        care_plan=care_plan,
        position=3,
        heading="After your operation",
        body="First edit: pelvic floor exercises three times a day.",
        actor=clinician,
    )
    services.care_plan_section_update(
        care_plan=care_plan,
        position=3,
        heading="After your operation",
        body="Second edit: pelvic floor exercises three times a day, for three months.",
        actor=clinician,
    )
    with django_capture_on_commit_callbacks(execute=True):
        drain(transport)

    assert not OutboundMessage.objects.exclude(status="delivered").exists()
    seen = sandbox.state.patient(patient.nhs_number)
    assert seen is not None
    plans = seen["care_plans"]
    assert len(plans) == 1, "one care plan, one TXA-12"
    (number,) = plans
    # TXA-12 is an EI of at most 30 characters in v2.4; the plan's own number is longer.
    assert len(number) <= 30 and number.startswith("CP-")
    versions = plans[number]["versions"]
    # Version 1 (created), then the two edits.
    assert len(versions) == 3
    assert "First edit" in versions[1]["text"] and "Second edit" not in versions[1]["text"]
    assert "Second edit" in versions[2]["text"]
    assert not seen["documents"], "a care plan is not kept as an ordinary document"
    mdm = [m for m in sandbox.state.messages() if m["message_type"].startswith("MDM")]
    assert len(mdm) == 3
