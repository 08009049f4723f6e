"""``manage.py loginlink [USERNAME]``: print a one-time login link (the local admin's by default).

How the local admin of the embedded default gets back in after logging out, without
restarting ``make serve``; staff can also hand a link to a user who cannot log in otherwise.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.accounts.localadmin import LOCAL_ADMIN_USERNAME, local_admin_ensure
from apps.accounts.services import login_link_create


class Command(BaseCommand):
    help = (
        "Print a login link that works once, for 24 hours, as the last line. Without USERNAME "
        f"it is for the local admin {LOCAL_ADMIN_USERNAME!r} (created if missing)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username", nargs="?", default=None)
        parser.add_argument(
            "--base-url",
            default=settings.PORTAL_URL,
            help="the portal's address in the link (default: PORTAL_URL, %(default)s)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        username = options["username"]
        if username is None:
            user = local_admin_ensure()
        else:
            user = get_user_model().objects.filter(username=username).first()
            if user is None:
                raise CommandError(f"There is no user named {username!r}.")
        if not user.is_active:
            raise CommandError(f"The user {user.username!r} is deactivated; a link would not work.")
        key = login_link_create(user=user)
        self.stdout.write(f"Log in as {user.username} (the link works once, for 24 hours):")
        self.stdout.write(f"{options['base_url'].rstrip('/')}/login/link/{key}/")
