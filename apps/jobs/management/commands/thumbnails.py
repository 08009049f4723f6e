"""``manage.py thumbnails [DATASET ...]``: compute the catalogue's thumbnails of datasets that
lack them (those registered before thumbnails existed, or whose job failed); ``--all`` computes
every one again.

With ``JOB_RUNNER=celery`` the jobs are queued for the job workers; with the embedded thread
runner this command runs them itself, one after the other, and says how each ended.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from apps.datasets.models import Dataset
from apps.jobs.management.commands.verify import find_dataset
from apps.jobs.models import Job
from apps.jobs.queue import run_queued
from apps.jobs.thumbnails import datasets_without_thumbnails, thumbnails_request


class Command(BaseCommand):
    help = "Compute the thumbnails (mean frame, annular dark field) of datasets lacking them."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("datasets", nargs="*", help="dataset ids or names (default: all)")
        parser.add_argument("--all", action="store_true", help="also those that have them")

    def handle(self, *args: Any, **options: Any) -> None:
        ids = [find_dataset(key).pk for key in options["datasets"]]
        if options["all"]:
            rows = Dataset.objects.filter(status=Dataset.Status.READY).order_by("pk")
            targets = list(rows.filter(pk__in=ids) if ids else rows)
        else:
            targets = list(datasets_without_thumbnails(ids))
        inline = settings.JOB_RUNNER != "celery"
        failed = 0
        for dataset in targets:
            job = thumbnails_request(dataset=dataset, enqueue=not inline)
            if inline:
                run_queued(job.pk)
                job.refresh_from_db()
                failed += job.status != Job.Status.FINISHED
                detail = f": {job.error}" if job.error else ""
                self.stdout.write(f"{dataset.pk} {dataset.name}: {job.status}{detail}")
            else:
                self.stdout.write(f"{dataset.pk} {dataset.name}: queued as job {job.pk}")
        if not targets:
            self.stdout.write("Every dataset has its thumbnails.")
        if failed:
            self.stderr.write(f"{failed} thumbnail job(s) did not finish.")
