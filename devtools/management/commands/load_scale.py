"""``manage.py load_scale --patients N [--years 5] [--teams 4] [--seed 1] [--append]``: a large
synthetic data set for measuring the pages (see ``devtools.scale``)."""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from devtools import scale


class Command(BaseCommand):
    help = (
        "Write N synthetic patients (teams URO, CRC, BRS, LNG, one clinician login each) with "
        "years of results, a follow-up plan, appointments, letters and open work items for "
        "about one in twenty, for benchmarks. A data generator for measurement, not a feed: "
        "rows go in with bulk inserts, no services run and no signals are sent (no monitoring, "
        "no audit log, nothing for PKB). One transaction. Refuses to run when scale patients "
        "exist unless --append, and refuses to run in production."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--patients", type=int, required=True, help="How many patients")
        parser.add_argument(
            "--years", type=int, default=5, help="Longest history in years (default 5)"
        )
        parser.add_argument(
            "--teams",
            type=int,
            default=len(scale.TEAMS),
            help=f"How many of the teams {', '.join(t.code for t in scale.TEAMS)} (default all)",
        )
        parser.add_argument("--seed", type=int, default=1, help="Random seed (default 1)")
        parser.add_argument(
            "--append", action="store_true", help="Add to scale patients already loaded"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        """Load the data set (one transaction) and print the rows written, the logins and
        the time taken."""
        if settings.PRODUCTION:
            raise CommandError(
                "load_scale writes invented patients and logins; it does not run with "
                "DJANGO_ENV=production."
            )
        verbosity = options["verbosity"]

        def progress(done: int, total: int) -> None:
            if verbosity >= 2 or (verbosity >= 1 and (done % 10_000 == 0 or done == total)):
                self.stdout.write(f"  {done} of {total} patients written")

        started = time.perf_counter()
        try:
            summary = scale.load_scale(
                patients=options["patients"],
                years=options["years"],
                teams=options["teams"],
                seed=options["seed"],
                append=options["append"],
                progress=progress,
            )
        except (scale.ScaleDataExists, ValueError) as exc:
            raise CommandError(str(exc)) from None
        elapsed = time.perf_counter() - started

        self.stdout.write("Rows written:")
        for name, count in summary.created.items():
            self.stdout.write(f"  {name:<17} {count:>10}")
        if summary.password:
            self.stdout.write(f"Logins (clinician, one per team), password {summary.password}:")
        else:
            self.stdout.write("Logins (clinician, one per team; they keep their password):")
        self.stdout.write("  " + ", ".join(summary.usernames))
        self.stdout.write(f"Elapsed: {elapsed:.1f} s")
