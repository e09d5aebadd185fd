"""REST API of care plans and consent records.

As in ``careplans.followup.api.views``: the patient is opened with
``rms.access.patient_for_request`` (scoped to the token user's teams, logged with channel
"api"; another team's patient is a 404), writes need a clinician or team admin role in one of
the patient's teams (a viewer gets a 403), and the services decide, record who did what, and share
the result with PKB.
"""

from __future__ import annotations

import uuid

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from careplans.care_plans import selectors, services
from careplans.care_plans.api.serializers import (
    CarePlanCreateInputSerializer,
    CarePlanOutputSerializer,
    CarePlanSummaryOutputSerializer,
    CarePlanVersionInputSerializer,
    CarePlanVersionOutputSerializer,
    ConsentInputSerializer,
    ConsentOutputSerializer,
    ConsentWithdrawInputSerializer,
)
from careplans.models import CarePlan, ConsentRecord, Resource
from rms import selectors as rms_selectors
from rms.api.common import READ_ONLY, open_patient, request_user, require_write, service_errors
from rms.models import Patient

CARE_PLAN_TAGS = ["care plans"]
CONSENT_TAGS = ["consent"]

NOT_FOUND = OpenApiResponse(
    description="No such patient in your teams (a patient of another team is a 404 too), "
    "or no such care plan or consent record for the patient."
)
INVALID = OpenApiResponse(description="Invalid input; the body names each field.")


def _care_plan(patient: Patient, care_plan_id: uuid.UUID) -> CarePlan:
    care_plan = selectors.care_plan_get(patient=patient, public_id=care_plan_id)
    if care_plan is None:
        raise NotFound("No such care plan for this patient.")
    return care_plan


def _care_plan_data(patient: Patient, care_plan: CarePlan) -> dict[str, object]:
    fresh = selectors.care_plan_list(patient=patient).get(pk=care_plan.pk)
    versions = list(selectors.version_list(care_plan=fresh))
    return dict(CarePlanOutputSerializer(fresh, context={"versions": versions}).data)


class PatientCarePlanListApi(APIView):
    @extend_schema(
        operation_id="patients_care_plans_list",
        tags=CARE_PLAN_TAGS,
        summary="A patient's care plans",
        description="Newest first, each with its current version number. Not paginated.",
        responses={200: CarePlanSummaryOutputSerializer(many=True), 404: NOT_FOUND},
    )
    def get(self, request: Request, public_id: uuid.UUID) -> Response:
        patient = open_patient(request, public_id, "care_plans")
        plans = selectors.care_plan_list(patient=patient)
        return Response(CarePlanSummaryOutputSerializer(plans, many=True).data)

    @extend_schema(
        operation_id="patients_care_plans_create",
        tags=CARE_PLAN_TAGS,
        summary="Make a care plan from a pathway's template",
        description=(
            "Version 1 is the template's sections, with the patient's follow-up schedule and "
            "the team's contact details filled in. It is shared with PKB as a care plan "
            "document (TXA-2 CP) when the patient is enrolled. An unknown pathway, or one "
            "without a care plan template, is a 400 under `pathway`."
        ),
        request=CarePlanCreateInputSerializer,
        responses={201: CarePlanOutputSerializer, 400: INVALID, 403: READ_ONLY, 404: NOT_FOUND},
    )
    def post(self, request: Request, public_id: uuid.UUID) -> Response:
        user = request_user(request)
        patient = open_patient(request, public_id, "care_plan_create")
        require_write(user, patient)
        serializer = CarePlanCreateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        template = selectors.template_list().filter(pathway__code=data["pathway"]).first()
        if template is None:
            raise serializers.ValidationError(
                {"pathway": [f"No care plan template is offered for {data['pathway']!r}."]}
            )
        with service_errors():
            care_plan = services.care_plan_create(
                patient=patient, template=template, actor=user, note=data.get("note", "")
            )
        return Response(_care_plan_data(patient, care_plan), status=status.HTTP_201_CREATED)


class PatientCarePlanDetailApi(APIView):
    @extend_schema(
        operation_id="patients_care_plans_retrieve",
        tags=CARE_PLAN_TAGS,
        summary="A care plan with every version",
        responses={200: CarePlanOutputSerializer, 404: NOT_FOUND},
    )
    def get(self, request: Request, public_id: uuid.UUID, care_plan_id: uuid.UUID) -> Response:
        patient = open_patient(request, public_id, "care_plan")
        return Response(_care_plan_data(patient, _care_plan(patient, care_plan_id)))


class PatientCarePlanVersionListApi(APIView):
    @extend_schema(
        operation_id="patients_care_plans_versions_create",
        tags=CARE_PLAN_TAGS,
        summary="Save a new version of a care plan",
        description=(
            "The sections given (by position) replace those of the current version; the "
            "others are copied. The new version is shared with PKB under the plan's document "
            "number, so PKB replaces the plan and keeps its history. 201 with the new "
            "version; 200 with the current one when nothing would change."
        ),
        request=CarePlanVersionInputSerializer,
        responses={
            201: CarePlanVersionOutputSerializer,
            200: CarePlanVersionOutputSerializer,
            400: INVALID,
            403: READ_ONLY,
            404: NOT_FOUND,
        },
    )
    def post(self, request: Request, public_id: uuid.UUID, care_plan_id: uuid.UUID) -> Response:
        user = request_user(request)
        patient = open_patient(request, public_id, "care_plan_edit")
        require_write(user, patient)
        care_plan = _care_plan(patient, care_plan_id)
        serializer = CarePlanVersionInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        before = selectors.version_latest(care_plan=care_plan)
        with service_errors():
            version = services.care_plan_revise(
                care_plan=care_plan,
                changes=services.section_texts(data["sections"]),
                actor=user,
                note=data.get("note", ""),
            )
        fresh = selectors.version_get(care_plan=care_plan, number=version.number)
        created = before is None or version.number != before.number
        return Response(
            CarePlanVersionOutputSerializer(fresh).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class PatientConsentListApi(APIView):
    @extend_schema(
        operation_id="patients_consents_list",
        tags=CONSENT_TAGS,
        summary="A patient's consent records",
        description="Latest first. A withdrawal is a record of its own naming what it "
        "withdraws. Not paginated.",
        responses={200: ConsentOutputSerializer(many=True), 404: NOT_FOUND},
    )
    def get(self, request: Request, public_id: uuid.UUID) -> Response:
        patient = open_patient(request, public_id, "consent")
        records = selectors.consent_list(patient=patient)
        return Response(ConsentOutputSerializer(records, many=True).data)

    @extend_schema(
        operation_id="patients_consents_create",
        tags=CONSENT_TAGS,
        summary="Record a consent decision",
        description="Given or declined, with what was consented to, the information given, "
        "how and when. The caller is recorded as who recorded it. Shared with PKB as a "
        "document of its own when the patient is enrolled.",
        request=ConsentInputSerializer,
        responses={201: ConsentOutputSerializer, 400: INVALID, 403: READ_ONLY, 404: NOT_FOUND},
    )
    def post(self, request: Request, public_id: uuid.UUID) -> Response:
        user = request_user(request)
        patient = open_patient(request, public_id, "consent_record")
        require_write(user, patient)
        serializer = ConsentInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        resource = None
        if data.get("resource"):
            resource = Resource.objects.filter(
                public_id=data["resource"], team__in=rms_selectors.team_list(user=user)
            ).first()
            if resource is None:
                raise serializers.ValidationError({"resource": ["No such resource in your teams."]})
        with service_errors():
            record = services.consent_record(
                patient=patient,
                topic=data["topic"],
                information_given=data.get("information_given", ""),
                resource=resource,
                method=data["method"],
                status=data["status"],
                given_at=data["given_at"],
                note=data.get("note", ""),
                actor=user,
            )
        return Response(ConsentOutputSerializer(record).data, status=status.HTTP_201_CREATED)


class PatientConsentWithdrawApi(APIView):
    @extend_schema(
        operation_id="patients_consents_withdraw",
        tags=CONSENT_TAGS,
        summary="Record that consent was withdrawn",
        description="A new record (status withdrawn) naming the one it withdraws; the earlier "
        "record is not changed. 201 with the withdrawal; 200 with it when already withdrawn.",
        request=ConsentWithdrawInputSerializer,
        responses={
            201: ConsentOutputSerializer,
            200: ConsentOutputSerializer,
            400: INVALID,
            403: READ_ONLY,
            404: NOT_FOUND,
        },
    )
    def post(self, request: Request, public_id: uuid.UUID, consent_id: uuid.UUID) -> Response:
        user = request_user(request)
        patient = open_patient(request, public_id, "consent_withdraw")
        require_write(user, patient)
        record = selectors.consent_get(patient=patient, public_id=consent_id)
        if record is None:
            raise NotFound("No such consent record for this patient.")
        serializer = ConsentWithdrawInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        already = ConsentRecord.objects.filter(withdraws=record).exists()
        with service_errors():
            withdrawal = services.consent_withdraw(
                consent=record,
                method=data["method"],
                withdrawn_at=data.get("withdrawn_at"),
                note=data.get("note", ""),
                actor=user,
            )
        return Response(
            ConsentOutputSerializer(withdrawal).data,
            status=status.HTTP_200_OK if already else status.HTTP_201_CREATED,
        )
