"""Serializers shared by the API views: the output shapes of the core record and the patient
input. Serializers here only check shape and type and render; the record's rules (NHS number
check digit, duplicates, "an NHS number or an MRN") are the services' and come back from them
as field errors. Nothing here saves.
"""

from __future__ import annotations

import base64
from decimal import Decimal
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from rms import selectors
from rms.models import (
    Appointment,
    Diagnosis,
    Document,
    NhsNumberStatus,
    Observation,
    Patient,
    Result,
    Sex,
    Team,
    TumourSite,
)

PATIENT_OUTPUT_FIELDS = (
    "public_id",
    "nhs_number",
    "nhs_number_status",
    "mrn",
    "title",
    "given_name",
    "family_name",
    "date_of_birth",
    "sex",
    "address_line_1",
    "address_line_2",
    "address_city",
    "address_county",
    "postcode",
    "phone_home",
    "phone_mobile",
    "phone_work",
    "email",
    "teams",
    "created_at",
    "updated_at",
)

# Set by the patient list view, which prefetches each page's open caseload entries so the
# team codes cost one query per page rather than one per patient.
OPEN_CASELOAD_ATTR = "open_caseload_entries"


class PatientOutputSerializer(serializers.ModelSerializer[Patient]):
    teams = serializers.SerializerMethodField(
        help_text="Codes of the teams whose open caseload the patient is on."
    )

    class Meta:
        model = Patient
        ref_name = "Patient"
        fields = PATIENT_OUTPUT_FIELDS
        read_only_fields = PATIENT_OUTPUT_FIELDS

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_teams(self, patient: Patient) -> list[str]:
        entries = getattr(patient, OPEN_CASELOAD_ATTR, None)
        if entries is not None:
            return sorted({entry.team.code for entry in entries})
        return sorted(team.code for team in selectors.patient_team_list(patient=patient))


class PatientInputSerializer(serializers.Serializer[Any]):
    """A patient's identifiers and demographics. A field left out takes its default when a
    patient is created or replaced (PUT), and is left as it was by a PATCH."""

    # The defaults are the model's. DRF skips defaults on partial input, which is what gives
    # PATCH its "change only what is sent" meaning with the same serializer.

    # No length or format check here: people type NHS numbers with spaces, and the service
    # normalises and then validates (Modulus 11), reporting why a number is refused.
    nhs_number = serializers.CharField(
        allow_blank=True,
        allow_null=True,
        default=None,
        help_text="Ten digits; spaces and hyphens are ignored. Needed unless an MRN is given.",
    )
    nhs_number_status = serializers.ChoiceField(
        choices=NhsNumberStatus.choices,
        default=NhsNumberStatus.NOT_TRACED,
        help_text=(
            "Only a team admin of the patient's team changes it (403 otherwise), with "
            "nhs_number_status_reason."
        ),
    )
    nhs_number_status_reason = serializers.CharField(
        allow_blank=True,
        default="",
        write_only=True,
        max_length=500,
        help_text="Why the NHS number status changes (needed when it does).",
    )
    mrn = serializers.CharField(
        allow_blank=True, default="", help_text="Local hospital number (MRN)."
    )
    title = serializers.CharField(allow_blank=True, default="")
    given_name = serializers.CharField()
    family_name = serializers.CharField()
    date_of_birth = serializers.DateField()
    sex = serializers.ChoiceField(choices=Sex.choices, default=Sex.UNKNOWN)
    address_line_1 = serializers.CharField(allow_blank=True, default="")
    address_line_2 = serializers.CharField(allow_blank=True, default="")
    address_city = serializers.CharField(allow_blank=True, default="")
    address_county = serializers.CharField(allow_blank=True, default="")
    postcode = serializers.CharField(allow_blank=True, default="")
    phone_home = serializers.CharField(allow_blank=True, default="")
    phone_mobile = serializers.CharField(allow_blank=True, default="")
    phone_work = serializers.CharField(allow_blank=True, default="")
    email = serializers.EmailField(allow_blank=True, default="")


class DiagnosisOutputSerializer(serializers.ModelSerializer[Diagnosis]):
    class Meta:
        model = Diagnosis
        ref_name = "Diagnosis"
        fields = (
            "public_id",
            "code",
            "code_system",
            "text",
            "diagnosed_on",
            "tumour_site",
            "stage",
            "status",
            "created_at",
            "updated_at",
        )
        read_only_fields = fields


class DiagnosisInputSerializer(serializers.Serializer[Any]):
    code = serializers.CharField(help_text="SNOMED CT concept id or ICD-10 code.")
    code_system = serializers.ChoiceField(choices=Diagnosis.CodeSystem.choices)
    text = serializers.CharField()
    diagnosed_on = serializers.DateField()
    tumour_site = serializers.ChoiceField(choices=TumourSite.choices, allow_blank=True, default="")
    stage = serializers.CharField(allow_blank=True, default="")
    status = serializers.ChoiceField(
        choices=Diagnosis.Status.choices, default=Diagnosis.Status.ACTIVE
    )


class PlainDecimalField(serializers.DecimalField):
    """A decimal as a string without the column's padding: the database keeps six places, so
    a PSA of 0.05 comes back as 0.050000, and those zeros would claim a precision the lab never
    reported. ``value_text`` keeps exactly what the lab sent."""

    # DRF writes null itself for a None value without calling this.
    def to_representation(self, value: Any) -> str:
        number = value if isinstance(value, Decimal) else Decimal(str(value))
        return format(number.normalize(), "f")


class ObservationOutputSerializer(serializers.ModelSerializer[Observation]):
    value_numeric = PlainDecimalField(
        max_digits=18,
        decimal_places=6,
        allow_null=True,
        read_only=True,
        help_text="The value as a decimal string, without any comparator; null when not numeric.",
    )

    class Meta:
        model = Observation
        ref_name = "Observation"
        fields = (
            "code",
            "code_system",
            "name",
            "value_type",
            "value_text",
            "value_numeric",
            "comparator",
            "units",
            "reference_range",
            "abnormal_flag",
            "observed_at",
            "status",
            "notes",
        )
        read_only_fields = fields


class ResultOutputSerializer(serializers.ModelSerializer[Result]):
    observations = ObservationOutputSerializer(many=True, read_only=True)

    class Meta:
        model = Result
        ref_name = "Result"
        fields = (
            "public_id",
            "category",
            "source_system",
            "placer_order_number",
            "filler_order_number",
            "service_code",
            "service_name",
            "observed_at",
            "reported_at",
            "status",
            "ordering_clinician",
            "report_text",
            "observations",
        )
        read_only_fields = fields


class AppointmentOutputSerializer(serializers.ModelSerializer[Appointment]):
    team = serializers.SlugRelatedField[Team](
        slug_field="code",
        read_only=True,
        allow_null=True,
        help_text="Code of the team the appointment is with, when known.",
    )

    class Meta:
        model = Appointment
        ref_name = "Appointment"
        fields = (
            "public_id",
            "team",
            "starts_at",
            "ends_at",
            "appointment_type",
            "reason",
            "location",
            "clinician",
            "status",
            "created_at",
            "updated_at",
        )
        read_only_fields = fields


DOCUMENT_SUMMARY_FIELDS = (
    "public_id",
    "document_type",
    "title",
    "document_number",
    "authored_at",
    "author",
    "content_type",
    "status",
    "created_at",
    "updated_at",
)


class DocumentSummaryOutputSerializer(serializers.ModelSerializer[Document]):
    """A document's metadata; the list never loads or sends content."""

    class Meta:
        model = Document
        ref_name = "DocumentSummary"
        fields = DOCUMENT_SUMMARY_FIELDS
        read_only_fields = fields


class DocumentOutputSerializer(serializers.ModelSerializer[Document]):
    content_pdf_base64 = serializers.SerializerMethodField(
        help_text="The PDF, base64-encoded, when content_type is pdf; otherwise null."
    )

    class Meta:
        model = Document
        ref_name = "Document"
        fields = (*DOCUMENT_SUMMARY_FIELDS, "content_html", "content_pdf_base64")
        read_only_fields = fields

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_content_pdf_base64(self, document: Document) -> str | None:
        if document.content_type != Document.ContentType.PDF or document.content_pdf is None:
            return None
        # SQLite hands back bytes, PostgreSQL a memoryview.
        return base64.b64encode(bytes(document.content_pdf)).decode("ascii")


class ResultPatientInputSerializer(serializers.Serializer[Any]):
    """Who the result is about: an NHS number or an MRN, with the date of birth and family
    name when the sender has them (they are checked against the record, as for HL7)."""

    nhs_number = serializers.CharField(required=False, allow_blank=True, max_length=20)
    mrn = serializers.CharField(required=False, allow_blank=True, max_length=40)
    family_name = serializers.CharField(required=False, allow_blank=True, max_length=100)
    date_of_birth = serializers.DateField(required=False, allow_null=True)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not attrs.get("nhs_number") and not attrs.get("mrn"):
            raise serializers.ValidationError("Give the patient's NHS number or MRN.")
        return attrs


class ObservationInputSerializer(serializers.Serializer[Any]):
    code = serializers.CharField(max_length=40)
    code_system = serializers.CharField(required=False, allow_blank=True, max_length=40)
    name = serializers.CharField(required=False, allow_blank=True, max_length=200)
    value_type = serializers.ChoiceField(choices=Observation.ValueType.choices)
    value = serializers.CharField(allow_blank=True, help_text="As the lab reports it, e.g. <0.01")
    units = serializers.CharField(required=False, allow_blank=True, max_length=40)
    reference_range = serializers.CharField(required=False, allow_blank=True, max_length=60)
    abnormal_flag = serializers.CharField(required=False, allow_blank=True, max_length=10)
    observed_at = serializers.DateTimeField(required=False, allow_null=True)
    status = serializers.ChoiceField(
        choices=Observation.Status.choices, default=Observation.Status.FINAL
    )
    notes = serializers.CharField(required=False, allow_blank=True)


class ResultInputSerializer(serializers.Serializer[Any]):
    patient = ResultPatientInputSerializer()
    category = serializers.ChoiceField(choices=Result.Category.choices)
    source_system = serializers.CharField(max_length=60)
    filler_order_number = serializers.CharField(max_length=100)
    placer_order_number = serializers.CharField(required=False, allow_blank=True, max_length=60)
    service_code = serializers.CharField(required=False, allow_blank=True, max_length=40)
    service_name = serializers.CharField(required=False, allow_blank=True, max_length=200)
    observed_at = serializers.DateTimeField()
    reported_at = serializers.DateTimeField(required=False, allow_null=True)
    status = serializers.ChoiceField(choices=Result.Status.choices, default=Result.Status.FINAL)
    ordering_clinician = serializers.CharField(required=False, allow_blank=True, max_length=200)
    report_text = serializers.CharField(required=False, allow_blank=True)
    observations = ObservationInputSerializer(many=True, required=False, default=list)


class ResultRecordedOutputSerializer(serializers.Serializer[Any]):
    outcome = serializers.CharField(help_text="created, corrected, unchanged, deleted or ignored")
    reason = serializers.CharField()
    result = ResultOutputSerializer(allow_null=True)
    patient = serializers.UUIDField(help_text="The patient's public id")
