"""Django admin of the PKB bridge, for administrators.

Scope follows ``rms.admin``: a superuser sees every row; other staff only the rows of their
teams' patients (enrolments, publications, messages) and their teams' release policies, which
only a team admin of the team may change. Records of what happened (enrolments, publications
and their decisions, messages and their attempts) are read-only; what an administrator may do
to them are actions that call the services with the administrator as the actor: resend an
invitation, requeue or cancel a message, resume the connection.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import ForeignKey, Model, QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from pkb_bridge import services
from pkb_bridge.models import (
    Connection,
    DeliveryAttempt,
    Enrolment,
    OutboundMessage,
    Publication,
    PublicationDecision,
    ReleasePolicy,
)
from rms import nhs_number, selectors
from rms.admin.record import (
    PatientScopedAdmin,
    TeamScopedAdmin,
    ViewOnlyMixin,
    admin_user,
    sees_everything,
)
from rms.models import Team
from rms.models.teams import Role

Status = OutboundMessage.Status


def _actor(request: HttpRequest) -> Any:
    user = admin_user(request)
    if user is None:  # pragma: no cover - admin pages need a logged-in staff user
        raise PermissionDenied
    return user


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _all_fields(model: type[Model]) -> tuple[str, ...]:
    return tuple(field.name for field in model._meta.concrete_fields if field.name != "id")


class PkbPatientAdmin(PatientScopedAdmin):
    """Rows about one patient: searchable by NHS number (spaces fine) or MRN."""

    search_fields: ClassVar[tuple[str, ...]] = ("=patient__nhs_number", "=patient__mrn")
    search_help_text = "The patient's NHS number (spaces are fine) or MRN."

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Any], search_term: str
    ) -> tuple[QuerySet[Any], bool]:
        digits = nhs_number.normalise(search_term)
        if digits.isdigit() and len(digits) == 10:
            search_term = digits
        return super().get_search_results(request, queryset, search_term)

    @admin.display(description="Patient (public id)", ordering="patient__public_id")
    def patient_ref(self, obj: Any) -> str:
        return str(obj.patient.public_id)


# ---------------------------------------------------------------------------
# Enrolments
# ---------------------------------------------------------------------------
@admin.register(Enrolment)
class EnrolmentAdmin(PkbPatientAdmin):
    access_action = "pkb enrolment"
    list_display = (
        "patient_ref",
        "team",
        "status",
        "invitation",
        "opted_in_at",
        "opted_in_by",
        "registered_at",
    )
    list_filter = ("status", "invitation", "team")
    list_select_related = ("patient", "team", "opted_in_by")
    date_hierarchy = "opted_in_at"
    actions = ["resend_invitation"]

    def get_readonly_fields(self, request: HttpRequest, obj: Model | None = None) -> Any:
        # Sharing starts and stops in the clinician pages, where the services check the role.
        return _all_fields(Enrolment)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    @admin.action(description="Resend the invitation email", permissions=["change"])
    def resend_invitation(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        actor = _actor(request)
        queued = 0
        no_email = 0
        skipped = 0
        for enrolment in queryset.select_related("patient"):
            enrolment = services.invitation_resend(enrolment=enrolment, actor=actor)
            if enrolment.invitation == Enrolment.Invitation.QUEUED:
                queued += 1
                self.log_change(request, enrolment, "Invitation email queued again.")
            elif enrolment.invitation == Enrolment.Invitation.NO_EMAIL:
                no_email += 1
            else:
                skipped += 1
        parts = [f"{_plural(queued, 'invitation')} queued"]
        if no_email:
            parts.append(f"{no_email} without an email address (help them register)")
        if skipped:
            parts.append(f"{skipped} not yet registered by PKB or no longer shared")
        self.message_user(
            request, "; ".join(parts) + ".", messages.SUCCESS if queued else messages.WARNING
        )


# ---------------------------------------------------------------------------
# Release policies
# ---------------------------------------------------------------------------
@admin.register(ReleasePolicy)
class ReleasePolicyAdmin(TeamScopedAdmin):
    """Members of a team see its policies; only its team admins (and superusers) change them."""

    list_display = (
        "team",
        "category",
        "mode",
        "delay_days",
        "auto_release_days",
        "updated_by",
        "updated_at",
    )
    list_filter = ("team", "category", "mode")
    list_select_related = ("team", "updated_by")
    readonly_fields = ("updated_by", "updated_at")

    def _admin_teams(self, request: HttpRequest) -> QuerySet[Team]:
        return selectors.team_list(user=request.user, roles=frozenset({Role.TEAM_ADMIN}))

    def _may_edit(self, request: HttpRequest, obj: Model | None) -> bool:
        if sees_everything(request):
            return True
        teams = self._admin_teams(request)
        if obj is None:
            return teams.exists()
        policy: ReleasePolicy = obj  # type: ignore[assignment]
        return teams.filter(pk=policy.team_id).exists()

    def has_add_permission(self, request: HttpRequest) -> bool:
        return super().has_add_permission(request) and self._may_edit(request, None)

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return super().has_change_permission(request, obj) and self._may_edit(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return super().has_delete_permission(request, obj) and self._may_edit(request, obj)

    def formfield_for_foreignkey(
        self, db_field: ForeignKey[Any, Any], request: HttpRequest, **kwargs: Any
    ) -> forms.ModelChoiceField | None:
        # A policy can be set only for a team the user administers.
        if db_field.related_model is Team and not sees_everything(request):
            kwargs["queryset"] = self._admin_teams(request)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        obj.updated_by = _actor(request)
        super().save_model(request, obj, form, change)


# ---------------------------------------------------------------------------
# Publications
# ---------------------------------------------------------------------------
class PublicationDecisionInline(ViewOnlyMixin, admin.TabularInline):
    model = PublicationDecision
    extra = 0
    fields = ("decided_at", "state", "decided_by", "reason")
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return super().get_queryset(request).select_related("decided_by")


@admin.register(Publication)
class PublicationAdmin(ViewOnlyMixin, PkbPatientAdmin):
    access_action = "pkb publication"
    list_display = (
        "patient_ref",
        "category",
        "state",
        "delay_days",
        "decided_by",
        "decided_at",
        "message_status",
    )
    list_filter = ("state", "category")
    list_select_related = ("patient", "decided_by", "message")
    raw_id_fields = ("result", "document", "appointment", "message")
    readonly_fields = ("decided_at",)
    inlines = (PublicationDecisionInline,)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return super().get_queryset(request).defer("message__payload")

    @admin.display(description="Message")
    def message_status(self, obj: Publication) -> str:
        return obj.message.get_status_display() if obj.message else "—"


# ---------------------------------------------------------------------------
# The outbox
# ---------------------------------------------------------------------------
def _body_text(body: bytes | memoryview | None) -> str:
    if body is None:
        return "(pruned or none)"
    return bytes(body).decode("utf-8", errors="replace")


class DeliveryAttemptInline(ViewOnlyMixin, admin.TabularInline):
    """Each try, without the request and response bodies (they hold the patient's data)
    unless the page is opened with ``?bodies=1``."""

    model = DeliveryAttempt
    extra = 0
    fields = (
        "started_at",
        "finished_at",
        "outcome",
        "http_status",
        "ack_code",
        "ack_control_id",
        "ack_text",
        "error_kind",
        "error",
        "worker",
        "bodies_pruned_at",
    )
    readonly_fields = ("request_text", "response_text")

    def get_fields(self, request: HttpRequest, obj: Model | None = None) -> Any:
        if request.GET.get("bodies") == "1":
            return (*self.fields, "request_text", "response_text")
        return self.fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        queryset = super().get_queryset(request).order_by("started_at", "id")
        if request.GET.get("bodies") == "1":
            return queryset
        return queryset.defer("request_body", "response_body")

    @admin.display(description="Sent")
    def request_text(self, obj: DeliveryAttempt) -> str:
        return format_html("<pre>{}</pre>", _body_text(obj.request_body))

    @admin.display(description="Received")
    def response_text(self, obj: DeliveryAttempt) -> str:
        return format_html("<pre>{}</pre>", _body_text(obj.response_body))


@admin.register(OutboundMessage)
class OutboundMessageAdmin(PkbPatientAdmin):
    access_action = "pkb message"
    list_display = (
        "patient_ref",
        "kind",
        "seq",
        "status",
        "attempts",
        "next_attempt_at",
        "stalled_at",
        "ack_code",
        "short_error",
    )
    # "Stalled at: not empty" lists the messages that keep failing (docs/pkb.md).
    list_filter = ("status", "kind", ("stalled_at", admin.EmptyFieldListFilter))
    search_fields = ("=control_id", "=patient__nhs_number", "=patient__mrn")
    search_help_text = "Control id (MSH-10), or the patient's NHS number or MRN."
    list_select_related = ("patient",)
    actions = ["requeue_selected", "cancel_selected"]
    exclude = ("payload",)
    inlines = (DeliveryAttemptInline,)

    def get_readonly_fields(self, request: HttpRequest, obj: Model | None = None) -> Any:
        # A message is sent as built: the same bytes every time. Only the actions change it.
        fields = tuple(name for name in _all_fields(OutboundMessage) if name != "payload")
        return (*fields, "payload_text", "attempt_bodies")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return super().get_queryset(request).select_related("patient", "enrolment")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        # Nothing is ever silently dropped: cancel instead, which keeps the row.
        return False

    @admin.display(description="Last error or PKB's text")
    def short_error(self, obj: OutboundMessage) -> str:
        text = obj.ack_text or obj.last_error or obj.cancelled_reason
        return (text[:80] + "…") if len(text) > 80 else text

    @admin.display(description="Message (one segment a line)")
    def payload_text(self, obj: OutboundMessage) -> str:
        return format_html("<pre>{}</pre>", obj.payload.replace("\r\n", "\n").replace("\r", "\n"))

    @admin.display(description="Attempt bodies")
    def attempt_bodies(self, obj: OutboundMessage) -> str:
        return format_html(
            '<a href="?{}">Show the bytes sent and received with each attempt</a>', "bodies=1"
        )

    @admin.action(description="Requeue (send again)", permissions=["change"])
    def requeue_selected(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        actor = _actor(request)
        done = 0
        refused: list[str] = []
        for message in queryset.filter(status__in=[Status.REJECTED, Status.CANCELLED]):
            try:
                services.message_requeue(message=message, actor=actor)
            except ValidationError as error:
                refused.append(f"#{message.seq}: {' '.join(error.messages)}")
                continue
            self.log_change(
                request, message, "Requeued: rebuilt from the current record, new MSH-10."
            )
            done += 1
        for text in refused:
            self.message_user(request, f"Not requeued {text}", messages.ERROR)
        skipped = queryset.count() - done - len(refused)
        text = f"{_plural(done, 'message')} queued to be sent again."
        if skipped:
            text += f" {skipped} left as they were (only rejected or cancelled ones are requeued)."
        self.message_user(request, text, messages.SUCCESS if done else messages.WARNING)

    @admin.action(description="Cancel (never send)", permissions=["change"])
    def cancel_selected(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        actor = _actor(request)
        done = 0
        for message in queryset.filter(status__in=[Status.PENDING, Status.REJECTED]):
            services.message_cancel(message=message, actor=actor, reason="Cancelled in admin")
            self.log_change(request, message, "Cancelled: will not be sent.")
            done += 1
        skipped = queryset.count() - done
        text = f"{_plural(done, 'message')} cancelled."
        if skipped:
            text += (
                f" {skipped} left as they were (a message being sent or already accepted "
                "cannot be cancelled)."
            )
        self.message_user(request, text, messages.SUCCESS if done else messages.WARNING)


# ---------------------------------------------------------------------------
# The connection
# ---------------------------------------------------------------------------
@admin.register(Connection)
class ConnectionAdmin(ViewOnlyMixin, admin.ModelAdmin):
    """The one PKB connection: paused when PKB refuses our credentials or address. Serves
    every team, so only a superuser resumes it."""

    list_display = ("name", "paused", "paused_at", "paused_reason", "resumed_by", "resumed_at")
    actions = ["resume_sending"]

    def has_resume_permission(self, request: HttpRequest) -> bool:
        return sees_everything(request)

    @admin.action(description="Resume sending", permissions=["resume"])
    def resume_sending(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        connection = services.connection_resume(actor=_actor(request))
        self.log_change(request, connection, "Sending resumed.")
        self.message_user(request, "Sending to PKB has resumed.", messages.SUCCESS)


from pkb_bridge.fhir import admin as fhir_admin  # noqa: E402, F401  (registers FhirInbound)
