"""``manage.py rms_user``: create or update a user, their role in a team, and an API token."""

from __future__ import annotations

import secrets
from typing import Any

from django.contrib.auth.models import User
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from rms import services
from rms.api.tokens import token_create
from rms.models import Role, Team


class Command(BaseCommand):
    help = (
        "Create or update a user and give them a role in a team. Safe to repeat. With --token, "
        "makes a new API token (valid API_TOKEN_TTL_HOURS) and prints its key, the only thing "
        "written to standard output (everything else, the expiry too, goes to standard "
        "error), so TOKEN=$(manage.py rms_user ... --token) captures it. The key is shown "
        "once: only its hash is stored. manage.py rms_token lists and revokes tokens."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--username", required=True)
        parser.add_argument("--team", required=True, help="Code of the team, e.g. URO")
        parser.add_argument("--role", required=True, choices=Role.values)
        parser.add_argument(
            "--token", action="store_true", help="Make a new API token and print its key"
        )
        parser.add_argument(
            "--password",
            help="Set this password (checked against the password rules). A new user without "
            "one gets a random password, printed once.",
        )
        parser.add_argument("--email")
        parser.add_argument("--first-name")
        parser.add_argument("--last-name")
        parser.add_argument(
            "--staff",
            action="store_true",
            default=None,
            help="Let the user into Django admin",
        )
        parser.add_argument(
            "--no-staff", action="store_false", dest="staff", help="Take away Django admin"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        """Create or update the user and membership in one transaction; optionally make and
        print a new token (each run with --token makes another; earlier ones stay valid)."""
        # Keep standard output for the token alone so a script can capture it.
        say = self.stderr if options["token"] else self.stdout
        if options["username"] == services.SYSTEM_USERNAME:
            raise CommandError(
                f"{services.SYSTEM_USERNAME} is the system actor for background jobs; it cannot "
                "log in or belong to a team."
            )
        code = options["team"].strip().upper()
        team = Team.objects.filter(code=code).first()
        if team is None:
            raise CommandError(f"No team has the code {code!r}.")

        with transaction.atomic():
            user = User.objects.filter(username=options["username"]).first()
            created = user is None
            if user is None:
                user = User(username=options["username"])
            for option, attribute in (
                ("email", "email"),
                ("first_name", "first_name"),
                ("last_name", "last_name"),
                ("staff", "is_staff"),
            ):
                if options[option] is not None:
                    setattr(user, attribute, options[option])

            password = options["password"]
            generated = created and password is None
            if generated:
                password = secrets.token_urlsafe(18)
            try:
                user.full_clean(exclude=["password"])
                if password is not None:
                    validate_password(password, user)
            except ValidationError as exc:
                raise CommandError("; ".join(exc.messages)) from None
            # Re-hashing an unchanged password would store a new salted hash on every run.
            if password is not None and (created or not user.check_password(password)):
                user.set_password(password)
            user.save()
            membership = services.membership_set(user=user, team=team, role=options["role"])
            token = token_create(user=user) if options["token"] else None

        verb = "Created" if created else "Updated"
        say.write(
            f"{verb} user {user.username}: {membership.get_role_display().lower()} in {team.code}.",
            style_func=self.style.SUCCESS,
        )
        if generated:
            say.write(f"Password (shown once): {password}", style_func=self.style.WARNING)
        if token is not None:
            row, key = token
            say.write(
                f"API token {row.token_key}… expires {row.expiry:%Y-%m-%d %H:%M %Z}.",
                style_func=self.style.SUCCESS,
            )
            self.stdout.write(key)
