"""Input and output shapes of the care plan and consent endpoints. Nothing here saves."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from careplans.care_plans.services import (
    BODY_MAX,
    CONSENT_NOTE_MAX,
    HEADING_MAX,
    INFORMATION_MAX,
    NOTE_MAX,
    TOPIC_MAX,
)
from careplans.models import (
    CarePlan,
    CarePlanSection,
    CarePlanVersion,
    ConsentMethod,
    ConsentRecord,
    ConsentStatus,
    SectionKind,
)


class CarePlanSectionOutputSerializer(serializers.ModelSerializer[CarePlanSection]):
    kind = serializers.ChoiceField(choices=SectionKind.choices, read_only=True)

    class Meta:
        model = CarePlanSection
        ref_name = "CarePlanSection"
        fields = ("position", "kind", "heading", "body")
        read_only_fields = fields


class CarePlanVersionOutputSerializer(serializers.ModelSerializer[CarePlanVersion]):
    author: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, help_text="Username of who saved the version."
    )
    sections = CarePlanSectionOutputSerializer(many=True, read_only=True)

    class Meta:
        model = CarePlanVersion
        ref_name = "CarePlanVersion"
        fields = ("number", "created_at", "author", "note", "sections")
        read_only_fields = fields


class CarePlanSummaryOutputSerializer(serializers.ModelSerializer[CarePlan]):
    team: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="code", read_only=True, help_text="Code of the team whose plan it is."
    )
    created_by: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="username", read_only=True
    )
    pathway = serializers.SerializerMethodField(help_text="Code of the template's pathway.")
    latest_version = serializers.SerializerMethodField(help_text="The current version number.")

    class Meta:
        model = CarePlan
        ref_name = "CarePlanSummary"
        fields: tuple[str, ...] = (
            "public_id",
            "title",
            "pathway",
            "team",
            "document_number",
            "created_at",
            "created_by",
            "latest_version",
        )
        read_only_fields: tuple[str, ...] = fields

    def get_pathway(self, obj: CarePlan) -> str | None:
        return obj.template.pathway.code if obj.template is not None else None

    def get_latest_version(self, obj: CarePlan) -> int:
        versions = list(obj.versions.all())
        return max((v.number for v in versions), default=0)


class CarePlanOutputSerializer(CarePlanSummaryOutputSerializer):
    versions = serializers.SerializerMethodField(help_text="Every version, oldest first.")

    class Meta(CarePlanSummaryOutputSerializer.Meta):
        ref_name = "CarePlan"
        fields = (*CarePlanSummaryOutputSerializer.Meta.fields, "versions")
        read_only_fields = fields

    def get_versions(self, obj: CarePlan) -> list[dict[str, Any]]:
        versions = self.context.get("versions", [])
        return list(CarePlanVersionOutputSerializer(versions, many=True).data)


class CarePlanCreateInputSerializer(serializers.Serializer[Any]):
    pathway = serializers.SlugField(
        help_text="Code of the pathway whose care plan template to use (its first active one)."
    )
    note = serializers.CharField(required=False, allow_blank=True, max_length=NOTE_MAX)


class SectionInputSerializer(serializers.Serializer[Any]):
    position = serializers.IntegerField(min_value=1)
    heading = serializers.CharField(max_length=HEADING_MAX)
    body = serializers.CharField(allow_blank=True, max_length=BODY_MAX)


class CarePlanVersionInputSerializer(serializers.Serializer[Any]):
    sections = SectionInputSerializer(
        many=True, help_text="The sections to change, by position; the others stay as they are."
    )
    note = serializers.CharField(required=False, allow_blank=True, max_length=NOTE_MAX)


class ConsentOutputSerializer(serializers.ModelSerializer[ConsentRecord]):
    team: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="code", read_only=True
    )
    recorded_by: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, help_text="Set by the service: the caller."
    )
    resource: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="public_id", read_only=True, help_text="Public id of the resource, if any."
    )
    withdraws: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="public_id",
        read_only=True,
        help_text="For a withdrawal: the public id of the record it withdraws.",
    )
    method = serializers.ChoiceField(choices=ConsentMethod.choices, read_only=True)
    status = serializers.ChoiceField(choices=ConsentStatus.choices, read_only=True)

    class Meta:
        model = ConsentRecord
        ref_name = "ConsentRecord"
        fields = (
            "public_id",
            "topic",
            "information_given",
            "resource",
            "method",
            "status",
            "given_at",
            "note",
            "withdraws",
            "team",
            "recorded_by",
            "recorded_at",
        )
        read_only_fields = fields


class ConsentInputSerializer(serializers.Serializer[Any]):
    topic = serializers.CharField(max_length=TOPIC_MAX)
    information_given = serializers.CharField(
        required=False, allow_blank=True, max_length=INFORMATION_MAX
    )
    resource = serializers.UUIDField(
        required=False, allow_null=True, help_text="Public id of a resource of your teams."
    )
    method = serializers.ChoiceField(choices=ConsentMethod.choices)
    status = serializers.ChoiceField(
        choices=[ConsentStatus.GIVEN.value, ConsentStatus.DECLINED.value],
        help_text="given or declined; to withdraw, post to the record's withdraw endpoint.",
    )
    given_at = serializers.DateTimeField()
    note = serializers.CharField(required=False, allow_blank=True, max_length=CONSENT_NOTE_MAX)


class ConsentWithdrawInputSerializer(serializers.Serializer[Any]):
    method = serializers.ChoiceField(choices=ConsentMethod.choices)
    withdrawn_at = serializers.DateTimeField(required=False, help_text="Default: now.")
    note = serializers.CharField(required=False, allow_blank=True, max_length=CONSENT_NOTE_MAX)
