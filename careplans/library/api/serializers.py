"""Input and output shapes of the resource library endpoints. Nothing here saves."""

from __future__ import annotations

from rest_framework import serializers

from careplans.models import Milestone, MilestoneReached, Resource, ResourceShare


class LibraryResourceOutputSerializer(serializers.ModelSerializer[Resource]):
    team = serializers.CharField(source="team.code", read_only=True)
    pathways = serializers.SerializerMethodField(help_text="Codes of the pathways it is for.")

    class Meta:
        model = Resource
        ref_name = "LibraryResource"
        fields = (
            "public_id",
            "team",
            "title",
            "kind",
            "url",
            "description",
            "status",
            "review_date",
            "approved_at",
            "retired_at",
            "pathways",
        )
        read_only_fields = fields

    def get_pathways(self, resource: Resource) -> list[str]:
        return [tag.pathway.code for tag in resource.pathway_tags.all()]


class ShareInputSerializer(serializers.Serializer[None]):
    resource = serializers.UUIDField(required=False, help_text="A resource's public id.")
    pack = serializers.UUIDField(required=False, help_text="An information pack's public id.")

    def validate(self, attrs: dict[str, object]) -> dict[str, object]:
        if ("resource" in attrs) == ("pack" in attrs):
            raise serializers.ValidationError("Give either a resource or a pack.")
        return attrs


class ShareOutputSerializer(serializers.ModelSerializer[ResourceShare]):
    pack = serializers.UUIDField(source="pack.public_id", read_only=True, allow_null=True)
    resource = serializers.UUIDField(source="resource.public_id", read_only=True, allow_null=True)
    team = serializers.CharField(source="team.code", read_only=True)
    included = serializers.SerializerMethodField(help_text="Public ids of the resources sent.")
    document_number = serializers.CharField(
        source="document.document_number", read_only=True, allow_null=True
    )
    shared_by = serializers.CharField(source="shared_by.username", read_only=True)

    class Meta:
        model = ResourceShare
        ref_name = "ResourceShare"
        fields = (
            "public_id",
            "pack",
            "resource",
            "team",
            "included",
            "document_number",
            "note",
            "shared_by",
            "shared_at",
        )
        read_only_fields = fields

    def get_included(self, share: ResourceShare) -> list[str]:
        return [str(r.public_id) for r in share.included.all()]


class MilestoneInputSerializer(serializers.Serializer[None]):
    pathway = serializers.CharField(max_length=60, help_text="The pathway's code.")
    milestone = serializers.ChoiceField(choices=Milestone.choices)


class MilestoneOutputSerializer(serializers.ModelSerializer[MilestoneReached]):
    pathway = serializers.CharField(source="pathway.code", read_only=True)
    team = serializers.CharField(source="team.code", read_only=True)
    shares = ShareOutputSerializer(many=True, read_only=True, source="new_shares")

    class Meta:
        model = MilestoneReached
        ref_name = "MilestoneReached"
        fields = ("public_id", "pathway", "milestone", "team", "source", "reached_at", "shares")
        read_only_fields = fields
