"""REST API of the PKB bridge: a patient's enrolment (sharing with Patients Know Best).

As in ``rms.api.views``: the patient is opened with ``rms.access.patient_for_request``
(scoped to the token user's teams, logged with channel "api"; another team's patient is a
404), writes need a clinician or team admin role in one of the patient's teams (a viewer gets
a 403), and the services decide and record who did what.
"""

from __future__ import annotations

import uuid

from django.http import Http404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from pkb_bridge import selectors, services
from pkb_bridge.api.serializers import (
    EnrolmentCreateInputSerializer,
    EnrolmentOutputSerializer,
    EnrolmentWithdrawInputSerializer,
    OptInPreviewOutputSerializer,
)
from rms.api.common import READ_ONLY
from rms.api.common import open_patient as _open_patient
from rms.api.common import request_user as _user
from rms.api.common import require_write as _require_write
from rms.api.common import service_errors as _service_errors
from rms.models import Team

TAGS = ["pkb"]

NOT_FOUND = OpenApiResponse(
    description="No such patient in your teams (a patient of another team is a 404 too)."
)
NOT_SHARED = OpenApiResponse(
    description="No such patient in your teams, or the patient is not shared with PKB."
)


class PatientEnrolmentApi(APIView):
    OutputSerializer = EnrolmentOutputSerializer

    @extend_schema(
        operation_id="patients_enrolment_retrieve",
        tags=TAGS,
        summary="The patient's current sharing with PKB",
        responses={200: EnrolmentOutputSerializer, 404: NOT_SHARED},
    )
    def get(self, request: Request, public_id: uuid.UUID) -> Response:
        patient = _open_patient(request, public_id, "pkb")
        enrolment = selectors.enrolment_active(patient=patient)
        if enrolment is None:
            raise Http404("The patient is not shared with PKB.")
        return Response(self.OutputSerializer(enrolment).data)

    @extend_schema(
        operation_id="patients_enrolment_create",
        tags=TAGS,
        summary="Share the patient with PKB (opt in)",
        description=(
            "Queues the registration (ADT^A28 with every diagnosis) and then the whole record "
            "in clinical order, under the team's release policy; the patient is invited by "
            "email once PKB accepts the registration. 201 when sharing starts, 200 with the "
            "existing enrolment when the patient is already shared. Only a verified NHS number "
            "(status 01) can be shared: otherwise a 400 names the reason under "
            "`nhs_number_status`. Sharing needs the patient's consent: a consent record on "
            "sharing with Patients Know Best that says given, or, with none recorded, an "
            "`attestation`; otherwise (or when the latest record is a refusal or a withdrawal) "
            "a 400 names the reason under `consent`. Results that are the evidence of an open "
            "threshold-breach work item are held unless `hold_breach_evidence` is false."
        ),
        request=EnrolmentCreateInputSerializer,
        responses={
            201: EnrolmentOutputSerializer,
            200: EnrolmentOutputSerializer,
            400: OpenApiResponse(description="The patient cannot be shared; the body says why."),
            403: READ_ONLY,
            404: NOT_FOUND,
        },
    )
    def post(self, request: Request, public_id: uuid.UUID) -> Response:
        user = _user(request)
        patient = _open_patient(request, public_id, "pkb_opt_in")
        _require_write(user, patient)
        serializer = EnrolmentCreateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        code = serializer.validated_data.get("team", "").strip().upper()
        team = None
        if code:
            team = Team.objects.filter(code=code).first()
            if team is None:
                raise serializers.ValidationError({"team": [f"Unknown team: {code}"]})
        existing = selectors.enrolment_active(patient=patient)
        if existing is not None:
            return Response(self.OutputSerializer(existing).data, status=status.HTTP_200_OK)
        with _service_errors():
            enrolment = services.enrolment_opt_in(
                patient=patient,
                actor=user,
                team=team,
                attestation=serializer.validated_data.get("attestation", ""),
                hold_breach_evidence=serializer.validated_data.get("hold_breach_evidence", True),
            )
        return Response(self.OutputSerializer(enrolment).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        operation_id="patients_enrolment_destroy",
        tags=TAGS,
        summary="Stop sharing the patient with PKB (withdraw)",
        description=(
            'The body is optional: `{"reason": "..."}`, kept with the enrolment. Messages not '
            "yet sent are cancelled; PKB keeps what it already received. Answers with the "
            "withdrawn enrolment."
        ),
        responses={200: EnrolmentOutputSerializer, 403: READ_ONLY, 404: NOT_SHARED},
    )
    def delete(self, request: Request, public_id: uuid.UUID) -> Response:
        user = _user(request)
        patient = _open_patient(request, public_id, "pkb_withdraw")
        _require_write(user, patient)
        body = request.data if isinstance(request.data, dict) else {}
        serializer = EnrolmentWithdrawInputSerializer(data=body)
        serializer.is_valid(raise_exception=True)
        with _service_errors():
            enrolment = services.enrolment_withdraw(
                patient=patient, actor=user, reason=serializer.validated_data.get("reason", "")
            )
        if enrolment is None:
            raise Http404("The patient is not shared with PKB.")
        return Response(self.OutputSerializer(enrolment).data)


class PatientEnrolmentPreviewApi(APIView):
    @extend_schema(
        operation_id="patients_enrolment_preview",
        tags=TAGS,
        summary="What sharing the patient with PKB would send and hold (nothing is shared)",
        description=(
            "Per category, how many items the team's release policy would publish at once, "
            "publish with a delay or hold; the open threshold-breach work items and how many "
            "results are their evidence (held by default); the consent sharing would rest on, "
            "or why an `attestation` is needed or sharing is refused. `?team=CODE` previews as "
            "that team."
        ),
        responses={200: OptInPreviewOutputSerializer, 403: READ_ONLY, 404: NOT_FOUND},
    )
    def get(self, request: Request, public_id: uuid.UUID) -> Response:
        user = _user(request)
        patient = _open_patient(request, public_id, "pkb_opt_in_preview")
        _require_write(user, patient)
        code = str(request.query_params.get("team", "")).strip().upper()
        team = None
        if code:
            team = Team.objects.filter(code=code).first()
            if team is None:
                raise serializers.ValidationError({"team": [f"Unknown team: {code}"]})
        preview = services.opt_in_preview(patient=patient, actor=user, team=team)
        data = {
            "team": preview.team,
            "nhs_number_refusal": services.opt_in_refusal(patient),
            "consent": preview.consent,
            "consent_problem": preview.consent_problem,
            "attestation_allowed": preview.attestation_allowed,
            "total": preview.total,
            "categories": preview.categories,
            "breaches": preview.breaches,
            "breach_evidence": preview.breach_evidence,
        }
        return Response(OptInPreviewOutputSerializer(data).data)
