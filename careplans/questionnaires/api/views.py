"""REST API of questionnaires: the questionnaires offered, a patient's requests (list, send one
through PKB), a patient's responses (list, post one as FHIR JSON).

As in ``rms.api.views``: the patient is opened with ``rms.api.common.open_patient`` (scoped to
the token user's teams, logged with channel "api"; another team's patient is a 404), writes need
a clinician or team admin role in one of the patient's teams (a viewer gets a 403), and the
services validate, score and record who did what.
"""

from __future__ import annotations

import uuid

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from careplans.models import Questionnaire, QuestionnaireResponse
from careplans.questionnaires import selectors, services
from careplans.questionnaires.api.serializers import (
    QuestionnaireOutputSerializer,
    RequestInputSerializer,
    RequestOutputSerializer,
    ResponseInputSerializer,
    ResponseOutputSerializer,
)
from rms.api.common import (
    READ_ONLY,
    ApiPagination,
    open_patient,
    request_user,
    require_write,
    service_errors,
)

TAGS = ["questionnaires"]
NOT_FOUND = OpenApiResponse(
    description="No such patient in your teams (a patient of another team is a 404 too)."
)
INVALID = OpenApiResponse(description="Invalid input; the body says why.")


def _questionnaire(code: str) -> Questionnaire:
    try:
        return selectors.questionnaire_get(code=code)
    except Questionnaire.DoesNotExist:
        raise serializers.ValidationError(
            {"questionnaire": [f"No questionnaire is offered with the code {code!r}."]}
        ) from None


class QuestionnaireListApi(APIView):
    @extend_schema(
        operation_id="questionnaires_list",
        tags=TAGS,
        summary="The questionnaires offered",
        description="Active questionnaires with their FHIR definition and scoring rules.",
        responses={200: QuestionnaireOutputSerializer(many=True)},
    )
    def get(self, request: Request) -> Response:
        rows = selectors.questionnaire_list()
        return Response(QuestionnaireOutputSerializer(rows, many=True).data)


class PatientRequestListApi(APIView):
    @extend_schema(
        operation_id="patients_questionnaire_requests_list",
        tags=TAGS,
        summary="A patient's questionnaire requests",
        responses={200: RequestOutputSerializer(many=True), 404: NOT_FOUND},
    )
    def get(self, request: Request, public_id: uuid.UUID) -> Response:
        patient = open_patient(request, public_id, "questionnaires")
        paginator = ApiPagination()
        page = paginator.paginate_queryset(selectors.request_list(patient=patient), request)
        return paginator.get_paginated_response(RequestOutputSerializer(page, many=True).data)

    @extend_schema(
        operation_id="patients_questionnaire_requests_create",
        tags=TAGS,
        summary="Send a questionnaire to the patient through PKB",
        description="Creates a pending request; the PKB bridge delivers it.",
        request=RequestInputSerializer,
        responses={201: RequestOutputSerializer, 400: INVALID, 403: READ_ONLY, 404: NOT_FOUND},
    )
    def post(self, request: Request, public_id: uuid.UUID) -> Response:
        user = request_user(request)
        patient = open_patient(request, public_id, "questionnaire_send")
        require_write(user, patient)
        serializer = RequestInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        questionnaire = _questionnaire(data["questionnaire"])
        with service_errors():
            made = services.request_create(
                patient=patient,
                questionnaire=questionnaire,
                actor=user,
                due_date=data.get("due_date"),
            )
        return Response(RequestOutputSerializer(made).data, status=status.HTTP_201_CREATED)


class PatientResponseListApi(APIView):
    @extend_schema(
        operation_id="patients_questionnaire_responses_list",
        tags=TAGS,
        summary="A patient's questionnaire responses, newest first, with their scores",
        responses={200: ResponseOutputSerializer(many=True), 404: NOT_FOUND},
    )
    def get(self, request: Request, public_id: uuid.UUID) -> Response:
        patient = open_patient(request, public_id, "questionnaires")
        paginator = ApiPagination()
        page = paginator.paginate_queryset(selectors.response_list(patient=patient), request)
        return paginator.get_paginated_response(ResponseOutputSerializer(page, many=True).data)

    @extend_schema(
        operation_id="patients_questionnaire_responses_create",
        tags=TAGS,
        summary="Record a completed questionnaire (FHIR QuestionnaireResponse JSON)",
        description=(
            "The response is checked against the questionnaire's items, scored and stored as "
            "entered by the caller; when an alert rule fires, one work item is raised. An "
            "invalid response is a 400 saying why."
        ),
        request=ResponseInputSerializer,
        responses={201: ResponseOutputSerializer, 400: INVALID, 403: READ_ONLY, 404: NOT_FOUND},
    )
    def post(self, request: Request, public_id: uuid.UUID) -> Response:
        user = request_user(request)
        patient = open_patient(request, public_id, "questionnaire_enter")
        require_write(user, patient)
        serializer = ResponseInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        questionnaire = _questionnaire(data["questionnaire"])
        answered = None
        if data.get("request"):
            answered = (
                selectors.request_list(patient=patient).filter(public_id=data["request"]).first()
            )
            if answered is None:
                raise serializers.ValidationError({"request": ["No such request."]})
        if not isinstance(data["response"], dict):
            raise serializers.ValidationError({"response": ["Must be a JSON object."]})
        with service_errors():
            stored = services.record_response(
                patient=patient,
                questionnaire=questionnaire,
                response_json=data["response"],
                source=QuestionnaireResponse.Source.CLINICIAN,
                actor=user,
                request=answered,
            )
        stored = selectors.response_list(patient=patient).get(pk=stored.pk)
        return Response(ResponseOutputSerializer(stored).data, status=status.HTTP_201_CREATED)
