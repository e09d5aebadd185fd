from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from careplans.models import (
    CarePlan,
    ConsentRecord,
    InformationPack,
    PathwayResource,
    QuestionnaireResponse,
    Resource,
    ResourceShare,
)
from rms.models import Result
from worklists.models import WorkItem

pytestmark = pytest.mark.django_db


def _counts() -> dict[str, int]:
    return {
        "resources": Resource.objects.count(),
        "tags": PathwayResource.objects.count(),
        "packs": InformationPack.objects.count(),
        "care_plans": CarePlan.objects.count(),
        "consent": ConsentRecord.objects.count(),
        "responses": QuestionnaireResponse.objects.count(),
        "shares": ResourceShare.objects.count(),
        "work_items": WorkItem.objects.count(),
    }


def _phq9_alerts() -> int:
    return WorkItem.objects.filter(
        kind=WorkItem.Kind.QUESTIONNAIRE_ALERT, title__startswith="PHQ-9"
    ).count()


def test_demo_care_fills_the_library_plans_consent_and_answers_once() -> None:
    call_command("load_demo", stdout=io.StringIO())
    call_command("demo_plans", stdout=io.StringIO())
    call_command("demo_care", stdout=io.StringIO())

    uro = Resource.objects.filter(team__code="URO")
    assert uro.count() == 6
    assert uro.filter(status=Resource.Status.DRAFT).count() == 1
    assert uro.filter(status=Resource.Status.RETIRED).count() == 1
    approved = uro.filter(status=Resource.Status.APPROVED)
    assert approved.count() == 4
    assert set(approved.values_list("approved_by__username", flat=True)) == {"onc.uro"}
    assert Resource.objects.filter(team__code="CRC").count() == 3
    assert WorkItem.objects.filter(kind=WorkItem.Kind.RESOURCE_REVIEW).count() == 1
    packs = InformationPack.objects.filter(pathway__code="prostate-post-prostatectomy")
    assert sorted(packs.values_list("milestone", flat=True)) == [
        "after_treatment",
        "before_treatment",
        "remote_follow_up",
    ]

    plans = CarePlan.objects.all()
    assert plans.count() == 3
    assert sorted(plan.versions.count() for plan in plans) == [1, 1, 2]
    assert ConsentRecord.objects.filter(status="withdrawn").count() == 1
    assert ConsentRecord.objects.filter(status="given").count() == 6

    responses = QuestionnaireResponse.objects.filter(source="clinician")
    assert responses.filter(questionnaire__code="epic-26").count() == 9
    assert responses.filter(questionnaire__code="hna-concerns").count() == 6
    assert set(responses.values_list("entered_by__username", flat=True)) == {"cns.uro"}
    assert _phq9_alerts() == 1
    # The discharge to remote follow-up shared its pack, with a document for PKB.
    share = ResourceShare.objects.get(pack__milestone="remote_follow_up")
    assert share.document is not None

    before = _counts()
    call_command("demo_care", stdout=io.StringIO())
    assert _counts() == before
    assert _phq9_alerts() == 1


def test_demo_patient_data_files_weights_and_a_blood_pressure_as_from_pkb_once(
    demo_settings,
) -> None:
    call_command("load_demo", stdout=io.StringIO())
    call_command("demo_plans", stdout=io.StringIO())
    call_command("demo_patient_data", stdout=io.StringIO())

    entered = Result.objects.filter(category=Result.Category.PATIENT, source_system="PKB")
    assert entered.filter(service_code="29463-7").count() == 8
    assert entered.filter(service_code="85354-9").count() == 1
    assert len({result.patient_id for result in entered}) == 2
    count = entered.count()
    call_command("demo_patient_data", stdout=io.StringIO())
    assert entered.count() == count
