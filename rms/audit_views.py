"""The audit trail of one patient, for the team admins of the patient's teams: a page with
filters (dates, user) and keyset paging, and a CSV export of the same filtered trail.

A patient outside the user's teams is a 404 (and a refused access is logged, as everywhere);
a clinician or viewer of the patient's team is refused with 403. Viewing the trail and
exporting it are both written to the access log.
"""

from __future__ import annotations

import csv
import datetime as dt
import uuid
from collections.abc import Iterator

from django import forms
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.cache import never_cache

from rms import access, permissions, selectors, services
from rms.audit_trail import Cursor, Entry, audit_trail, audit_users, user_is_team_admin_for
from rms.models import Patient

PAGE_SIZE = 50
EXPORT_BATCH = 500
CSV_HEADER = ["time", "user", "action", "what", "changed fields", "channel", "outcome", "ip"]
# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


class AuditFilterForm(forms.Form):
    date_from = forms.DateField(required=False, label="From")
    date_to = forms.DateField(required=False, label="To (inclusive)")
    user = forms.TypedChoiceField(required=False, label="User", coerce=int, empty_value=None)

    def __init__(self, *args: object, users: list[User], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        user_field = self.fields["user"]
        assert isinstance(user_field, forms.TypedChoiceField)  # noqa: S101 (for the type checker)
        user_field.choices = [("", "Anyone")] + [(u.pk, u.username) for u in users]
        for field in self.fields.values():
            field.widget.attrs["class"] = (
                "form-select" if isinstance(field, forms.TypedChoiceField) else "form-control"
            )
        self.fields["date_from"].widget.input_type = "date"
        self.fields["date_to"].widget.input_type = "date"

    def bounds(self) -> tuple[dt.datetime | None, dt.datetime | None, int | None]:
        """(from, to exclusive, user id) in local time; empty when the form is not valid."""
        if not self.is_valid():
            return None, None, None
        zone = timezone.get_current_timezone()
        start = self.cleaned_data["date_from"]
        end = self.cleaned_data["date_to"]
        return (
            dt.datetime.combine(start, dt.time.min, zone) if start else None,
            dt.datetime.combine(end + dt.timedelta(days=1), dt.time.min, zone) if end else None,
            self.cleaned_data["user"],
        )


def _open_for_team_admin(request: HttpRequest, public_id: uuid.UUID, action: str) -> Patient:
    """The patient when ``request.user`` is a team admin of one of the patient's teams; 404
    outside the user's teams (logged by ``patient_for_request``), 403 for other roles."""
    user = request.user
    try:
        patient = selectors.patient_get(user=user, public_id=public_id)
    except Patient.DoesNotExist:
        access.patient_for_request(request=request, public_id=public_id, action=action)
        raise  # patient_for_request raised Http404; this line is not reached
    if not isinstance(user, User) or not user_is_team_admin_for(user=user, patient=patient):
        if isinstance(user, User):
            services.access_event_record(
                user=user,
                patient=patient,
                action=action,
                allowed=False,
                ip_address=access.client_ip(request),
            )
        raise permissions.Refused("Only a team admin of the patient's team can see the audit.")
    return access.patient_for_request(request=request, public_id=public_id, action=action)


def _filters(request: HttpRequest, patient: Patient) -> AuditFilterForm:
    return AuditFilterForm(request.GET or None, users=list(audit_users(patient=patient)))


@login_required
@never_cache
def patient_audit(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    """The trail, newest first, ``PAGE_SIZE`` a page; "Older" follows the last entry shown."""
    patient = _open_for_team_admin(request, public_id, "audit")
    form = _filters(request, patient)
    date_from, date_to, user_id = form.bounds()
    after = Cursor.decode(request.GET.get("after", ""))
    entries = audit_trail(
        patient=patient,
        date_from=date_from,
        date_to=date_to,
        user_id=user_id,
        after=after,
        limit=PAGE_SIZE + 1,
    )
    older = entries[PAGE_SIZE - 1].cursor.encode() if len(entries) > PAGE_SIZE else ""
    query = request.GET.copy()
    query.pop("after", None)
    return render(
        request,
        "rms/audit/patient_audit.html",
        {
            "patient": patient,
            "form": form,
            "entries": entries[:PAGE_SIZE],
            "older": older,
            "is_first_page": after is None,
            "filter_query": query.urlencode(),
        },
    )


def csv_safe(value: str) -> str:
    """``value`` made inert for a spreadsheet: a leading formula character gets a quote."""
    return "'" + value if value.startswith(FORMULA_PREFIXES) else value


class _Echo:
    def write(self, value: str) -> str:
        return value


def _rows(entries: Iterator[Entry]) -> Iterator[list[str]]:
    yield CSV_HEADER
    for e in entries:
        row = [
            e.at.isoformat(),
            e.user,
            e.action,
            e.what,
            e.detail,
            e.channel,
            e.outcome,
            e.ip_address,
        ]
        yield [csv_safe(cell) for cell in row]


@login_required
@never_cache
def patient_audit_export(request: HttpRequest, public_id: uuid.UUID) -> StreamingHttpResponse:
    """The whole filtered trail as CSV, streamed in batches of ``EXPORT_BATCH`` (two queries
    a batch). The export itself is logged before the first row."""
    patient = _open_for_team_admin(request, public_id, "audit export")
    date_from, date_to, user_id = _filters(request, patient).bounds()

    def entries() -> Iterator[Entry]:
        after: Cursor | None = None
        while True:
            batch = audit_trail(
                patient=patient,
                date_from=date_from,
                date_to=date_to,
                user_id=user_id,
                after=after,
                limit=EXPORT_BATCH,
            )
            yield from batch
            if len(batch) < EXPORT_BATCH:
                return
            after = batch[-1].cursor

    writer = csv.writer(_Echo())
    response = StreamingHttpResponse(
        (writer.writerow(row) for row in _rows(entries())), content_type="text/csv"
    )
    # No name or NHS number in the file name: downloads lists and logs keep it.
    response["Content-Disposition"] = f'attachment; filename="audit-{patient.public_id}.csv"'
    return response
