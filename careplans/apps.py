from __future__ import annotations

from django.apps import AppConfig


class CareplansConfig(AppConfig):
    name = "careplans"
    verbose_name = "Follow-up plans and care plans"
