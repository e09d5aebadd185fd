"""API tokens (django-rest-knox): created with an expiry, stored hashed, revoked by deletion.

The key is shown once, when it is made; the database keeps its SHA-512 digest and the first
15 characters (``token_key``), which name the token in lists and in revocation.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from knox.models import AuthToken
from knox.settings import CONSTANTS


def token_create(*, user: User, ttl_hours: int | None = None) -> tuple[AuthToken, str]:
    """A new token for ``user`` living ``ttl_hours`` (default ``API_TOKEN_TTL_HOURS``);
    returns the row and the key, which is not stored. Each call makes another token."""
    hours = settings.API_TOKEN_TTL_HOURS if ttl_hours is None else ttl_hours
    token, key = AuthToken.objects.create(user=user, expiry=dt.timedelta(hours=hours))
    return token, key


def token_list(*, user: User | None = None) -> QuerySet[AuthToken]:
    """Tokens not yet expired, newest first (of one user, or of everyone)."""
    tokens = AuthToken.objects.filter(expiry__gt=timezone.now()).select_related("user")
    if user is not None:
        tokens = tokens.filter(user=user)
    return tokens.order_by("-created")


@transaction.atomic
def token_revoke(*, token_key: str = "", user: User | None = None) -> int:
    """Delete the tokens whose key starts with ``token_key`` (the 15 characters a list shows),
    or every token of ``user``; returns how many. Revoking twice is harmless."""
    if not token_key and user is None:
        raise ValueError("Name a token or a user.")
    tokens = AuthToken.objects.all()
    if token_key:
        tokens = tokens.filter(token_key=token_key[: CONSTANTS.TOKEN_KEY_LENGTH])
    if user is not None:
        tokens = tokens.filter(user=user)
    deleted, _ = tokens.delete()
    return deleted
