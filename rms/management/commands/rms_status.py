"""``manage.py rms_status``: is this installation ready, and how are its queues?

Runs the readiness checks of ``/readyz`` (database, migrations, broker) and prints the state
of the PKB outbox, the inbound feeds and the worklists from the same reading as ``/metrics``.
Counts and times only: nothing here names a patient. Exits 1 when a readiness check fails,
so a script or an orchestrator can run it after an upgrade.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError
from django.utils import timezone

from rms.ops.health import Readiness, readiness
from rms.ops.metrics import OpsSnapshot, snapshot_take


def _ago(snapshot: OpsSnapshot, moment: dt.datetime | None) -> str:
    if moment is None:
        return "none"
    seconds = int(snapshot.age_s(moment))
    if seconds < 120:
        amount = f"{seconds} s"
    elif seconds < 2 * 3600:
        amount = f"{seconds // 60} min"
    elif seconds < 2 * 86400:
        amount = f"{seconds // 3600} h"
    else:
        amount = f"{seconds // 86400} days"
    local = timezone.localtime(moment)
    return f"{local:%Y-%m-%d %H:%M:%S %Z} ({amount} ago)"


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{name} {count}" for name, count in counts.items()) or "none"


def _as_json(result: Readiness, snapshot: OpsSnapshot | None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "ready": result.ready,
        "checks": {check.name: check.status for check in result.checks},
    }
    if snapshot is None:
        return data
    data["pkb"] = (
        None
        if snapshot.outbox is None
        else {
            "outbox": snapshot.outbox,
            "oldest_pending_age_s": snapshot.age_s(snapshot.oldest_pending_at),
            "connection_paused": snapshot.connection_paused,
            "delivery_attempts": snapshot.attempts,
            "acks": snapshot.acks,
            "invitations_failed": snapshot.invitations_failed,
        }
    )
    data["inbound"] = {
        "messages": snapshot.inbound,
        "oldest_unmatched_age_s": snapshot.age_s(snapshot.oldest_unmatched_at),
        "last_received": {
            channel: moment.isoformat() for channel, moment in snapshot.last_received_at.items()
        },
    }
    if snapshot.work_items is not None:
        data["work_items_open"] = {
            f"{kind}/{status}": count
            for (kind, status), count in snapshot.work_items.items()
            if count
        }
    return data


class Command(BaseCommand):
    help = (
        "Print whether this installation is ready (database, migrations, Celery broker) and the "
        "state of the PKB outbox, the inbound feeds and the worklists. Exits 1 when not ready. "
        "Reads only; safe to run at any time."
    )
    # The checks are what this command is for: it must run even when a system check fails.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="One JSON object, for scripts")

    def handle(self, *args: Any, **options: Any) -> None:
        """Run the checks, read the state, print both; raise CommandError when not ready."""
        result = readiness()
        snapshot: OpsSnapshot | None = None
        database_up = result.checks[0].passed
        if database_up:
            try:
                snapshot = snapshot_take()
            except DatabaseError as exc:  # e.g. a table missing before `migrate`
                self.stderr.write(f"State not read: {type(exc).__name__}: {exc}")
        if options["json"]:
            self.stdout.write(json.dumps(_as_json(result, snapshot), indent=2, default=str))
        else:
            self._print(result, snapshot)
        if not result.ready:
            failed = ", ".join(check.name for check in result.checks if not check.passed)
            raise CommandError(f"Not ready: {failed}.")

    def _print(self, result: Readiness, snapshot: OpsSnapshot | None) -> None:
        write = self.stdout.write
        for check in result.checks:
            style = self.style.SUCCESS if check.passed else self.style.ERROR
            line = f"{check.name.capitalize():<12} {check.status}"
            if check.detail and (not check.passed or check.status != "ok"):
                line += f": {check.detail}"
            write(line, style_func=style)
        if snapshot is None:
            return
        write("")
        if snapshot.outbox is None:
            write("PKB          the pkb_bridge app is not installed")
        else:
            if snapshot.connection_paused:
                write(
                    f"PKB          PAUSED since {_ago(snapshot, snapshot.connection_paused_at)}: "
                    f"{snapshot.connection_paused_reason or 'no reason recorded'}",
                    style_func=self.style.ERROR,
                )
            else:
                write("PKB          sending (connection not paused)")
            write(f"  outbox     {_counts(snapshot.outbox)}")
            write(f"  oldest pending message: {_ago(snapshot, snapshot.oldest_pending_at)}")
            write(f"  delivery attempts (all time): {_counts(snapshot.attempts)}")
            write(f"  ACK codes (all time): {_counts(snapshot.acks)}")
            write(f"  invitation emails failed: {snapshot.invitations_failed}")
        write("Inbound")
        write(f"  messages   {_counts(snapshot.inbound)}")
        write(f"  oldest unmatched message: {_ago(snapshot, snapshot.oldest_unmatched_at)}")
        if snapshot.last_received_at:
            for channel, moment in sorted(snapshot.last_received_at.items()):
                write(f"  last received over {channel}: {_ago(snapshot, moment)}")
        else:
            write("  nothing received yet")
        if snapshot.work_items is not None:
            open_items = {
                f"{kind} ({status.replace('_', ' ')})": count
                for (kind, status), count in snapshot.work_items.items()
                if count
            }
            write(f"Work items   {_counts(open_items) if open_items else 'none open'}")
