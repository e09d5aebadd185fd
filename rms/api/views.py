"""REST API v1 of the core record.

Each view validates its input, calls one service or selector and serialises the answer. Every
patient is opened through ``rms.access.patient_for_request``, which scopes the read to the
token user's teams, writes the access log (channel "api") and turns a patient of another team
into a 404. Writes need a clinician or team admin role in one of the patient's teams; a
viewer gets a 403.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from django.contrib.auth.models import User
from django.db import DatabaseError
from django.db.models import Prefetch, QuerySet
from django.http import Http404, HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.parsers import BaseParser
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from rms import access, inbound, permissions, selectors, services
from rms.api.common import READ_ONLY, ApiPagination
from rms.api.common import open_patient as _open_patient
from rms.api.common import request_user as _user
from rms.api.common import require_write as _require_write
from rms.api.common import service_errors as _service_errors
from rms.api.serializers import (
    OPEN_CASELOAD_ATTR,
    AppointmentOutputSerializer,
    DiagnosisInputSerializer,
    DiagnosisOutputSerializer,
    DocumentOutputSerializer,
    DocumentSummaryOutputSerializer,
    PatientInputSerializer,
    PatientOutputSerializer,
    ResultInputSerializer,
    ResultOutputSerializer,
    ResultRecordedOutputSerializer,
)
from rms.api.throttling import INBOUND_SCOPE
from rms.hl7.extract import read_value
from rms.inbound.filing import storable_number
from rms.inbound.matching import Identity, MatchStatus, match_patient
from rms.inbound.senders import Origin
from rms.models import CaseloadEntry, InboundMessage, Observation, Result, Team
from rms.models.teams import WRITE_ROLES

TAGS = ["patients"]

NOT_FOUND = OpenApiResponse(
    description="No such patient in your teams (a patient of another team is a 404 too)."
)
INVALID = OpenApiResponse(description="Invalid input; the body names each field in error.")


def _paginated(
    view: APIView,
    request: Request,
    queryset: QuerySet[Any],
    serializer_class: type,
    *,
    listed_as: str = "",
) -> Response:
    """One page of ``queryset``. With ``listed_as`` (a list of patients), the page is written
    to the access log as one event naming every patient on it."""
    paginator = ApiPagination()
    page = paginator.paginate_queryset(queryset, request, view=view)
    rows = list(queryset) if page is None else page  # None: no page size configured at all
    if listed_as:
        access.patients_listed(
            request=request, patient_ids=[p.pk for p in rows], action=listed_as, channel="api"
        )
    if page is None:
        return Response(serializer_class(rows, many=True).data)
    return paginator.get_paginated_response(serializer_class(page, many=True).data)


class PatientListApi(APIView):
    pagination_class = ApiPagination

    class FilterSerializer(serializers.Serializer[Any]):
        nhs_number = serializers.CharField(
            required=False, allow_blank=True, help_text="Exact NHS number; spaces allowed."
        )
        mrn = serializers.CharField(required=False, allow_blank=True, help_text="Exact MRN.")
        q = serializers.CharField(
            required=False,
            allow_blank=True,
            help_text="Free search: an NHS number, an MRN or the start of a name.",
        )
        team = serializers.CharField(
            required=False, allow_blank=True, help_text="Only this team's caseload (team code)."
        )

        class Meta:
            ref_name = "PatientListFilter"

    class InputSerializer(PatientInputSerializer):
        teams = serializers.ListField(
            child=serializers.CharField(),
            allow_empty=False,
            error_messages={"empty": "A patient must be on at least one team's caseload."},
            help_text="Codes of the teams whose caseloads the patient joins (at least one).",
        )

        class Meta:
            ref_name = "PatientCreateInput"

        def validate_teams(self, codes: list[str]) -> list[Team]:
            wanted = list(dict.fromkeys(code.strip().upper() for code in codes))
            found = {team.code: team for team in Team.objects.filter(code__in=wanted)}
            unknown = [code for code in wanted if code not in found]
            if unknown:
                raise serializers.ValidationError([f"Unknown team: {code}" for code in unknown])
            return [found[code] for code in wanted]

    OutputSerializer = PatientOutputSerializer

    @extend_schema(
        operation_id="patients_list",
        tags=TAGS,
        summary="List and search the patients of your teams",
        parameters=[FilterSerializer],
        responses={200: PatientOutputSerializer(many=True), 400: INVALID},
    )
    def get(self, request: Request) -> Response:
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        params = filters.validated_data
        patients = selectors.patient_list(
            user=_user(request),
            search=params.get("q", ""),
            nhs_number_exact=params.get("nhs_number", ""),
            mrn=params.get("mrn", ""),
            team_code=params.get("team", ""),
        ).prefetch_related(
            Prefetch(
                "caseload_entries",
                queryset=CaseloadEntry.objects.filter(ended_on__isnull=True).select_related("team"),
                to_attr=OPEN_CASELOAD_ATTR,
            )
        )
        searched = any(params.get(name) for name in ("q", "nhs_number", "mrn"))
        return _paginated(
            self,
            request,
            patients,
            self.OutputSerializer,
            listed_as="patient search" if searched else "patient list",
        )

    @extend_schema(
        operation_id="patients_create",
        tags=TAGS,
        summary="Register a patient on one or more of your teams' caseloads",
        request=InputSerializer,
        responses={
            201: PatientOutputSerializer,
            400: INVALID,
            403: OpenApiResponse(description="Your role in the listed teams is read-only."),
        },
    )
    def post(self, request: Request) -> Response:
        user = _user(request)
        writable = permissions.member_teams(user=user, roles=WRITE_ROLES)
        # Someone who may add patients to no team at all is refused before their input is
        # read: what they typed cannot change the answer.
        if not writable.exists():
            raise PermissionDenied("You cannot add patients to any team.")
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        values = dict(serializer.validated_data)
        teams: list[Team] = values.pop("teams")
        _check_teams_writable(user=user, teams=teams, writable=set(writable))
        reason = values.pop("nhs_number_status_reason", "")
        with _service_errors():
            patient = services.patient_create(
                actor=user, teams=teams, status_reason=reason, **values
            )
        return Response(self.OutputSerializer(patient).data, status=status.HTTP_201_CREATED)


def _check_teams_writable(*, user: User, teams: Sequence[Team], writable: set[Team]) -> None:
    refused = [team for team in teams if team not in writable]
    if not refused:
        return
    member_of = set(permissions.member_teams(user=user))
    # A viewer in every listed team is refused outright, like a viewer writing anywhere else;
    # a list that mixes in a team the user cannot add to is an input error naming that team.
    if len(refused) == len(teams) and all(team in member_of for team in refused):
        raise PermissionDenied("Your role in these teams is read-only.")
    raise serializers.ValidationError(
        {"teams": [f"You cannot add patients to team {team.code}" for team in refused]}
    )


class PatientDetailApi(APIView):
    class InputSerializer(PatientInputSerializer):
        class Meta:
            ref_name = "PatientUpdateInput"

    OutputSerializer = PatientOutputSerializer

    @extend_schema(
        operation_id="patients_retrieve",
        tags=TAGS,
        summary="Read a patient's identifiers and demographics",
        responses={200: PatientOutputSerializer, 404: NOT_FOUND},
    )
    def get(self, request: Request, public_id: uuid.UUID) -> Response:
        patient = _open_patient(request, public_id, "record")
        return Response(self.OutputSerializer(patient).data)

    @extend_schema(
        operation_id="patients_update",
        tags=TAGS,
        summary="Replace a patient's identifiers and demographics (teams are not changed)",
        request=InputSerializer,
        responses={200: PatientOutputSerializer, 400: INVALID, 403: READ_ONLY, 404: NOT_FOUND},
    )
    def put(self, request: Request, public_id: uuid.UUID) -> Response:
        return self._update(request, public_id, partial=False)

    @extend_schema(
        operation_id="patients_partial_update",
        tags=TAGS,
        summary="Change some of a patient's identifiers and demographics",
        request=InputSerializer,
        responses={200: PatientOutputSerializer, 400: INVALID, 403: READ_ONLY, 404: NOT_FOUND},
    )
    def patch(self, request: Request, public_id: uuid.UUID) -> Response:
        return self._update(request, public_id, partial=True)

    def _update(self, request: Request, public_id: uuid.UUID, *, partial: bool) -> Response:
        user = _user(request)
        patient = _open_patient(request, public_id, "record_update")
        _require_write(user, patient)
        # "teams" is not an input field here, so a body that sends it changes nothing.
        serializer = self.InputSerializer(data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        values = dict(serializer.validated_data)
        reason = values.pop("nhs_number_status_reason", "")
        with _service_errors():
            patient = services.patient_update(
                patient=patient, actor=user, status_reason=reason, **values
            )
        return Response(self.OutputSerializer(patient).data)


class PatientDiagnosisListApi(APIView):
    pagination_class = ApiPagination
    InputSerializer = DiagnosisInputSerializer
    OutputSerializer = DiagnosisOutputSerializer

    @extend_schema(
        operation_id="patients_diagnoses_list",
        tags=TAGS,
        summary="A patient's diagnoses",
        responses={200: DiagnosisOutputSerializer(many=True), 404: NOT_FOUND},
    )
    def get(self, request: Request, public_id: uuid.UUID) -> Response:
        patient = _open_patient(request, public_id, "diagnoses")
        diagnoses = selectors.diagnosis_list(patient=patient)
        return _paginated(self, request, diagnoses, self.OutputSerializer)

    @extend_schema(
        operation_id="patients_diagnoses_create",
        tags=TAGS,
        summary="Record a diagnosis",
        request=DiagnosisInputSerializer,
        responses={201: DiagnosisOutputSerializer, 400: INVALID, 403: READ_ONLY, 404: NOT_FOUND},
    )
    def post(self, request: Request, public_id: uuid.UUID) -> Response:
        user = _user(request)
        patient = _open_patient(request, public_id, "diagnosis_create")
        _require_write(user, patient)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        with _service_errors():
            diagnosis = services.diagnosis_create(
                patient=patient, actor=user, **serializer.validated_data
            )
        return Response(self.OutputSerializer(diagnosis).data, status=status.HTTP_201_CREATED)


class PatientResultListApi(APIView):
    pagination_class = ApiPagination

    class FilterSerializer(serializers.Serializer[Any]):
        category = serializers.ChoiceField(
            choices=Result.Category.choices, required=False, help_text="lab or radiology."
        )

        class Meta:
            ref_name = "ResultListFilter"

    OutputSerializer = ResultOutputSerializer

    @extend_schema(
        operation_id="patients_results_list",
        tags=TAGS,
        summary="A patient's results with their observations, newest first",
        parameters=[FilterSerializer],
        responses={200: ResultOutputSerializer(many=True), 400: INVALID, 404: NOT_FOUND},
    )
    def get(self, request: Request, public_id: uuid.UUID) -> Response:
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        patient = _open_patient(request, public_id, "results")
        results = selectors.result_list(
            patient=patient, category=filters.validated_data.get("category", "")
        )
        return _paginated(self, request, results, self.OutputSerializer)


class PatientAppointmentListApi(APIView):
    pagination_class = ApiPagination
    OutputSerializer = AppointmentOutputSerializer

    @extend_schema(
        operation_id="patients_appointments_list",
        tags=TAGS,
        summary="A patient's appointments, latest first",
        responses={200: AppointmentOutputSerializer(many=True), 404: NOT_FOUND},
    )
    def get(self, request: Request, public_id: uuid.UUID) -> Response:
        patient = _open_patient(request, public_id, "appointments")
        appointments = selectors.appointment_list(patient=patient).select_related("team")
        return _paginated(self, request, appointments, self.OutputSerializer)


class PatientDocumentListApi(APIView):
    pagination_class = ApiPagination
    OutputSerializer = DocumentSummaryOutputSerializer

    @extend_schema(
        operation_id="patients_documents_list",
        tags=TAGS,
        summary="A patient's documents (metadata only), newest first",
        responses={200: DocumentSummaryOutputSerializer(many=True), 404: NOT_FOUND},
    )
    def get(self, request: Request, public_id: uuid.UUID) -> Response:
        patient = _open_patient(request, public_id, "documents")
        documents = selectors.document_list(patient=patient)
        return _paginated(self, request, documents, self.OutputSerializer)


class PatientDocumentDetailApi(APIView):
    OutputSerializer = DocumentOutputSerializer

    @extend_schema(
        operation_id="patients_documents_retrieve",
        tags=TAGS,
        summary="One document with its content (HTML, or a PDF as base64)",
        responses={
            200: DocumentOutputSerializer,
            404: OpenApiResponse(description="No such patient in your teams, or no such document."),
        },
    )
    def get(
        self, request: Request, public_id: uuid.UUID, document_public_id: uuid.UUID
    ) -> Response:
        patient = _open_patient(request, public_id, "document")
        document = (
            selectors.document_list(patient=patient).filter(public_id=document_public_id).first()
        )
        if document is None:
            raise Http404("No such document.")
        return Response(self.OutputSerializer(document).data)


# --- Inbound feeds -----------------------------------------------------------------------------


class CanSubmitInbound(BasePermission):
    """Feeds are integration accounts, not clinicians: they need the submit_inbound
    permission (``rms.submit_inbound``), and are not limited to a team's caseload."""

    def has_permission(self, request: Request, view: APIView) -> bool:
        return bool(request.user and request.user.has_perm("rms.submit_inbound"))


class Hl7Parser(BaseParser):
    """Takes the request body as the raw bytes of one HL7 v2 message."""

    media_type = "*/*"

    def parse(  # type: ignore[override]  # DRF's stubs expect a mapping; raw bytes are the point
        self, stream: Any, media_type: str | None = None, parser_context: Any = None
    ) -> bytes:
        return stream.read() if stream is not None else b""


HL7_MEDIA_TYPE = "x-application/hl7-v2+er7"


class InboundHl7Api(APIView):
    permission_classes = [IsAuthenticated, CanSubmitInbound]
    throttle_scope = INBOUND_SCOPE
    parser_classes = [Hl7Parser]

    @extend_schema(
        tags=["inbound"],
        summary="Submit one HL7 v2 message",
        description=(
            "The body is one HL7 v2 message (segments separated by carriage returns), exactly "
            "as it would travel over MLLP. The response body is the HL7 acknowledgement: `AA` "
            "once the message is stored and filed (or held for review; with "
            "`INBOUND_ACK_AFTER=storing`, once it is stored, filed shortly after), `AE`/`AR` "
            "with the "
            "reason in MSA-3 when it is refused. A repeat of the same MSH-3, MSH-4 and MSH-10 "
            "gets the stored acknowledgement again. 503 means nothing was stored: send again. "
            "The sender is the token's account: once `MLLP_SENDERS` is set, a message whose "
            "MSH-3^MSH-4 is not allowed to the account (`MSH3^MSH4@user:USERNAME`) is refused "
            "(`AR`) and kept; a correction or deletion of a result another sending system "
            "filed is held for review (`AA`)."
        ),
        request={HL7_MEDIA_TYPE: OpenApiTypes.BINARY},
        responses={
            200: OpenApiResponse(response=OpenApiTypes.STR, description="The HL7 ACK"),
            503: OpenApiResponse(description="The database is unavailable; resend later."),
        },
    )
    def post(self, request: Request) -> HttpResponse:
        raw = request.data if isinstance(request.data, bytes) else b""
        if not raw.strip():
            return HttpResponse(
                "The body must be one HL7 v2 message.", status=400, content_type="text/plain"
            )
        try:
            peer = access.client_ip(request) or ""
            # An API sender is its account: MLLP_SENDERS allows MSH-3^MSH-4 to an account
            # with @user:USERNAME entries (docs/security.md, "Trust boundaries").
            ack = inbound.receive(
                raw=raw,
                channel=InboundMessage.Channel.API,
                peer=peer,
                origin=Origin(address=peer, username=request.user.get_username()),
            )
        except DatabaseError:
            response = HttpResponse(
                "The message could not be stored; send it again.",
                status=503,
                content_type="text/plain",
            )
            response["Retry-After"] = "30"
            return response
        return HttpResponse(ack, content_type=HL7_MEDIA_TYPE)


class ResultRecordApi(APIView):
    permission_classes = [IsAuthenticated, CanSubmitInbound]
    throttle_scope = INBOUND_SCOPE

    @extend_schema(
        tags=["inbound"],
        summary="Submit one result with its observations as JSON",
        description=(
            "Files a result through the same services as the HL7 feed: matched to the patient "
            "by NHS number (then MRN), with the same checks of date of birth and family name; a "
            "correction of the same filler order number replaces the values and keeps the "
            "history. A patient we do not know is a 404 and a possible wrong patient a 409; "
            "nothing is stored in either case. The sending system is the token's account: a "
            "result can be corrected, cancelled or deleted here only by the account that filed "
            "it, and a filler order number already filed for the patient by another sending "
            "system (an HL7 feed or another account) is a 409 with nothing stored."
        ),
        request=ResultInputSerializer,
        responses={
            201: ResultRecordedOutputSerializer,
            200: ResultRecordedOutputSerializer,
            400: INVALID,
            404: OpenApiResponse(description="No patient with this NHS number or MRN."),
            409: OpenApiResponse(
                description=(
                    "Possible wrong patient, or a filler order number another sending system "
                    "filed; nothing filed."
                )
            ),
        },
    )
    def post(self, request: Request) -> Response:
        serializer = ResultInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        identity = data["patient"]
        match = match_patient(
            Identity(
                nhs_number=identity.get("nhs_number", ""),
                mrn=identity.get("mrn", ""),
                family_name=identity.get("family_name", ""),
                date_of_birth=identity.get("date_of_birth"),
            )
        )
        if match.status is MatchStatus.UNMATCHED:
            return Response({"patient": [match.reason]}, status=status.HTTP_404_NOT_FOUND)
        if match.status is MatchStatus.REVIEW or match.patient is None:
            return Response({"patient": [match.reason]}, status=status.HTTP_409_CONFLICT)
        observations = []
        for item in data["observations"]:
            numeric, comparator, flag = (None, "", "")
            value_type = item["value_type"]
            # As at HL7 filing: "<0.01", "0.2 (H)" are numbers with a comparator and a flag,
            # whether sent as NM or as a one-line text; the text is kept as sent.
            read = read_value(item["value"]) if "\n" not in item["value"] else None
            if read is not None:
                numeric, comparator, flag = read.number, read.comparator, read.flag
                value_type = Observation.ValueType.NUMERIC
            if item["value_type"] == Observation.ValueType.NUMERIC and numeric is None:
                return Response(
                    {"observations": [f"{item['code']}: a numeric value is needed for NM."]},
                    status=status.HTTP_400_BAD_REQUEST,
                )
            if numeric is not None and not storable_number(numeric):
                if item["value_type"] != Observation.ValueType.NUMERIC:
                    # A text too large to be a stored number is kept as the text it is.
                    numeric, comparator, flag = None, "", ""
                    value_type = item["value_type"]
                else:
                    return Response(
                        {"observations": [f"{item['code']}: the number is too large to store."]},
                        status=status.HTTP_400_BAD_REQUEST,
                    )
            observations.append(
                services.ObservationInput(
                    code=item["code"],
                    code_system=item.get("code_system", ""),
                    name=item.get("name", "") or item["code"],
                    value_type=value_type,
                    value_text=item["value"],
                    value_numeric=numeric,
                    comparator=comparator,
                    units=item.get("units", ""),
                    reference_range=item.get("reference_range", ""),
                    abnormal_flag=item.get("abnormal_flag", "") or flag,
                    observed_at=item.get("observed_at") or data["observed_at"],
                    status=item["status"],
                    notes=item.get("notes", ""),
                )
            )
        result_input = services.ResultInput(
            category=data["category"],
            source_system=data["source_system"],
            filler_order_number=data["filler_order_number"],
            placer_order_number=data.get("placer_order_number", ""),
            service_code=data.get("service_code", ""),
            service_name=data.get("service_name", ""),
            observed_at=data["observed_at"],
            reported_at=data.get("reported_at"),
            status=data["status"],
            ordering_clinician=data.get("ordering_clinician", ""),
            report_text=data.get("report_text", ""),
            observations=observations,
            sender=f"api:{request.user.get_username()}",
        )
        try:
            with _service_errors():
                outcome = services.result_record(
                    patient=match.patient, data=result_input, actor=_user(request)
                )
        except ValidationError as exc:
            # A filler order number filed for someone else: a wrong-patient conflict, not a typo.
            if isinstance(exc.detail, dict) and (
                "filler_order_number" in exc.detail or "sender" in exc.detail
            ):
                return Response(exc.detail, status=status.HTTP_409_CONFLICT)
            raise
        result = outcome.result
        if result is not None:
            result = selectors.result_list(patient=match.patient).get(pk=result.pk)
        body = ResultRecordedOutputSerializer(
            {
                "outcome": outcome.outcome.value,
                "reason": outcome.reason,
                "result": result,
                "patient": match.patient.public_id,
            }
        ).data
        created = outcome.outcome is services.Outcome.CREATED
        return Response(body, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)
