"""The sign-in pages, included under ``accounts/`` by ``rms.urls``. Not namespaced: Django's
``LOGIN_URL`` and the templates use the names ``login`` and ``logout``."""

from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.urls import URLPattern, path

from rms.accounts import views

urlpatterns: list[URLPattern] = [
    path("login/", views.SignInView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("two-factor/", views.two_factor_verify, name="account_two_factor"),
    path("two-factor/set-up/", views.two_factor_enrol, name="account_two_factor_enrol"),
    path("log-out-everywhere/", views.logout_everywhere, name="account_logout_everywhere"),
]
