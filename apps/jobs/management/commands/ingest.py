"""``manage.py ingest DATASET [--partitions N] [--nodes a,b] [--replicas R]
[--placement free-space]``: ingest a dataset (id or name) onto the data nodes in this process,
printing progress; exits non-zero on failure. An ingested dataset is ingested again with the
new layout (from its source)."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.core.errors import ParameterError
from apps.jobs import queue
from apps.jobs.ingestion import PLACEMENTS, dataset_ingest
from apps.jobs.management.commands.verify import find_dataset
from apps.jobs.models import Job


class Command(BaseCommand):
    help = "Ingest a dataset onto the data nodes (DATA_NODES); prints the job as one JSON line."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("dataset", help="dataset id or name")
        parser.add_argument("--partitions", type=int, default=None)
        parser.add_argument("--nodes", default="", help="comma-separated node names (default: all)")
        parser.add_argument("--replicas", type=int, default=1)
        parser.add_argument(
            "--placement", choices=PLACEMENTS, default=PLACEMENTS[0], help="where partitions go"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        dataset = find_dataset(options["dataset"])
        try:
            job = dataset_ingest(
                user=dataset.owner,
                dataset=dataset,
                partitions=options["partitions"],
                nodes=options["nodes"] or None,
                replicas=options["replicas"],
                placement=options["placement"],
                enqueue=False,
            )
        except ParameterError as exc:
            raise CommandError(str(exc)) from None
        queue.run_queued(job.pk)
        job.refresh_from_db()
        written = sorted({(p["index"], p["worker"]) for p in job.partitions if p.get("written")})
        line = {
            "job": job.pk,
            "status": job.status,
            "error": job.error,
            "dataset": dataset.pk,
            "written": [list(w) for w in written],
        }
        self.stdout.write(json.dumps(line))
        if job.status != Job.Status.FINISHED:
            raise CommandError(f"ingestion of {dataset.name} {job.status}: {job.error}")
