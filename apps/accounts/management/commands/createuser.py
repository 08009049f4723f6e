"""``manage.py createuser USERNAME [--staff] [--groups g1,g2] [--email A] [--invite | --password | --password-stdin]``.

A password never appears on the command line (where ``ps`` and the shell history see it):
``--password`` asks for it on a terminal, ``--password-stdin`` reads one line from stdin.
Passwords pass ``AUTH_PASSWORD_VALIDATORS``. On an existing user the command says so; with
``--password``/``--password-stdin`` or ``--invite`` it sets that user's password or prints a
new set-password link instead.
"""

from __future__ import annotations

import getpass
import sys
from typing import Any, TextIO

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.accounts.services import (
    password_link_path,
    token_create,
    user_create,
    user_set_password,
)


class Command(BaseCommand):
    help = (
        "Create a portal user (and missing groups). Without options it prints a new API token "
        "as the last line; --invite prints a link where the user sets a password; --password "
        "(prompt) or --password-stdin sets one. On an existing user, --password, "
        "--password-stdin or --invite act on that user."
    )
    # Tests pass a file as stdin, as Django's createsuperuser allows.
    stealth_options = ("stdin",)

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--staff", action="store_true", help="a portal admin (sees everything)")
        parser.add_argument("--groups", default="", help="comma-separated group names")
        parser.add_argument(
            "--email", default="", help="where 'Forgot your password?' sends a reset link"
        )
        how = parser.add_mutually_exclusive_group()
        how.add_argument(
            "--invite",
            action="store_true",
            help="print a one-time link where the user sets a password (valid "
            f"{settings.PASSWORD_RESET_TIMEOUT // 86400} days)",
        )
        how.add_argument(
            "--password", action="store_true", help="ask for a password on the terminal"
        )
        how.add_argument(
            "--password-stdin", action="store_true", help="read the password from stdin"
        )
        parser.add_argument(
            "--base-url",
            default=settings.PORTAL_URL,
            help="the portal's address in printed links (default: PORTAL_URL, %(default)s)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        username = options["username"].strip()
        password = self._password(options)
        existing = get_user_model().objects.filter(username=username).first()
        try:
            if existing is not None:
                self._existing(existing, options, password)
            else:
                self._create(username, options, password)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None

    def _create(self, username: str, options: dict[str, Any], password: str | None) -> None:
        groups = [g.strip() for g in options["groups"].split(",") if g.strip()]
        user = user_create(
            username=username,
            staff=options["staff"],
            groups=groups,
            password=password,
            email=options["email"],
        )
        kind = "staff user" if user.is_staff else "user"
        in_groups = f" in groups {', '.join(groups)}" if groups else ""
        self.stdout.write(f"Created {kind} {user.username}{in_groups}.")
        if options["invite"]:
            self._print_link(user, options["base_url"])
            return
        if password is None:
            self.stdout.write(
                f"{user.username} has no password yet: 'manage.py createuser {user.username} "
                "--invite' prints a link where they set one."
            )
        _, key = token_create(user=user, name="createuser")
        self.stdout.write("API token:")
        self.stdout.write(key)

    def _existing(self, user: Any, options: dict[str, Any], password: str | None) -> None:
        if options["staff"] or options["groups"] or options["email"]:
            raise CommandError(
                f"A user named {user.username!r} already exists; change staff status, groups "
                "and e-mail address in the admin (/admin/auth/user/)."
            )
        if password is not None:
            user_set_password(user=user, password=password)
            self.stdout.write(f"Set a new password for {user.username}.")
        elif options["invite"]:
            self._print_link(user, options["base_url"])
        else:
            raise CommandError(
                f"A user named {user.username!r} already exists: add --password (or "
                "--password-stdin) to set their password, or --invite to print a link where "
                "they set one."
            )

    def _print_link(self, user: Any, base_url: str) -> None:
        days = settings.PASSWORD_RESET_TIMEOUT // 86400
        self.stdout.write(
            f"Send {user.username} this link to set a password (works once, for {days} days):"
        )
        self.stdout.write(f"{base_url.rstrip('/')}{password_link_path(user=user)}")

    def _password(self, options: dict[str, Any]) -> str | None:
        stdin: TextIO = options.get("stdin") or sys.stdin
        if options["password_stdin"]:
            password = stdin.readline().rstrip("\r\n")
            if not password:
                raise CommandError("--password-stdin read an empty line: give the password.")
            return password
        if not options["password"]:
            return None
        if not stdin.isatty():
            raise CommandError(
                "--password asks on a terminal; in a script pipe the password to --password-stdin."
            )
        first = getpass.getpass("Password: ")
        if first != getpass.getpass("Password (again): "):
            raise CommandError("The two passwords differ; nothing was changed.")
        return first
