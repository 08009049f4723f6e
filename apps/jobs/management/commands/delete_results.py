"""``manage.py delete_results --older-than 90d [--user NAME ...] [--dry-run]``: the retention
command for cron; deletes the results of jobs that ended before then (their rows stay)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.jobs.quotas import RESULT_BYTES, amount
from apps.jobs.retention import (
    jobs_with_old_results,
    parse_age,
    results_delete,
    results_summary,
)


class Command(BaseCommand):
    help = (
        "Delete the results of jobs that ended longer ago than --older-than (frees the result "
        "quota; the jobs stay listed). Prints one line per job and a total."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--older-than", required=True, help="age: days (90), or 12h, 90d, 2w")
        parser.add_argument(
            "--user", action="append", default=[], help="only this user's jobs (repeatable)"
        )
        parser.add_argument("--dry-run", action="store_true", help="only say what would go")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            age = parse_age(options["older_than"])
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        owners = self._owners(options["user"]) if options["user"] else None
        jobs = jobs_with_old_results(older_than=age, owners=owners)
        for job in jobs.select_related("owner", "dataset"):
            self.stdout.write(
                f"job {job.pk}: {job.title} on {job.dataset.name} by {job.owner.get_username()}, "
                f"ended {job.finished:%Y-%m-%d %H:%M}"
            )
        freed = results_summary(jobs) if options["dry_run"] else results_delete(jobs=jobs)
        verb = "would delete" if options["dry_run"] else "deleted"
        self.stdout.write(
            f"{verb} {freed.results} results of {freed.jobs} jobs, "
            f"{amount(RESULT_BYTES, freed.nbytes)}"
        )

    def _owners(self, names: list[str]) -> Any:
        users = get_user_model().objects.filter(username__in=names)
        missing = sorted(set(names) - set(users.values_list("username", flat=True)))
        if missing:
            raise CommandError(f"--user: no user named {', '.join(missing)}.")
        return users
