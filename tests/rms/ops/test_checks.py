"""The database's system checks (``rms/ops/checks.py``): ``rms.W001`` when PostgreSQL's
autovacuum is off. PostgreSQL's documentation (Routine Vacuuming, "Updating Planner
Statistics"): the autovacuum daemon, when enabled, issues ANALYZE whenever a table's
content has changed sufficiently; with it off nothing does, so the expected outcome is a
warning exactly when ``current_setting('autovacuum')`` is not ``on``."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.db import connection

from rms.ops.checks import autovacuum_warnings

pytestmark = pytest.mark.django_db


def test_autovacuum_on_gives_no_warning_and_off_gives_rms_w001() -> None:
    assert autovacuum_warnings("on", "default") == []
    (warning,) = autovacuum_warnings("off", "default")
    assert warning.id == "rms.W001"
    assert "autovacuum is off" in warning.msg
    assert "ANALYZE" in (warning.hint or "")


def test_the_database_check_reads_the_servers_own_setting() -> None:
    """``check --database default`` (what ``migrate`` runs first) warns on this server if,
    and only if, its autovacuum is off; SQLite has no autovacuum daemon and is not checked.
    With warnings made errors, the command fails on exactly that warning."""
    expected = False
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SHOW autovacuum")
            expected = cursor.fetchone()[0] != "on"
    out, err = io.StringIO(), io.StringIO()
    call_command("check", "--database", "default", stdout=out, stderr=err)
    assert ("rms.W001" in out.getvalue() + err.getvalue()) is expected
    if expected:
        with pytest.raises(SystemCheckError, match=r"rms\.W001"):
            call_command(
                "check", "--database", "default", "--fail-level", "WARNING", stdout=out, stderr=err
            )
