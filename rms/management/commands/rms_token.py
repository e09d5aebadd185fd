"""``manage.py rms_token``: list, make and revoke API tokens."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandError, CommandParser
from knox.settings import CONSTANTS

from rms.api.tokens import token_create, token_list, token_revoke


class Command(BaseCommand):
    help = (
        "List the API tokens that have not expired (--list, optionally of one --username), "
        "make a new one for a user (--create --username U; its key alone goes to standard "
        "output), or revoke one by the key prefix a list shows (--revoke PREFIX) or all of "
        "a user's (--revoke-all --username U). Revoked tokens stop working at once."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        what = parser.add_mutually_exclusive_group(required=True)
        what.add_argument("--list", action="store_true", help="List tokens not yet expired")
        what.add_argument("--create", action="store_true", help="Make a token for --username")
        what.add_argument("--revoke", metavar="PREFIX", help="Revoke the token with this prefix")
        what.add_argument(
            "--revoke-all", action="store_true", help="Revoke every token of --username"
        )
        parser.add_argument("--username")
        parser.add_argument(
            "--ttl-hours", type=int, help="Lifetime of a new token (default API_TOKEN_TTL_HOURS)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        """Reads, creates or deletes token rows; --revoke and --list are safe to repeat."""
        user = None
        if options["username"]:
            user = User.objects.filter(username=options["username"]).first()
            if user is None:
                raise CommandError(f"No user is called {options['username']!r}.")
        needs_user = options["create"] or options["revoke_all"]
        if needs_user and user is None:
            raise CommandError("--create and --revoke-all need --username.")

        if options["list"]:
            tokens = list(token_list(user=user))
            for token in tokens:
                self.stdout.write(
                    f"{token.token_key}  {token.user.username}  "
                    f"created {token.created:%Y-%m-%d %H:%M}  "
                    f"expires {token.expiry:%Y-%m-%d %H:%M}"
                )
            if not tokens:
                self.stderr.write("No tokens.")
        elif options["create"] and user is not None:
            ttl = options["ttl_hours"]
            if ttl is not None and ttl < 1:
                raise CommandError("--ttl-hours must be at least 1.")
            row, key = token_create(user=user, ttl_hours=ttl)
            self.stderr.write(f"API token {row.token_key}… expires {row.expiry:%Y-%m-%d %H:%M %Z}.")
            self.stdout.write(key)
        else:
            prefix = options["revoke"] or ""
            if prefix and len(prefix) < CONSTANTS.TOKEN_KEY_LENGTH:
                raise CommandError(
                    f"Give the first {CONSTANTS.TOKEN_KEY_LENGTH} characters of the token, "
                    "as --list shows them."
                )
            count = token_revoke(token_key=prefix, user=user)
            if prefix and count == 0:
                raise CommandError(f"No token starts with {prefix!r}.")
            self.stdout.write(f"Revoked {count} token{'s' if count != 1 else ''}.")
