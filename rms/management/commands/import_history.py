"""``manage.py import_history FILE [--format hl7|csv] [--dry-run]``: past results, in bulk."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from rms.inbound import history
from rms.services import system_user


class ReportRate(ProgressColumn):
    """Reports done and reports a second so far."""

    def render(self, task: Task) -> Text:
        reports = int(task.fields.get("reports", 0))
        elapsed = task.elapsed or 0.0
        rate = f"{reports / elapsed:,.0f}/s" if elapsed > 0 else "-/s"
        return Text(f"{reports:,} reports {rate}")


class Command(BaseCommand):
    help = (
        "Import a lab or radiology extract of past results: an HL7 v2 batch file (FHS/BHS "
        "wrapped or plain ORU^R01 messages) or a CSV file with the header "
        + ",".join(history.CSV_COLUMNS)
        + ". Results are checked and matched as the live feed does, filed in bulk, then each "
        "patient is evaluated once by monitoring (only current breaches are raised) and what "
        "is shared with PKB is sent packed. Safe to run again and to resume after a kill. "
        "Refused and held reports are listed in FILE.report.csv; the command exits non-zero "
        'when any was refused. See docs/operations.md, "Going live".'
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path, help="The HL7 batch file or the CSV file")
        parser.add_argument(
            "--format",
            choices=["hl7", "csv"],
            default=None,
            help="hl7 or csv (default: from the file name, .csv is csv, anything else hl7)",
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Check and file everything, report, then roll all of it back",
        )
        parser.add_argument(
            "--sending-facility",
            default="",
            help=(
                "CSV only: the MSH-4 the live feed of the file's source systems sends, so that "
                "their later corrections are accepted as from the same sender"
            ),
        )

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["file"]
        file_format = options["format"] or ("csv" if path.suffix.lower() == ".csv" else "hl7")
        columns = (
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            ReportRate(),
            TimeElapsedColumn(),
            TextColumn("left"),
            TimeRemainingColumn(),
        )
        with Progress(*columns, transient=False, disable=options["verbosity"] < 1) as bar:
            task = bar.add_task("Importing", total=None, reports=0)

            def progress(done: int, total: int, reports: int) -> None:
                # The bar is the share of the file's lines read; the rate counts reports.
                bar.update(task, completed=done, total=total, reports=reports)

            try:
                summary = history.import_history(
                    path=path,
                    file_format=file_format,
                    actor=system_user(),
                    dry_run=options["dry_run"],
                    sending_facility=options["sending_facility"],
                    progress=progress,
                )
            except history.HistoryFileError as exc:
                raise CommandError(str(exc)) from None
            elapsed = bar.tasks[0].elapsed or 0.0
        # The summary and report name line numbers, control ids and reasons: no patient data.
        for line in summary.lines():
            self.stdout.write(line)
        if elapsed > 0:
            self.stdout.write(f"Rate: {summary.reports / elapsed:.0f} reports/s")
        problems = summary.refused or summary.held
        if problems and options["dry_run"]:
            for problem in sorted([*summary.refused, *summary.held], key=lambda p: p.line):
                self.stdout.write(f"line {problem.line} {problem.ref}: {problem.reason}")
        elif problems:
            try:
                target = history.write_report(path, summary)
            except OSError:
                # Next to /dev/stdin, or in a read-only folder: the list goes to the terminal.
                self.stdout.write("line,reference,outcome,reason")
                for problem, outcome in history.problem_rows(summary):
                    self.stdout.write(f"{problem.line},{problem.ref},{outcome},{problem.reason}")
            else:
                self.stdout.write(f"Refused and held reports, with their reasons: {target}")
        if summary.refused:
            # As import_patients: a script sees that something was not imported. Held reports
            # are the live feed's normal outcome and wait for a person; they do not fail it.
            raise CommandError(
                f"{len(summary.refused)} report(s) "
                + ("would be refused." if options["dry_run"] else "were refused.")
            )
