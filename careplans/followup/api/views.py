"""REST API of the follow-up plans: a patient's plans, and starting one.

As in ``rms.api.views``: the patient is opened with ``rms.access.patient_for_request``
(scoped to the token user's teams, logged with channel "api"; another team's patient is a
404), writes need a clinician or team admin role in one of the patient's teams (a viewer gets
a 403), and the services decide and record who did what.
"""

from __future__ import annotations

import uuid

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from careplans.followup import selectors, services
from careplans.followup.api.serializers import PlanOutputSerializer, PlanStartInputSerializer
from rms.api.common import READ_ONLY, require_write
from rms.api.common import open_patient as _open_patient
from rms.api.common import request_user as _user
from rms.api.common import service_errors as _service_errors
from rms.models import Team

TAGS = ["plans"]

NOT_FOUND = OpenApiResponse(
    description="No such patient in your teams (a patient of another team is a 404 too)."
)


class PatientPlanListApi(APIView):
    OutputSerializer = PlanOutputSerializer
    InputSerializer = PlanStartInputSerializer

    @extend_schema(
        operation_id="patients_plans_list",
        tags=TAGS,
        summary="A patient's follow-up plans",
        description="Open plans (active or paused) first, then ended ones, newest first. "
        "Not paginated: a patient has a handful of plans.",
        responses={200: PlanOutputSerializer(many=True), 404: NOT_FOUND},
    )
    def get(self, request: Request, public_id: uuid.UUID) -> Response:
        patient = _open_patient(request, public_id, "plans")
        plans = selectors.plan_list(patient=patient)
        return Response(self.OutputSerializer(plans, many=True).data)

    @extend_schema(
        operation_id="patients_plans_create",
        tags=TAGS,
        summary="Start a follow-up plan from a pathway",
        description=(
            "Copies the pathway's test schedule and rules onto a plan for this patient, "
            "counted from `anchor_date` (the treatment date), and sets each test's first due "
            "date. 201 when a plan starts; 200 with the open plan when the patient already "
            "follows this pathway. An unknown pathway is a 400 under `pathway`; an anchor date "
            "in the future or more than 30 years ago a 400 under `anchor_date`."
        ),
        request=PlanStartInputSerializer,
        responses={
            201: PlanOutputSerializer,
            200: PlanOutputSerializer,
            400: OpenApiResponse(description="Invalid input; the body names each field."),
            403: READ_ONLY,
            404: NOT_FOUND,
        },
    )
    def post(self, request: Request, public_id: uuid.UUID) -> Response:
        user = _user(request)
        patient = _open_patient(request, public_id, "plan_start")
        require_write(user, patient)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        pathway = selectors.pathway_get(code=data["pathway"])
        if pathway is None:
            raise serializers.ValidationError(
                {"pathway": [f"No pathway is offered with the code {data['pathway']!r}."]}
            )
        team = None
        code = data.get("team", "").strip().upper()
        if code:
            team = Team.objects.filter(code=code).first()
            if team is None:
                raise serializers.ValidationError({"team": [f"Unknown team: {code}"]})
        existing = selectors.plan_open(patient=patient, pathway=pathway)
        with _service_errors():
            plan = services.plan_start(
                patient=patient,
                pathway=pathway,
                anchor_date=data["anchor_date"],
                actor=user,
                team=team,
            )
        plan = selectors.plan_list(patient=patient).get(pk=plan.pk)
        answer = status.HTTP_200_OK if existing is not None else status.HTTP_201_CREATED
        return Response(self.OutputSerializer(plan).data, status=answer)
