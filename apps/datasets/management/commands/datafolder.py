"""``manage.py datafolder PATH --groups lab,other`` (``--groups ""``: every signed-in user),
or ``manage.py datafolder PATH --remove``: declare who may use a data folder; prints one JSON line.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.datasets.folders import folder_declare, folder_json, folder_remove


class Command(BaseCommand):
    help = (
        "Declare a folder inside DATA_ROOTS for the members of some groups (--groups g1,g2), for "
        'every signed-in user (--groups ""), or remove its declaration (--remove). Prints the '
        "declaration as one JSON line."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", help="a folder inside DATA_ROOTS")
        action = parser.add_mutually_exclusive_group(required=True)
        action.add_argument(
            "--groups",
            help='comma-separated group names; "" opens the folder to every signed-in user',
        )
        action.add_argument("--remove", action="store_true", help="remove the declaration")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            if options["remove"]:
                path, removed = folder_remove(path=options["path"])
                self.stdout.write(json.dumps({"path": path, "removed": removed}))
                return
            groups = [g.strip() for g in options["groups"].split(",") if g.strip()]
            folder, created = folder_declare(
                path=options["path"], groups=groups, open_to_all=not groups
            )
        except ValidationError as exc:
            raise CommandError(" ".join(" ".join(exc.messages).splitlines())) from None
        self.stdout.write(json.dumps({**folder_json(folder), "created": created}))
