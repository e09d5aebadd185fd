"""Admin of the inbound feed: the messages as received, the unmatched and review queues, and
the actions that file a held message once a person has decided (reprocess, match to a
patient, create the patient from the message).

A message not yet linked to a patient could be anyone's, so only superusers see those; other
staff see the messages of their teams' patients. Every action goes through
``rms.inbound.inbound_reprocess`` and is recorded in the message's change history.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html

from rms import nhs_number, selectors, services
from rms.admin.record import PatientScopedAdmin, admin_user, scoped_patients, sees_everything
from rms.hl7 import decode_message, extract_patient, parse
from rms.hl7.encoding import codec_for_charset, declared_charset
from rms.hl7.errors import Hl7Error
from rms.inbound import inbound_reprocess
from rms.inbound.filing import demographics
from rms.models import InboundMessage, Patient

Status = InboundMessage.Status
HELD = (Status.UNMATCHED, Status.REVIEW, Status.ERROR, Status.RECEIVED)


def _as_text(message: InboundMessage) -> str:
    """The raw bytes for reading, one segment a line, in the character set MSH-18 declares:
    an administrator compares the names with a record, and a Latin-1 "Brontë" read as UTF-8
    loses its ë. Bytes that do not decode show as replacement characters."""
    raw = message.raw_bytes
    try:
        codec = codec_for_charset(declared_charset(raw)) or "utf-8"
    except Hl7Error:
        codec = "utf-8"
    text = raw.decode(codec, errors="replace")
    return text.replace("\r\n", "\n").replace("\r", "\n")


class FindPatientForm(forms.Form):
    identifier = forms.CharField(
        label="NHS number or MRN",
        max_length=40,
        help_text="The patient this message is about. You will see their details before filing.",
    )


@admin.register(InboundMessage)
class InboundMessageAdmin(PatientScopedAdmin):
    access_action = "inbound message"
    list_display = (
        "received_at",
        "message_type",
        "sending_application",
        "control_id",
        "status",
        "short_error",
    )
    list_filter = ("status", "sender_check", "channel", "message_type", "sending_application")
    search_fields = ("control_id", "message_type", "=patient__nhs_number", "=patient__mrn")
    date_hierarchy = "received_at"
    actions = ["reprocess_selected"]
    exclude = ("raw", "ack")
    readonly_fields = (
        "public_id",
        "received_at",
        "channel",
        "peer",
        "credential",
        "sending_application",
        "sending_facility",
        "control_id",
        "message_type",
        "status",
        "sender_check",
        "error",
        "patient",
        "processed_at",
        "attempts",
        "raw_text",
        "ack_code",
        "ack_text",
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        queryset = super(PatientScopedAdmin, self).get_queryset(request).select_related("patient")
        if sees_everything(request):
            return queryset
        return queryset.filter(patient__in=scoped_patients(request))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Kept: a refused or held message is the evidence of what the sender said.
        return False

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Any], search_term: str
    ) -> tuple[QuerySet[Any], bool]:
        digits = nhs_number.normalise(search_term)
        if digits.isdigit() and len(digits) == 10:
            search_term = digits
        return super().get_search_results(request, queryset, search_term)

    @admin.display(description="Reason")
    def short_error(self, obj: InboundMessage) -> str:
        return (obj.error[:80] + "…") if len(obj.error) > 80 else obj.error

    @admin.display(description="Message as received (one segment a line)")
    def raw_text(self, obj: InboundMessage) -> str:
        return format_html("<pre>{}</pre>", _as_text(obj))

    @admin.display(description="Acknowledgement sent")
    def ack_text(self, obj: InboundMessage) -> str:
        return format_html("<pre>{}</pre>", obj.ack.replace("\r", "\n"))

    # --- actions -------------------------------------------------------------------------

    @admin.action(description="Process the selected messages again", permissions=["change"])
    def reprocess_selected(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        user = admin_user(request)
        if user is None:
            raise PermissionDenied
        outcomes: dict[str, int] = {}
        for message in queryset.filter(status__in=HELD):
            message = inbound_reprocess(message=message, actor=user)
            outcomes[message.get_status_display()] = (
                outcomes.get(message.get_status_display(), 0) + 1
            )
        summary = ", ".join(f"{count} {status.lower()}" for status, count in outcomes.items())
        self.message_user(request, f"Processed again: {summary or 'nothing held was selected'}.")

    def get_urls(self) -> list[URLPattern]:
        own = [
            path(
                "<path:object_id>/match/",
                self.admin_site.admin_view(self.match_view),
                name="rms_inboundmessage_match",
            ),
            path(
                "<path:object_id>/create-patient/",
                self.admin_site.admin_view(self.create_patient_view),
                name="rms_inboundmessage_create_patient",
            ),
        ]
        return own + super().get_urls()

    def _held_message(self, request: HttpRequest, object_id: str) -> InboundMessage:
        message = self.get_object(request, unquote(object_id))
        if message is None:
            raise Http404("No such message.")
        if not self.has_change_permission(request, message):
            raise PermissionDenied
        if message.status not in HELD:
            raise Http404("This message is not held.")
        return message

    def _change_url(self, message: InboundMessage) -> str:
        return reverse("admin:rms_inboundmessage_change", args=[message.pk])

    def match_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Find the patient by NHS number or MRN, show them, and file on confirmation."""
        message = self._held_message(request, object_id)
        user = admin_user(request)
        candidates = selectors.patient_list_for_admin(user=request.user)
        form = FindPatientForm(request.POST or None)
        patient: Patient | None = None
        if request.method == "POST" and form.is_valid():
            term = form.cleaned_data["identifier"].strip()
            digits = nhs_number.normalise(term)
            patient = (
                candidates.filter(nhs_number=digits).first() if digits.isdigit() else None
            ) or candidates.filter(mrn=term).first()
            if patient is None:
                form.add_error("identifier", "No patient with this NHS number or MRN.")
            elif request.POST.get("confirm") == str(patient.public_id) and user is not None:
                message = inbound_reprocess(message=message, actor=user, patient=patient)
                self.log_change(
                    request, message, f"Matched by hand to patient {patient.public_id}."
                )
                self.message_user(
                    request,
                    f"Message filed against the chosen patient: {message.get_status_display()}.",
                    messages.SUCCESS if message.status == Status.PROCESSED else messages.WARNING,
                )
                return HttpResponseRedirect(self._change_url(message))
        context = {
            **self.admin_site.each_context(request),
            "title": "Match message to a patient",
            "opts": self.model._meta,
            "original": message,
            "form": form,
            "patient": patient,
            "raw_text": _as_text(message),
        }
        return render(request, "admin/rms/inboundmessage/match.html", context)

    def create_patient_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Register the patient the message describes (on no caseload), then file it."""
        if not sees_everything(request):
            raise PermissionDenied
        message = self._held_message(request, object_id)
        user = admin_user(request)
        if request.method != "POST" or user is None:
            return HttpResponseRedirect(self._change_url(message))
        try:
            identity = extract_patient(parse(decode_message(message.raw_bytes)))
            patient = services.patient_register_from_feed(actor=user, **demographics(identity))
        except Hl7Error as exc:
            self.message_user(request, f"The message cannot be read: {exc.reason}", messages.ERROR)
            return HttpResponseRedirect(self._change_url(message))
        except ValidationError as exc:
            self.message_user(
                request,
                "The patient could not be created from this message: " + "; ".join(exc.messages),
                messages.ERROR,
            )
            return HttpResponseRedirect(self._change_url(message))
        message = inbound_reprocess(message=message, actor=user, patient=patient)
        self.log_change(request, message, f"Created patient {patient.public_id} and filed.")
        self.message_user(
            request,
            "Patient created from the message (on no team's caseload yet) and the message filed.",
            messages.SUCCESS,
        )
        return HttpResponseRedirect(self._change_url(message))

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        extra_context = {**(extra_context or {}), "can_create_patient": sees_everything(request)}
        return super().change_view(request, object_id, form_url, extra_context)
