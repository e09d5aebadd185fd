"""``manage.py plan_start --nhs-number N --pathway CODE --anchor-date YYYY-MM-DD --user U``:
start a patient's follow-up plan from a pathway."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from careplans.followup import selectors, services
from rms import nhs_number
from rms import selectors as rms_selectors
from rms.models import Team


class Command(BaseCommand):
    help = (
        "Start a follow-up plan for a patient from a pathway, anchored on the treatment date, "
        "as a named clinician (starting a plan is a clinical decision, so --user is required; "
        "they must be a clinician or team admin of one of the patient's teams). Safe to "
        "repeat: a patient already on the pathway keeps their open plan."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--nhs-number", required=True, help="Spaces are fine: 943 476 5919")
        parser.add_argument(
            "--pathway", required=True, help="Pathway code, e.g. prostate-post-prostatectomy"
        )
        parser.add_argument(
            "--anchor-date", required=True, help="Treatment date the schedule counts from"
        )
        parser.add_argument("--user", required=True, help="Username of the clinician acting")
        parser.add_argument(
            "--team", help="Code of the team whose plan it is (default: the user's first by name)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        """Start the plan through ``careplans.followup.services.plan_start`` as the user."""
        reason = nhs_number.invalid_reason(options["nhs_number"])
        if reason:
            raise CommandError(reason)
        try:
            anchor = dt.date.fromisoformat(options["anchor_date"].strip())
        except ValueError:
            raise CommandError("--anchor-date must be a date as YYYY-MM-DD.") from None
        user = User.objects.filter(username=options["user"], is_active=True).first()
        if user is None:
            raise CommandError(f"No active user {options['user']!r}.")
        pathway = selectors.pathway_get(code=options["pathway"])
        if pathway is None:
            codes = ", ".join(selectors.pathway_list().values_list("code", flat=True))
            raise CommandError(
                f"No pathway is offered with the code {options['pathway']!r} (offered: {codes})."
            )
        team = None
        if options["team"]:
            code = options["team"].strip().upper()
            team = Team.objects.filter(code=code).first()
            if team is None:
                raise CommandError(f"No team has the code {code!r}.")
        # The patient as the user sees them: someone outside their teams is not found.
        patient = rms_selectors.patient_list(
            user=user, nhs_number_exact=options["nhs_number"]
        ).first()
        if patient is None:
            # No NHS number in the message: command output ends up in logs and terminals.
            raise CommandError(
                f"No patient with this NHS number is on the caseload of a team of {user}."
            )
        existing = selectors.plan_open(patient=patient, pathway=pathway)
        try:
            plan = services.plan_start(
                patient=patient, pathway=pathway, anchor_date=anchor, actor=user, team=team
            )
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        except PermissionDenied as exc:
            raise CommandError(str(exc) or "The user may not start a plan for them.") from None
        if existing is not None:
            self.stdout.write(
                f"The patient already follows {pathway.code} (plan {plan.public_id}, "
                f"anchor date {plan.anchor_date.isoformat()}); nothing changed."
            )
            return
        dues = ", ".join(
            f"{test.test_code} {test.next_due_date or 'not due'}"
            for test in plan.tests.order_by("test_code")
        )
        self.stdout.write(
            f"Plan {plan.public_id} started: {pathway.code} from {anchor.isoformat()} "
            f"(team {plan.team.code}); next due: {dues or 'nothing scheduled'}.",
            style_func=self.style.SUCCESS,
        )
