"""Django admin of what PKB's FHIR API sent us: every resource as received, and a "refile"
action for held ones once their cause is fixed. Superusers only: a held resource may belong to
no patient in the record yet. Registered from ``pkb_bridge.admin``."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from pkb_bridge.models import FhirInbound
from rms.admin.record import ViewOnlyMixin, sees_everything


@admin.register(FhirInbound)
class FhirInboundAdmin(ViewOnlyMixin, admin.ModelAdmin):
    list_display = ("resource_type", "fhir_id", "status", "reason", "received_at")
    list_filter = ("status", "resource_type")
    search_fields = ("=fhir_id", "=nhs_number")
    readonly_fields = ("resource",)
    actions = ["refile_selected"]

    def has_module_permission(self, request: HttpRequest) -> bool:
        return sees_everything(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return sees_everything(request)

    def has_refile_permission(self, request: HttpRequest) -> bool:
        return sees_everything(request)

    @admin.action(description="Refile (try again)", permissions=["refile"])
    def refile_selected(self, request: HttpRequest, queryset: QuerySet[FhirInbound]) -> None:
        from pkb_bridge.fhir.services import inbound_refile

        filed = 0
        for inbound in queryset.filter(status=FhirInbound.Status.HELD):
            if inbound_refile(inbound=inbound).status == FhirInbound.Status.FILED:
                filed += 1
        self.message_user(
            request, f"{filed} filed; the others stay held with their reason.", messages.INFO
        )
