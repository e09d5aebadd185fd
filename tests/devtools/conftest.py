"""Fixtures of the development tools' tests."""

from __future__ import annotations

import socket

import pytest
from django.conf import settings as django_settings


@pytest.fixture
def demo_settings(settings, tmp_path):  # type: ignore[no-untyped-def]
    """What demo_patient_data changes (the demo's settings, the sandbox's port and data file),
    undone after the test."""
    for name in ("MAILERS", "DEMO_MAILBOX_DIR", "DEBUG", "RMS_REQUIRE_2FA"):
        setattr(settings, name, getattr(django_settings, name))
    settings.VAR_DIR = tmp_path
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.PKB_URL = f"http://127.0.0.1:{port}/services/hl7"
    return tmp_path
