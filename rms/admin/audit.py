"""Django admin of the audit records and API tokens.

The change log (django-auditlog's ``LogEntry``) is view-only for everyone, superusers
included, like the access log (``record.AccessEventAdmin``): audit entries cannot be edited
or deleted through the product. API tokens are listed by their key prefix (the key itself is
stored only as a hash) and revoked by deleting them.
"""

from __future__ import annotations

from auditlog.admin import LogEntryAdmin
from auditlog.models import LogEntry
from django.contrib import admin
from django.db.models import Model, QuerySet
from django.http import HttpRequest
from django.utils import timezone
from knox.admin import AuthTokenAdmin
from knox.models import AuthToken

from rms.admin.record import ViewOnlyMixin

for _model in (LogEntry, AuthToken):
    if admin.site.is_registered(_model):
        admin.site.unregister(_model)


@admin.register(LogEntry)
class ReadOnlyLogEntryAdmin(ViewOnlyMixin, LogEntryAdmin):
    """auditlog's own admin, without its cascade-delete exception."""

    actions = None

    def has_add_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


@admin.register(AuthToken)
class ApiTokenAdmin(AuthTokenAdmin):
    """Add shows the new key once; a token cannot be edited (an expiry is not extended);
    "Revoke" deletes it, and it stops working at once."""

    list_display = ("token_key", "user", "created", "expiry", "expired")
    list_select_related = ("user",)
    search_fields = ("token_key", "user__username")
    actions = ["revoke"]

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    @admin.display(boolean=True)
    def expired(self, obj: AuthToken) -> bool:
        return obj.expiry is not None and obj.expiry <= timezone.now()

    @admin.action(description="Revoke the selected tokens", permissions=["delete"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[AuthToken]) -> None:
        count, _ = queryset.delete()
        self.message_user(request, f"Revoked {count} token(s).")
