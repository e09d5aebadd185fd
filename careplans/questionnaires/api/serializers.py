"""Input and output shapes of the questionnaire endpoints. Nothing here saves."""

from __future__ import annotations

from rest_framework import serializers

from careplans.models import Questionnaire, QuestionnaireRequest, QuestionnaireResponse


class QuestionnaireOutputSerializer(serializers.ModelSerializer[Questionnaire]):
    fhir = serializers.JSONField(read_only=True, help_text="The FHIR R4 Questionnaire resource.")
    scoring = serializers.JSONField(read_only=True, help_text="Scores and alert rules.")

    class Meta:
        model = Questionnaire
        ref_name = "Questionnaire"
        fields = (
            "code",
            "version",
            "title",
            "description",
            "active",
            "pkb_questionnaire_id",
            "fhir",
            "scoring",
        )
        read_only_fields = fields


class RequestOutputSerializer(serializers.ModelSerializer[QuestionnaireRequest]):
    questionnaire = serializers.CharField(source="questionnaire.code", read_only=True)
    team = serializers.CharField(source="team.code", read_only=True)
    requested_by = serializers.CharField(
        source="requested_by.username",
        read_only=True,
        allow_null=True,
        help_text="Null when the pathway's schedule requested it.",
    )

    class Meta:
        model = QuestionnaireRequest
        ref_name = "QuestionnaireRequest"
        fields = (
            "public_id",
            "questionnaire",
            "team",
            "channel",
            "status",
            "requested_by",
            "requested_at",
            "due_date",
            "sent_at",
            "completed_at",
            "attempts",
            "last_error",
        )
        read_only_fields = fields


class RequestInputSerializer(serializers.Serializer[None]):
    questionnaire = serializers.SlugField(help_text="The questionnaire's code, e.g. phq-9.")
    due_date = serializers.DateField(required=False, help_text="Default: today.")


class ResponseOutputSerializer(serializers.ModelSerializer[QuestionnaireResponse]):
    questionnaire = serializers.CharField(source="questionnaire.code", read_only=True)
    request = serializers.UUIDField(source="request.public_id", read_only=True, allow_null=True)
    entered_by = serializers.CharField(
        source="entered_by.username", read_only=True, allow_null=True
    )
    scores = serializers.JSONField(
        read_only=True, help_text="{code: {label, value, answered, of, max}}"
    )
    alerts = serializers.JSONField(read_only=True, help_text="The alert rules that fired.")
    fhir = serializers.JSONField(read_only=True, help_text="The FHIR QuestionnaireResponse.")

    class Meta:
        model = QuestionnaireResponse
        ref_name = "QuestionnaireResponse"
        fields = (
            "public_id",
            "questionnaire",
            "request",
            "source",
            "entered_by",
            "authored_at",
            "received_at",
            "scores",
            "alerts",
            "fhir",
        )
        read_only_fields = fields


class ResponseInputSerializer(serializers.Serializer[None]):
    questionnaire = serializers.SlugField(help_text="The questionnaire's code, e.g. phq-9.")
    request = serializers.UUIDField(
        required=False, help_text="The public id of the request this response answers."
    )
    response = serializers.JSONField(help_text="A FHIR R4 QuestionnaireResponse (completed).")
