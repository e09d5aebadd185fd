"""Output and filter shapes of the worklist endpoints. Nothing here saves.

No NHS number, name or date of birth: an item names its patient by public id only, and a
client that needs more opens the patient through the patient endpoints (scoped and logged).
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiSerializerExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import ResolvedComponent
from rest_framework import serializers

from worklists.models import WorkItem, WorkItemEvent
from worklists.selectors import ACTIVE

ALL = "all"


class WorkItemFilterSerializer(serializers.Serializer[Any]):
    kind = serializers.ChoiceField(choices=WorkItem.Kind.choices, required=False)
    status = serializers.ChoiceField(
        choices=[
            (ACTIVE, "Open or in progress"),
            *WorkItem.Status.choices,
            (ALL, "Any status"),
        ],
        required=False,
        default=ACTIVE,
        help_text="By default only the items still to do (open or in progress); `all` for all.",
    )
    priority = serializers.ChoiceField(
        choices=WorkItem.Priority.choices,
        required=False,
        help_text="1 urgent, 2 high, 3 normal, 4 low.",
    )
    mine = serializers.BooleanField(
        required=False, default=False, help_text="Only the items assigned to you."
    )
    team = serializers.CharField(
        required=False, allow_blank=True, help_text="Only this team's items (team code)."
    )

    class Meta:
        ref_name = "WorkItemListFilter"


class WorkItemOutputSerializer(serializers.ModelSerializer[WorkItem]):
    kind = serializers.ChoiceField(choices=WorkItem.Kind.choices, read_only=True)
    priority = serializers.ChoiceField(
        choices=WorkItem.Priority.choices,
        read_only=True,
        help_text="1 urgent, 2 high, 3 normal, 4 low: lists sort by it, most urgent first.",
    )
    priority_label = serializers.CharField(source="get_priority_display", read_only=True)
    status = serializers.ChoiceField(choices=WorkItem.Status.choices, read_only=True)
    patient: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="public_id",
        read_only=True,
        allow_null=True,
        help_text="The patient's public id; null when the item concerns no known patient.",
    )
    team: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="code",
        read_only=True,
        allow_null=True,
        help_text="Code of the team whose worklist holds the item; null for an administrator's "
        "item (an inbound message not matched to a patient).",
    )
    assignee: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )

    class Meta:
        model = WorkItem
        ref_name = "WorkItem"
        fields: tuple[str, ...] = (
            "public_id",
            "kind",
            "priority",
            "priority_label",
            "status",
            "patient",
            "team",
            "assignee",
            "due_date",
            "title",
            "explanation",
            "source",
            "created_at",
            "closed_at",
            "outcome",
            "outcome_note",
        )
        read_only_fields = fields
        extra_kwargs = {
            "source": {"help_text": 'What raised the item, e.g. "rule:12" or "outbound:345".'}
        }


class WorkItemEventOutputSerializer(serializers.ModelSerializer[WorkItemEvent]):
    actor: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="username", read_only=True
    )
    assignee: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    action = serializers.CharField(
        read_only=True,
        help_text="created, assigned, unassigned, started, completed, dismissed or "
        "closed_by_system.",
    )

    class Meta:
        model = WorkItemEvent
        ref_name = "WorkItemEvent"
        fields = ("at", "action", "actor", "from_status", "to_status", "assignee", "note")
        read_only_fields = fields


class WorkItemDetailOutputSerializer(WorkItemOutputSerializer):
    events = WorkItemEventOutputSerializer(many=True, read_only=True)

    class Meta(WorkItemOutputSerializer.Meta):
        ref_name = "WorkItemDetail"
        fields = (*WorkItemOutputSerializer.Meta.fields, "events")
        read_only_fields = fields


class WorkItemDetailSchema(OpenApiSerializerExtension):
    """The detail's schema is the list's ``WorkItem`` plus ``events`` (``allOf``), not a copy.

    A copy would put the work item's status choices in two components next to the other
    models' "status" enums, which drf-spectacular can only name with a hash (and a warning).
    Registered with drf-spectacular by being defined (this module is imported by the views).
    """

    target_class = WorkItemDetailOutputSerializer

    def map_serializer(self, auto_schema: AutoSchema, direction: Any) -> dict[str, Any]:
        item: ResolvedComponent = auto_schema.resolve_serializer(
            WorkItemOutputSerializer, direction
        )
        event: ResolvedComponent = auto_schema.resolve_serializer(
            WorkItemEventOutputSerializer, direction
        )
        return {
            "allOf": [
                item.ref,
                {
                    "type": "object",
                    "properties": {
                        "events": {
                            "type": "array",
                            "items": event.ref,
                            "readOnly": True,
                            "description": "The item's history, oldest first.",
                        }
                    },
                    "required": ["events"],
                },
            ]
        }
