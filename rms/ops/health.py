"""``/healthz`` (the process answers) and ``/readyz`` (it can do its work: the database
answers, every migration is applied, the Celery broker is reachable).

Both are open to anyone and say nothing but "ok" or what failed, by name: no host names,
no exception texts (those go to the log). ``manage.py rms_status`` runs the same checks.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from kombu import Connection as BrokerConnection

logger = logging.getLogger("rms.ops")

OK = "ok"
IN_PROCESS = "in-process"
FAILED = "failed"
# Seconds the broker check may take: a probe that hangs is worse than one that fails.
BROKER_TIMEOUT_S = 2.0


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # OK, IN_PROCESS or FAILED
    detail: str = ""  # for the operator (rms_status, the log); never sent by /readyz

    @property
    def passed(self) -> bool:
        return self.status != FAILED


@dataclass(frozen=True)
class Readiness:
    checks: list[Check] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        return all(check.passed for check in self.checks)


def check_database(alias: str = DEFAULT_DB_ALIAS) -> Check:
    """``SELECT 1`` on the database."""
    try:
        with connections[alias].cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as exc:
        return Check("database", FAILED, f"{type(exc).__name__}: {exc}")
    return Check("database", OK)


def unapplied_migrations(alias: str = DEFAULT_DB_ALIAS) -> list[str]:
    """The migrations ``migrate`` would apply, as ``app.name``; empty when up to date."""
    executor = MigrationExecutor(connections[alias])
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    return [f"{migration.app_label}.{migration.name}" for migration, _backwards in plan]


def check_migrations(alias: str = DEFAULT_DB_ALIAS) -> Check:
    """Every migration of the code is applied (a new release before ``migrate`` is not)."""
    try:
        pending = unapplied_migrations(alias)
    except DatabaseError as exc:
        return Check("migrations", FAILED, f"{type(exc).__name__}: {exc}")
    if pending:
        shown = ", ".join(pending[:5]) + (" ..." if len(pending) > 5 else "")
        return Check("migrations", FAILED, f"{len(pending)} not applied: {shown}")
    return Check("migrations", OK)


def check_broker() -> Check:
    """The Celery broker accepts a connection within ``BROKER_TIMEOUT_S``. Without a broker
    configured, tasks run in the process that queues them: nothing to reach."""
    url: str = settings.CELERY_BROKER_URL
    if url.startswith("memory://"):
        return Check("broker", IN_PROCESS, "no broker configured: tasks run in-process")
    options = {
        **settings.CELERY_BROKER_TRANSPORT_OPTIONS,
        "socket_connect_timeout": BROKER_TIMEOUT_S,
        "socket_timeout": BROKER_TIMEOUT_S,
    }
    try:
        with BrokerConnection(
            url, connect_timeout=BROKER_TIMEOUT_S, transport_options=options
        ) as broker:
            broker.ensure_connection(max_retries=0)
    except Exception as exc:  # every transport raises errors of its own
        # The URL may hold a password: only the error's type and text are kept.
        return Check("broker", FAILED, f"{type(exc).__name__}: {exc}")
    return Check("broker", OK)


ANY_SENDER = "any-sender"


def check_mllp_senders() -> Check:
    """Who may send HL7 (docs/security.md, "Trust boundaries"): ``ok`` when MLLP_SENDERS names
    the senders; ``any-sender`` (a warning, not a failure) when it is empty, which production
    allows only with MLLP_ALLOW_ANY_SENDER=true."""
    if settings.MLLP_SENDERS:
        return Check("mllp_senders", OK)
    return Check(
        "mllp_senders",
        ANY_SENDER,
        "MLLP_SENDERS is empty: any host that reaches the listener may file results under any "
        "sending system's name",
    )


def readiness() -> Readiness:
    """All three checks; the migration check is skipped (failed) when the database is down."""
    database = check_database()
    migrations = (
        check_migrations() if database.passed else Check("migrations", FAILED, "no database")
    )
    return Readiness([database, migrations, check_broker(), check_mllp_senders()])


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """The process is up and serving requests. Touches nothing else."""
    return JsonResponse({"status": "ok"})


@never_cache
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    """200 when every check passes, 503 naming the checks that failed."""
    result = readiness()
    for check in result.checks:
        if not check.passed:
            logger.warning("Readiness check %s failed: %s", check.name, check.detail)
    return JsonResponse(
        {
            "status": "ready" if result.ready else "not ready",
            "checks": {check.name: check.status for check in result.checks},
        },
        status=200 if result.ready else 503,
    )
