"""Django admin of the worklists, for administrators.

Scope follows ``rms.admin``: a superuser sees every item; other staff only the items of
their teams (``TeamScopedAdmin``), so the items with no team (inbound messages not matched to
a patient) are the superusers'. Items and their events are the record of what happened and
are read-only here; what an administrator may do to an item are the actions, which call the
services with the administrator as the actor (and the services check their role in the
item's team, as everywhere else).

The outcomes a clinician picks from when completing an item are configured here too.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Model, QuerySet
from django.http import HttpRequest

from rms import access
from rms import services as rms_services
from rms.admin.record import TeamScopedAdmin, ViewOnlyMixin, admin_user
from worklists import services
from worklists.models import Outcome, WorkItem, WorkItemEvent


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


class WorkItemEventInline(ViewOnlyMixin, admin.TabularInline):
    model = WorkItemEvent
    extra = 0
    fields = ("at", "action", "actor", "from_status", "to_status", "assignee", "note")
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return super().get_queryset(request).select_related("actor", "assignee")

    def has_view_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        # The history is part of the item: whoever may view the item sees who changed it.
        return request.user.has_perm("worklists.view_workitem") or super().has_view_permission(
            request, obj
        )


@admin.register(WorkItem)
class WorkItemAdmin(TeamScopedAdmin):
    list_display = (
        "title",
        "kind",
        "priority",
        "status",
        "team",
        "assignee",
        "created_at",
    )
    list_filter = (
        "kind",
        "priority",
        "status",
        # Only the teams of the items in scope, so a drop-down names no other team.
        ("team", admin.RelatedOnlyFieldListFilter),
    )
    list_select_related = ("team", "assignee")
    search_fields = ("title",)
    search_help_text = "Words of the item's title."
    date_hierarchy = "created_at"
    actions = ["assign_to_me", "complete_no_action_needed"]
    inlines = (WorkItemEventInline,)
    fields = (
        "public_id",
        "kind",
        "priority",
        "status",
        "title",
        "explanation",
        "patient_ref",
        "team",
        "assignee",
        "due_date",
        "source",
        "dedupe_key",
        "details",
        "created_by",
        "created_at",
        "updated_at",
        "outcome",
        "outcome_note",
        "closed_by",
        "closed_at",
    )

    def get_readonly_fields(self, request: HttpRequest, obj: Model | None = None) -> Any:
        # Every change is a service call (attributable, one event a change): the actions.
        return self.fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Items are raised by what causes them, never typed in.
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        # Close or dismiss instead: the item and its history stay.
        return False

    @admin.display(description="Patient (public id)")
    def patient_ref(self, obj: WorkItem) -> str:
        # The public id only: the patient's details are one click away, scoped and logged.
        return str(obj.patient.public_id) if obj.patient else "—"

    def get_object(
        self, request: HttpRequest, object_id: str, from_field: str | None = None
    ) -> Any:
        obj = super().get_object(request, object_id, from_field)
        user = admin_user(request)
        # An item's explanation is clinical (a breach, a rejected result): opening it is a
        # read of the patient's record, logged as the other admin pages do.
        if obj is not None and obj.patient is not None and user is not None:
            rms_services.access_event_record(
                user=user,
                patient=obj.patient,
                action="work item",
                channel="admin",
                ip_address=access.client_ip(request),
            )
        return obj

    def _act(self, request: HttpRequest, queryset: QuerySet[Any], act: Any, done_text: str) -> None:
        user = admin_user(request)
        if user is None:  # pragma: no cover - admin pages need a logged-in staff user
            raise PermissionDenied
        done = refused = closed = 0
        for item in queryset.select_related("team"):
            try:
                act(item, user)
            except PermissionDenied:
                refused += 1
                continue
            except ValidationError:
                closed += 1
                continue
            self.log_change(request, item, done_text)
            done += 1
        parts = [f"{_plural(done, 'item')} {done_text.lower().rstrip('.')}"]
        if refused:
            parts.append(
                f"{refused} left as they were (only a clinician or team admin of the item's "
                "team can act on it)"
            )
        if closed:
            parts.append(f"{closed} already closed")
        self.message_user(
            request, "; ".join(parts) + ".", messages.SUCCESS if done else messages.WARNING
        )

    @admin.action(description="Assign to me", permissions=["change"])
    def assign_to_me(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        self._act(
            request,
            queryset,
            lambda item, user: services.work_item_assign(item=item, assignee=user, actor=user),
            "Assigned to me.",
        )

    @admin.action(description="Complete (no action needed)", permissions=["change"])
    def complete_no_action_needed(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        self._act(
            request,
            queryset,
            lambda item, user: services.work_item_complete(
                item=item,
                actor=user,
                outcome="no_action_needed",
                note="Completed in Django admin.",
            ),
            "Completed (no action needed).",
        )


@admin.register(Outcome)
class OutcomeAdmin(admin.ModelAdmin):
    """The list of outcomes offered when completing a work item. Completed items store the
    code, so an outcome is retired (made inactive), never deleted, and its code is fixed once
    it exists; whether it counts as an action decides the alert yield."""

    list_display = ("label", "code", "counts_as_action", "active", "order")
    list_editable = ("counts_as_action", "active", "order")
    list_filter = ("active", "counts_as_action")
    ordering = ("order", "label")
    search_fields = ("label", "code")
    prepopulated_fields = {"code": ("label",)}

    def get_readonly_fields(self, request: HttpRequest, obj: Model | None = None) -> Any:
        return ("code",) if obj is not None else ()

    def get_prepopulated_fields(self, request: HttpRequest, obj: Model | None = None) -> Any:
        # A read-only field cannot be prepopulated.
        return self.prepopulated_fields if obj is None else {}

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False
