"""Password rules: at least 12 characters, not common, not all digits, not like the user's
own details."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError

from devtools.demo.people import DEMO_PASSWORD
from tests.rms.auth_helpers import PASSWORD


@pytest.mark.parametrize(
    "password",
    [
        "short-pass1",  # 11 characters
        "password1234",  # common
        "qwertyuiop123",  # common
        "804519372615",  # all digits
        "jane.smith.nhs",  # like the username and email
    ],
)
def test_it_refuses_a_weak_password(password: str) -> None:
    user = User(username="jane.smith", email="jane.smith@example.nhs.uk", first_name="Jane")
    with pytest.raises(ValidationError):
        validate_password(password, user=user)


@pytest.mark.parametrize("password", [PASSWORD, DEMO_PASSWORD])
def test_it_accepts_the_passwords_the_tests_and_the_demo_use(password: str) -> None:
    validate_password(password, user=User(username="cns.uro", email="cns.uro@example.nhs.uk"))
