from __future__ import annotations

from django.apps import AppConfig


class PkbBridgeConfig(AppConfig):
    name = "pkb_bridge"
    verbose_name = "Patients Know Best bridge"
