"""Django admin of users, with the sign-in actions: end a user's sessions on every device,
and reset their two-factor login (a lost phone: they enrol again at their next login)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest

from rms.accounts import services

admin.site.unregister(User)


def _actor(request: HttpRequest) -> User:
    if not isinstance(request.user, User):
        raise PermissionDenied
    return request.user


@admin.register(User)
class RmsUserAdmin(UserAdmin):
    actions = ["end_sessions_everywhere", "reset_two_factor"]

    @admin.action(description="Log the selected users out on every device")
    def end_sessions_everywhere(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        actor = _actor(request)
        for user in queryset:
            services.sessions_end_all(user=user, actor=actor)
        self.message_user(
            request, f"{queryset.count()} user(s) logged out on every device.", messages.SUCCESS
        )

    @admin.action(description="Reset two-factor login of the selected users (they set it up again)")
    def reset_two_factor(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        actor = _actor(request)
        for user in queryset:
            services.two_factor_reset(user=user, actor=actor)
        self.message_user(
            request,
            f"Two-factor login reset for {queryset.count()} user(s); they set it up again "
            "at their next login.",
            messages.SUCCESS,
        )
