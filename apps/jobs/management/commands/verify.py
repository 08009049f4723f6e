"""``manage.py verify DATASET``: re-hash every partition copy on the node holding it; prints one
line per problem and exits non-zero if any copy is missing, truncated, corrupt or unreachable."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.core.errors import CoreError
from apps.core.verify import verify
from apps.datasets.models import Dataset
from apps.datasets.paths import node_roots_for
from apps.datasets.selectors import is_ingested
from apps.jobs.executor import get_executor


def find_dataset(key: str) -> Dataset:
    """The dataset with id or name ``key``, or CommandError."""
    rows = Dataset.objects.filter(pk=int(key)) if key.isdigit() else Dataset.objects.none()
    rows = rows or Dataset.objects.filter(name=key)
    if len(rows) != 1:
        found = "no dataset" if not rows else f"{len(rows)} datasets"
        raise CommandError(f"{found} with id or name {key!r}; give the id.")
    return rows[0]


class Command(BaseCommand):
    help = "Re-hash an ingested dataset's partitions on their nodes; non-zero exit on problems."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("dataset", help="dataset id or name")

    def handle(self, *args: Any, **options: Any) -> None:
        dataset = find_dataset(options["dataset"])
        if not is_ingested(dataset):
            raise CommandError(f"{dataset.name} is not ingested; it is read in place.")
        try:
            report = verify(
                dataset.path,
                node_roots=node_roots_for(dataset.path) or {},
                client=getattr(get_executor(), "client", None),
            )
        except CoreError as exc:
            raise CommandError(str(exc)) from None
        bad = [r for r in report if r["status"] != "ok"]
        for r in bad:
            detail = f" ({r['detail']})" if r["detail"] else ""
            self.stdout.write(
                f"partition {r['index']} on {r['node']}: {r['status']}{detail}: {r['path']}"
            )
        self.stdout.write(f"{dataset.name}: {len(report) - len(bad)} of {len(report)} copies ok.")
        if bad:
            raise CommandError(f"{len(bad)} partition copies of {dataset.name} are not intact.")
