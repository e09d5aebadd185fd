"""Sign-in security state kept per user (the two-factor devices live in django-otp's tables)."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class AccountSecurity(models.Model):
    """Per-user sign-in state: the generation of the user's sessions.

    Every session records the generation it started in; "log out everywhere" increments it, and
    the session middleware ends any session of an older generation on its next request. This
    works with any session backend (database, cache, signed cookies), which deleting session
    rows would not.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="account_security"
    )
    session_generation = models.PositiveIntegerField(default=0)
    sessions_ended_at = models.DateTimeField(null=True, blank=True)
    sessions_ended_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        verbose_name = "account security"
        verbose_name_plural = "account security"

    def __str__(self) -> str:
        return f"Sign-in state of user {self.user_id}"
