"""REST API of the worklists: read-only for now (the worklist UI and its actions come next).

Items are read through ``worklists.selectors``: a user sees the items of their own teams,
and an active superuser also the administrators' items that have no team. Anything else is a
404. Opening one item that concerns a patient is a read of that patient's record and is
written to the access log (channel "api").
"""

from __future__ import annotations

import uuid

from django.http import Http404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from rms import access, services
from rms.api.common import request_user as _user
from worklists import selectors
from worklists.api.serializers import (
    ALL,
    WorkItemDetailOutputSerializer,
    WorkItemFilterSerializer,
    WorkItemOutputSerializer,
)
from worklists.models import WorkItem

TAGS = ["worklist"]

INVALID = OpenApiResponse(description="Invalid filter; the body names each parameter in error.")
NOT_FOUND = OpenApiResponse(
    description="No such work item in your teams (another team's item is a 404 too)."
)


class WorkItemPagination(LimitOffsetPagination):
    # As rms.api.views.ApiPagination: a bigger page on request, never the whole table.
    max_limit = 200


class WorkItemListApi(APIView):
    pagination_class = WorkItemPagination
    OutputSerializer = WorkItemOutputSerializer

    @extend_schema(
        operation_id="worklist_list",
        tags=TAGS,
        summary="The work items of your teams, most urgent first, then oldest first",
        parameters=[WorkItemFilterSerializer],
        responses={200: WorkItemOutputSerializer(many=True), 400: INVALID},
    )
    def get(self, request: Request) -> Response:
        filters = WorkItemFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        params = filters.validated_data
        status = params.get("status", selectors.ACTIVE)
        items = selectors.work_item_list(
            user=_user(request),
            kind=params.get("kind") or None,
            status=None if status == ALL else status,
            priority=params.get("priority"),
            team_code=params.get("team") or None,
            mine=params.get("mine", False),
        )
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(items, request, view=self)
        rows = list(items) if page is None else page  # None: no page size configured at all
        access.patients_listed(
            request=request,
            patient_ids=[item.patient_id for item in rows],
            action="worklist",
            channel="api",
        )
        if page is None:
            return Response(self.OutputSerializer(rows, many=True).data)
        return paginator.get_paginated_response(self.OutputSerializer(page, many=True).data)


class WorkItemDetailApi(APIView):
    OutputSerializer = WorkItemDetailOutputSerializer

    @extend_schema(
        operation_id="worklist_retrieve",
        tags=TAGS,
        summary="One work item with its history (who changed what, when)",
        responses={200: WorkItemDetailOutputSerializer, 404: NOT_FOUND},
    )
    def get(self, request: Request, public_id: uuid.UUID) -> Response:
        user = _user(request)
        try:
            item = selectors.work_item_get(user=user, public_id=public_id)
        except WorkItem.DoesNotExist:
            raise Http404("No such work item.") from None
        if item.patient is not None:
            services.access_event_record(
                user=user,
                patient=item.patient,
                action="work item",
                channel="api",
                ip_address=access.client_ip(request),
            )
        return Response(self.OutputSerializer(item).data)
