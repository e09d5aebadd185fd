"""``manage.py load_demo``: teams, logins and fifty synthetic patients to try the product."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from devtools import demo


class Command(BaseCommand):
    help = (
        "Load demo teams, users and about fifty synthetic patients with two to five years of "
        "results, appointments and letters. Safe to run again: only what is missing is added. "
        "Refuses to run in production (the demo password is published)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--url",
            default=demo.DEMO_URL,
            help=f"the address the demo will be served at, to print (default {demo.DEMO_URL})",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        """Load the demo (one transaction) and print what there is and how to log in."""
        if settings.PRODUCTION:
            raise CommandError(
                "load_demo creates users whose password is published; it does not run with "
                "DJANGO_ENV=production."
            )
        summary = demo.load_demo()
        self.stdout.write("Demo data (created by this run / now in the database):")
        for name, created in summary.created.items():
            self.stdout.write(f"  {name:<13} {created:>5} / {summary.totals[name]}")
        self.stdout.write("")
        url = options["url"].rstrip("/") + "/"
        self.stdout.write(f"Open {url} and log in with the password {demo.DEMO_PASSWORD}")
        for user in demo.USERS:
            self.stdout.write(f"  {user.username:<11} {user.description}")
        self.stdout.write(f"Django admin: {url}admin/ (log in as admin).")
