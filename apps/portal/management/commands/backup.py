"""``manage.py backup FOLDER``: the database, ``INGEST_ROOT`` and ``SECRET_KEY`` into a new folder
(see ``apps/portal/backup.py`` and docs/deploy.md, Backups)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.portal.backup import BackupError, backup


class Command(BaseCommand):
    help = "Back up the database, INGEST_ROOT and SECRET_KEY into a new folder."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("folder", type=Path, help="a folder that does not exist yet")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            manifest = backup(options["folder"])
        except BackupError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(json.dumps({"backup": str(options["folder"].resolve()), **manifest}))
