"""``manage.py import_patients FILE.csv --team CODE [--dry-run]``: onboard an existing caseload."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from rms import importing
from rms.importing import COLUMNS
from rms.models import Team


class Command(BaseCommand):
    help = (
        "Import a team's existing caseload from a UTF-8 CSV file with the header "
        + ",".join(COLUMNS)
        + ". Patients are matched by NHS number: new ones are registered, known ones updated "
        "with the file's non-blank values and added to the team's caseload. Each row imports "
        "or is refused on its own; the command exits non-zero when any row was refused. "
        "Safe to run twice. See docs/examples/caseload.csv."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path, help="The CSV file (UTF-8, with or without BOM)")
        parser.add_argument("--team", required=True, help="Code of the team, e.g. URO")
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Check every row and report, then roll everything back",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        """Import the file as the system actor, print the report, fail if a row was refused."""
        code = options["team"].strip().upper()
        team = Team.objects.filter(code=code).first()
        if team is None:
            raise CommandError(f"No team has the code {code!r}.")
        try:
            # Made as the system actor; a dry run creates nothing, not even that user.
            report = importing.import_caseload_file(
                path=options["file"], team=team, dry_run=options["dry_run"]
            )
        except importing.ImportFileError as exc:
            raise CommandError(str(exc)) from None
        # The report names line numbers and fields only, never who the rows are about.
        for line in report.lines():
            self.stdout.write(line)
        if report.refused and options["dry_run"]:
            raise CommandError(f"{len(report.refused)} row(s) would be refused.")
        if report.refused:
            raise CommandError(
                f"{len(report.refused)} row(s) were refused; correct them and run the import "
                "again (rows already imported will show as unchanged)."
            )
