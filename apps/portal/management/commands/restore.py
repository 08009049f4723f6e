"""``manage.py restore FOLDER``: a backup of ``manage.py backup`` into an empty database and an
empty ``INGEST_ROOT``, then ``migrate`` (see docs/deploy.md, Backups)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.portal.backup import BackupError, restore


class Command(BaseCommand):
    help = "Restore a backup folder into an empty database and an empty INGEST_ROOT."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("folder", type=Path, help="a folder written by manage.py backup")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            notes = restore(options["folder"])
        except BackupError as exc:
            raise CommandError(str(exc)) from None
        # A backup of an older version: bring its tables up to this code.
        call_command("migrate", "--noinput", verbosity=0)
        for note in notes:
            self.stdout.write(note)
        self.stdout.write(f"Restored {options['folder'].resolve()}.")
