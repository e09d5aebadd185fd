"""The one way views and API views open a patient's record: scoped, and logged.

``patient_for_request`` returns the patient when the user's teams have them, and records an
allowed access event; otherwise it records a refused event (when the id is a real patient)
and raises Http404, so a patient of another team is indistinguishable from no patient.
``patient_for_write`` does the same, then refuses (403, ``rms.permissions.Refused``) a user
whose role in the patient's teams is read-only.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from django.contrib.auth.models import User
from django.http import Http404, HttpRequest
from rest_framework.request import Request

from rms import permissions, selectors, services
from rms.models import Patient


def client_ip(request: HttpRequest | Request) -> str | None:
    # REMOTE_ADDR only: X-Forwarded-For is set by the client unless a trusted proxy rewrites it.
    return request.META.get("REMOTE_ADDR") or None


def patient_for_request(
    *, request: HttpRequest | Request, public_id: uuid.UUID | str, action: str, channel: str = "web"
) -> Patient:
    user = request.user
    try:
        patient = selectors.patient_get(user=user, public_id=public_id)
    except Patient.DoesNotExist:
        other = selectors.patient_exists_outside_scope(public_id=public_id)
        if other is not None and isinstance(user, User):
            services.access_event_record(
                user=user,
                patient=other,
                action=action,
                channel=channel,
                allowed=False,
                ip_address=client_ip(request),
            )
        raise Http404("No such patient.") from None
    if not isinstance(user, User):  # an anonymous user has no patients in scope
        raise Http404("No such patient.")
    services.access_event_record(
        user=user,
        patient=patient,
        action=action,
        channel=channel,
        ip_address=client_ip(request),
    )
    return patient


def patient_for_write(
    *, request: HttpRequest | Request, public_id: uuid.UUID | str, action: str
) -> Patient:
    """``patient_for_request``, for a change: a viewer (or any read-only role) is refused
    (``rms.permissions.Refused``, the one sentence every page shows)."""
    patient = patient_for_request(request=request, public_id=public_id, action=action)
    permissions.require_write(user=request.user, patient=patient)
    return patient


def patients_listed(
    *,
    request: HttpRequest | Request,
    patient_ids: Iterable[int | None],
    action: str,
    channel: str = "web",
) -> None:
    """Record that ``request.user`` was shown a list of patients (a list or search page, a
    worklist, a caseload page, an API list, an export): one access event naming every
    patient on it by id. Rows without a patient (``None``) are left out."""
    user = request.user
    if not isinstance(user, User):
        return
    services.access_event_record_list(
        user=user,
        patient_ids=[pid for pid in patient_ids if pid is not None],
        action=action,
        channel=channel,
        ip_address=client_ip(request),
    )
