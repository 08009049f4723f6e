"""``manage.py createuser USERNAME [--staff] [--groups g1,g2] [--password PW]``."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.accounts.services import token_create, user_create


class Command(BaseCommand):
    help = (
        "Create a portal user (and missing groups) and print a new API token as the last line. "
        "Without --password the user logs in by token or a login link only."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--staff", action="store_true", help="a portal admin (sees everything)")
        parser.add_argument("--groups", default="", help="comma-separated group names")
        parser.add_argument("--password", default=None)

    def handle(self, *args: Any, **options: Any) -> None:
        groups = [g.strip() for g in options["groups"].split(",") if g.strip()]
        try:
            user = user_create(
                username=options["username"],
                staff=options["staff"],
                groups=groups,
                password=options["password"],
            )
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        _, key = token_create(user=user, name="createuser")
        kind = "staff user" if user.is_staff else "user"
        in_groups = f" in groups {', '.join(groups)}" if groups else ""
        self.stdout.write(f"Created {kind} {user.username}{in_groups}. API token:")
        self.stdout.write(key)
