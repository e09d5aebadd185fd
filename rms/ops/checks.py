"""System checks of the database the RMS runs on (Django's ``database`` tag: run by
``migrate`` and ``check --database default``), so that the release step says what the
documentation would otherwise have to be read for.

``rms.W001``: PostgreSQL's autovacuum is off. Autovacuum is what gathers the planner's
statistics as tables grow; without it the plans made while a table was nearly empty stay,
and the hot paths (the PKB dispatcher's claim, filing's lock on a report's results, the
foreign-key checks of every insert) read whole tables for each row (docs/benchmarks.md,
"Ninth round"; docs/operations.md, "Going live").
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.core import checks
from django.db import connections


def autovacuum_warnings(setting: str, alias: str) -> list[checks.CheckMessage]:
    """The warning for the value of PostgreSQL's ``autovacuum`` setting on ``alias``."""
    if setting.strip().lower() == "on":
        return []
    return [
        checks.Warning(
            f"PostgreSQL's autovacuum is {setting or 'not set'} on the database {alias!r}: "
            "nothing gathers the planner's statistics as the tables grow, and the RMS's "
            "queries keep plans made for nearly empty tables.",
            hint="Turn autovacuum on (PostgreSQL's default), or run ANALYZE after loading "
            "data and regularly after that (docs/operations.md, 'Going live').",
            id="rms.W001",
        )
    ]


@checks.register(checks.Tags.database)
def autovacuum_on(
    app_configs: Any = None, databases: Iterable[str] | None = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    messages: list[checks.CheckMessage] = []
    for alias in databases or ():
        connection = connections[alias]
        if connection.vendor != "postgresql":
            continue
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_setting('autovacuum')")
            row = cursor.fetchone()
        messages += autovacuum_warnings(str(row[0]) if row else "", alias)
    return messages
