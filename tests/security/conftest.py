"""Shared by the security tests: how an API caller authenticates.

Every API request in these tests gets its credentials from ``api_headers``, so a change of
token scheme is one edit here.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.contrib.auth.models import User

from rms.api.tokens import token_create

ApiHeaders = Callable[[User], dict[str, str]]


def api_authorization(user: User) -> dict[str, str]:
    """The HTTP header that authenticates ``user`` to /api/v1/ (a new token each call)."""
    _, key = token_create(user=user)
    return {"Authorization": f"Token {key}"}


def api_headers_for(user: User) -> dict[str, str]:
    """The same, in the Django test client's form (``HTTP_AUTHORIZATION=...``)."""
    return {
        "HTTP_" + name.upper().replace("-", "_"): value
        for name, value in api_authorization(user).items()
    }


@pytest.fixture
def api_headers(db: None) -> ApiHeaders:
    return api_headers_for
