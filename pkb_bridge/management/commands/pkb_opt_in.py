"""``manage.py pkb_opt_in --nhs-number N --user U``: share a patient with PKB (or stop)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from pkb_bridge import selectors, services
from pkb_bridge.presenters import share_summary
from rms import nhs_number
from rms import selectors as rms_selectors
from rms.models import Patient, Team


class Command(BaseCommand):
    help = (
        "Share a patient with Patients Know Best as a named clinician (queues the registration "
        "and the whole record), or with --withdraw stop sharing them. The user must be a "
        "clinician or team admin of one of the patient's teams. Needs the patient's consent: a "
        "consent record on sharing with Patients Know Best, or --attest-consent REASON. "
        "Results that are the evidence of an open threshold breach are held. Safe to repeat."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--nhs-number", required=True, help="Spaces are fine: 943 476 5919")
        parser.add_argument("--user", required=True, help="Username of the clinician acting")
        parser.add_argument(
            "--team", help="Code of the team to share as (default: the user's first by name)"
        )
        parser.add_argument(
            "--attest-consent",
            metavar="REASON",
            default="",
            help="How and when the patient consented, when no consent record on sharing with "
            "Patients Know Best is in the RMS (kept with the enrolment, with the user and time)",
        )
        parser.add_argument(
            "--publish-breach-evidence",
            action="store_true",
            help="Publish the results that are the evidence of an open threshold breach under "
            "the team's policy (by default they are held until a clinician releases them)",
        )
        parser.add_argument(
            "--preview",
            action="store_true",
            help="Print what sharing would publish, delay and hold, the open threshold breaches "
            "and the consent it would rest on; share nothing",
        )
        parser.add_argument("--withdraw", action="store_true", help="Stop sharing instead")
        parser.add_argument("--reason", default="", help="Why sharing stops (with --withdraw)")

    def handle(self, *args: Any, **options: Any) -> None:
        """Opt the patient in (or withdraw them) through the PKB services, as the user."""
        reason = nhs_number.invalid_reason(options["nhs_number"])
        if reason:
            raise CommandError(reason)
        user = User.objects.filter(username=options["user"], is_active=True).first()
        if user is None:
            raise CommandError(f"No active user {options['user']!r}.")
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

        if options["withdraw"]:
            self._withdraw(patient=patient, user=user, reason=options["reason"])
            return

        if options["preview"]:
            self._preview(patient=patient, user=user, team=team)
            return

        already = selectors.enrolment_active(patient=patient)
        if already is not None:
            self.stdout.write(
                f"The patient is already shared with PKB (team {already.team.code}); "
                "nothing queued again."
            )
            return
        try:
            enrolment = services.enrolment_opt_in(
                patient=patient,
                actor=user,
                team=team,
                attestation=options["attest_consent"],
                hold_breach_evidence=not options["publish_breach_evidence"],
            )
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        except PermissionDenied as exc:
            raise CommandError(str(exc) or "The user may not share this patient.") from None
        consent = (
            "consent record" if enrolment.consent_record_id else "consent attested by the user"
        )
        # Counted whatever their status: with in-process tasks they may be delivered already.
        summary = share_summary(selectors.share_counts(enrolment=enrolment))
        self.stdout.write(
            f"Shared with PKB as team {enrolment.team.code} ({consent}): {summary}.",
            style_func=self.style.SUCCESS,
        )

    def _preview(self, *, patient: Patient, user: User, team: Team | None) -> None:
        try:
            preview = services.opt_in_preview(patient=patient, actor=user, team=team)
        except PermissionDenied as exc:
            raise CommandError(str(exc) or "The user may not share this patient.") from None
        lines = [f"Sharing as team {preview.team.code} would cover {preview.total} items:"]
        for row in preview.categories:
            lines.append(
                f"  {row.label}: {row.published} published, {row.delayed} delayed, "
                f"{row.held} held by policy, {row.held_for_breach} held as breach evidence"
            )
        lines.append(f"Open threshold breaches: {len(preview.breaches)}")
        lines.extend(f"  {item.title}" for item in preview.breaches)
        refusal = services.opt_in_refusal(patient)
        if refusal:
            lines.append(f"Cannot be shared: {refusal}")
        if preview.consent is not None:
            lines.append("Consent: recorded (a consent record on sharing with PKB).")
        else:
            lines.append(f"Consent: {preview.consent_problem}")
        lines.append("Nothing was shared.")
        self.stdout.write("\n".join(lines))

    def _withdraw(self, *, patient: Patient, user: User, reason: str) -> None:
        enrolment = selectors.enrolment_active(patient=patient)
        pending = selectors.queued_count(enrolment=enrolment) if enrolment else 0
        try:
            withdrawn = services.enrolment_withdraw(patient=patient, actor=user, reason=reason)
        except PermissionDenied as exc:
            raise CommandError(str(exc) or "The user may not withdraw this patient.") from None
        if withdrawn is None:
            self.stdout.write("The patient is not shared with PKB; nothing to withdraw.")
            return
        # What was waiting when it stopped: the service cancels exactly those (a message
        # already in flight finishes).
        self.stdout.write(
            f"Sharing with PKB stopped: {pending} messages cancelled.",
            style_func=self.style.SUCCESS,
        )
