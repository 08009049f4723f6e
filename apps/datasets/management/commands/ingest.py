"""``manage.py ingest DATASET [--partitions N] [--nodes a,b] [--replicas R]``: ingest a dataset
(id or name) onto the data nodes in this process, printing progress; exits non-zero on failure."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.core.errors import ParameterError
from apps.datasets.ingestion import dataset_ingest
from apps.datasets.management.commands.verify import find_dataset
from apps.jobs import driver
from apps.jobs.models import Job


class Command(BaseCommand):
    help = "Ingest a dataset onto the data nodes (DATA_NODES); prints the job as one JSON line."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("dataset", help="dataset id or name")
        parser.add_argument("--partitions", type=int, default=None)
        parser.add_argument("--nodes", default="", help="comma-separated node names (default: all)")
        parser.add_argument("--replicas", type=int, default=1)

    def handle(self, *args: Any, **options: Any) -> None:
        dataset = find_dataset(options["dataset"])
        try:
            job = dataset_ingest(
                user=dataset.owner,
                dataset=dataset,
                partitions=options["partitions"],
                nodes=options["nodes"] or None,
                replicas=options["replicas"],
                enqueue=False,
            )
        except ParameterError as exc:
            raise CommandError(str(exc)) from None
        driver.run_job(job.pk)
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
