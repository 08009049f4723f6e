"""``manage.py register_dataset PATH --name NAME --owner USER [--groups g1,g2] [--format F]
[--param KEY=JSON ...]``: detect, validate and register; print the dataset as one JSON line."""

from __future__ import annotations

import json
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.datasets.services import dataset_register
from apps.datasets.signals import registering_done
from apps.web.api import JsonNestingError, check_json_depth


def _refuse_constant(name: str) -> Any:
    raise ValueError(name)


def parse_param(text: str) -> tuple[str, Any]:
    """``KEY=JSON``; a value that is not JSON is taken as a string (``dataset=/entry/data``)."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise CommandError(f"--param {text!r}: expected KEY=VALUE, e.g. nav_shape=[64,64].")
    try:
        check_json_depth(value)  # the parser would recurse until Python gives up
        return key.strip(), json.loads(value, parse_constant=_refuse_constant)
    except JsonNestingError as exc:
        raise CommandError(f"--param {key.strip()}: the value {exc.sentence}") from None
    except ValueError:
        return key.strip(), value


class Command(BaseCommand):
    help = "Detect, validate and register a dataset; prints it as one JSON line."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", help="inside DATA_ROOTS; HDF5 may add :/inner/path")
        parser.add_argument("--name", required=True)
        parser.add_argument("--owner", required=True, help="username of the owner")
        parser.add_argument("--groups", default="", help="comma-separated groups to share with")
        parser.add_argument("--format", default=None, help="raw, hdf5 or npy (default: detect)")
        parser.add_argument(
            "--param",
            action="append",
            default=[],
            metavar="KEY=JSON",
            help="a format parameter, e.g. nav_shape=[64,64]; repeatable",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            owner = get_user_model().objects.get(username=options["owner"])
        except get_user_model().DoesNotExist:
            raise CommandError(f"There is no user named {options['owner']!r}.") from None
        params = dict(parse_param(p) for p in options["param"]) or None
        groups = [g.strip() for g in options["groups"].split(",") if g.strip()]
        try:
            dataset = dataset_register(
                owner=owner,
                name=options["name"],
                path=options["path"],
                format=options["format"],
                params=params,
                groups=groups,
            )
        except ValidationError as exc:
            raise CommandError(" ".join(" ".join(exc.messages).splitlines())) from None
        line = {
            "id": dataset.pk,
            "name": dataset.name,
            "nav_shape": dataset.nav_shape,
            "sig_shape": dataset.sig_shape,
            "dtype": dataset.dtype,
            "format": dataset.format,
        }
        self.stdout.write(json.dumps(line))
        registering_done.send(sender=self.__class__)  # its thumbnail may run in this process
