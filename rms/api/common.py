"""What the API views of every app share: the caller, opening a patient (scoped and logged),
the write check, service errors as 400s, and pagination."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers
from rest_framework.exceptions import NotAuthenticated, PermissionDenied
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request
from rest_framework.settings import api_settings

from rms import access, permissions
from rms.models import Patient

# The 403 of every endpoint that changes a patient's record, as the schema documents it.
READ_ONLY = OpenApiResponse(description=permissions.WRITE_REFUSAL)


class ApiPagination(LimitOffsetPagination):
    # A client may ask for a bigger page, but not for the whole register at once.
    max_limit = 200


def request_user(request: Request) -> User:
    """The authenticated caller. IsAuthenticated has already refused anonymous requests;
    this narrows the type."""
    user = request.user
    if not isinstance(user, User):
        raise NotAuthenticated()
    return user


def open_patient(request: Request, public_id: uuid.UUID, action: str) -> Patient:
    """The patient in the caller's scope (404 otherwise), the access logged as "api"."""
    return access.patient_for_request(
        request=request, public_id=public_id, action=action, channel="api"
    )


def require_write(user: User, patient: Patient) -> None:
    """403 unless ``user`` is a clinician or team admin of one of the patient's teams, with
    ``rms.permissions``' one sentence."""
    if not permissions.can_write(user=user, patient=patient):
        raise PermissionDenied(permissions.WRITE_REFUSAL)


@contextmanager
def service_errors() -> Iterator[None]:
    """A service's ValidationError (messages by field) becomes a 400 with the same keys; its
    PermissionDenied a 403 that keeps the service's sentence (DRF's own handler would replace
    it with a generic one)."""
    try:
        yield
    except DjangoPermissionDenied as exc:
        raise PermissionDenied(str(exc) or None) from exc
    except DjangoValidationError as exc:
        if hasattr(exc, "error_dict"):
            errors = {
                api_settings.NON_FIELD_ERRORS_KEY if field == "__all__" else field: messages
                for field, messages in exc.message_dict.items()
            }
        else:
            errors = {api_settings.NON_FIELD_ERRORS_KEY: exc.messages}
        raise serializers.ValidationError(errors) from exc
