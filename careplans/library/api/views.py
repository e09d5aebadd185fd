"""REST API of the resource library: a team's resources, sharing a resource or a pack with a
patient, recording a milestone.

A team is one of the token user's (another team is a 404); the patient is opened with
``rms.api.common.open_patient`` (scoped, logged); writes need a clinician or team admin role
in one of the patient's teams (a viewer gets a 403); the services decide, and their refusals
are 400s naming the field.
"""

from __future__ import annotations

import uuid

from django.http import Http404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from careplans.followup import selectors
from careplans.library import selectors as reads
from careplans.library import services
from careplans.library.api.serializers import (
    LibraryResourceOutputSerializer,
    MilestoneInputSerializer,
    MilestoneOutputSerializer,
    ShareInputSerializer,
    ShareOutputSerializer,
)
from careplans.models import InformationPack
from rms import selectors as rms_selectors
from rms.api.common import (
    READ_ONLY,
    ApiPagination,
    open_patient,
    request_user,
    require_write,
    service_errors,
)

TAGS = ["library"]
NOT_FOUND = OpenApiResponse(description="Not in your teams (another team's is a 404 too).")
INVALID = OpenApiResponse(description="Refused; the body names the field and the reason.")


class TeamResourceListApi(APIView):
    @extend_schema(
        operation_id="teams_resources_list",
        tags=TAGS,
        summary="A team's resource library",
        description="Every resource of the team (any status), by title, with its pathways.",
        responses={200: LibraryResourceOutputSerializer(many=True), 404: NOT_FOUND},
    )
    def get(self, request: Request, team_id: uuid.UUID) -> Response:
        user = request_user(request)
        team = rms_selectors.team_list(user=user).filter(public_id=team_id).first()
        if team is None:
            raise Http404("No such team.")
        resources = reads.resource_list(user=user).filter(team=team)
        paginator = ApiPagination()
        page = paginator.paginate_queryset(resources, request, view=self)
        data = LibraryResourceOutputSerializer(page, many=True).data
        return paginator.get_paginated_response(data)


class PatientShareApi(APIView):
    @extend_schema(
        operation_id="patients_resource_shares_list",
        tags=TAGS,
        summary="What was shared with a patient",
        responses={200: ShareOutputSerializer(many=True), 404: NOT_FOUND},
    )
    def get(self, request: Request, public_id: uuid.UUID) -> Response:
        patient = open_patient(request, public_id, "resources")
        return Response(ShareOutputSerializer(reads.share_list(patient=patient), many=True).data)

    @extend_schema(
        operation_id="patients_resource_shares_create",
        tags=TAGS,
        summary="Share a resource or an information pack with a patient",
        description=(
            "Sends the patient a letter listing the resource(s), through PKB when the patient "
            "is enrolled. A resource must be approved and within its review date (else 400 "
            "under `resource`). A pack is shared once: 201 the first time, 200 with the "
            "earlier share after that."
        ),
        request=ShareInputSerializer,
        responses={
            201: ShareOutputSerializer,
            200: ShareOutputSerializer,
            400: INVALID,
            403: READ_ONLY,
            404: NOT_FOUND,
        },
    )
    def post(self, request: Request, public_id: uuid.UUID) -> Response:
        user = request_user(request)
        patient = open_patient(request, public_id, "resource_share")
        require_write(user, patient)
        serializer = ShareInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        created = True
        with service_errors():
            if "resource" in data:
                resource = reads.resource_list(user=user).filter(public_id=data["resource"]).first()
                if resource is None:
                    raise serializers.ValidationError(
                        {"resource": ["No such resource in your teams' libraries."]}
                    )
                share = services.resource_share(patient=patient, resource=resource, actor=user)
            else:
                pack = InformationPack.objects.filter(
                    public_id=data["pack"], team__in=rms_selectors.team_list(user=user)
                ).first()
                if pack is None:
                    raise serializers.ValidationError(
                        {"pack": ["No such information pack in your teams."]}
                    )
                share, created = services.pack_share(patient=patient, pack=pack, actor=user)
        answer = status.HTTP_201_CREATED if created else status.HTTP_200_OK
        return Response(ShareOutputSerializer(share).data, status=answer)


class PatientMilestoneApi(APIView):
    @extend_schema(
        operation_id="patients_milestones_create",
        tags=TAGS,
        summary="Record a milestone the patient reached",
        description=(
            "Records the milestone once (with the first of the patient's teams in which you "
            "write) and shares each of that team's active information packs for the pathway "
            "and milestone not yet shared; `shares` lists those shared by this call."
        ),
        request=MilestoneInputSerializer,
        responses={201: MilestoneOutputSerializer, 400: INVALID, 403: READ_ONLY, 404: NOT_FOUND},
    )
    def post(self, request: Request, public_id: uuid.UUID) -> Response:
        user = request_user(request)
        patient = open_patient(request, public_id, "milestone")
        require_write(user, patient)
        serializer = MilestoneInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        pathway = selectors.pathway_get(code=data["pathway"])
        if pathway is None:
            raise serializers.ValidationError(
                {"pathway": [f"No pathway is offered with the code {data['pathway']!r}."]}
            )
        with service_errors():
            reached, shares = services.milestone_reach(
                patient=patient, pathway=pathway, milestone=data["milestone"], actor=user
            )
        reached.new_shares = shares  # type: ignore[attr-defined]
        return Response(MilestoneOutputSerializer(reached).data, status=status.HTTP_201_CREATED)
