"""Retention: staff delete the results of old jobs, which frees their owners' result quota.

The job's row stays (its history, and its run time still counts for the compute quota of its
period) with ``results_deleted`` set; its result rows, final and partial, are gone, so nothing
can serve them again: downloads answer 404, and a reused-result lookup reads only existing
result rows. Run :func:`results_delete` from cron (``manage.py delete_results``) or the jobs'
admin action.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.db.models import Count, QuerySet, Sum
from django.utils import timezone

from apps.jobs.models import Job
from apps.results.models import Result

_AGE = re.compile(r"^\s*(\d{1,6})\s*([hdw]?)\s*$")
_UNIT = {"h": "hours", "d": "days", "w": "weeks", "": "days"}


@dataclass(frozen=True)
class Deleted:
    """What a deletion freed: ``jobs`` whose results went, ``results`` arrays, ``nbytes``."""

    jobs: int
    results: int
    nbytes: int


def parse_age(text: str) -> timedelta:
    """``90d``, ``12h``, ``2w`` or ``30`` (days) as a timedelta; ValueError naming the format."""
    match = _AGE.match(text or "")
    if match is None:
        raise ValueError(
            f"--older-than must be a whole number of days, or of hours, days or weeks with h, "
            f"d or w after it (90d, 12h, 2w), got {text!r:.40}."
        )
    return timedelta(**{_UNIT[match.group(2)]: int(match.group(1))})


def jobs_with_old_results(*, older_than: timedelta, owners: Any = None) -> QuerySet[Job]:
    """Ended jobs that finished more than ``older_than`` ago and still have results
    (of the users ``owners`` only, if given)."""
    cutoff = timezone.now() - older_than
    jobs = Job.objects.filter(status__in=Job.TERMINAL, finished__lt=cutoff, results__isnull=False)
    if owners is not None:
        jobs = jobs.filter(owner__in=owners)
    return jobs.distinct().order_by("finished", "pk")


def results_summary(jobs: QuerySet[Job]) -> Deleted:
    """What deleting the results of ``jobs`` would free."""
    rows = Result.objects.filter(job__in=jobs.values("pk"), partial=False)
    totals = rows.aggregate(results=Count("pk"), nbytes=Sum("nbytes"))
    return Deleted(jobs.count(), totals["results"], int(totals["nbytes"] or 0))


def results_delete(*, jobs: QuerySet[Job]) -> Deleted:
    """Delete the results of the ended ``jobs`` (a running job's are left: it may still write
    them); returns what was freed."""
    with transaction.atomic():
        ended = Job.objects.filter(pk__in=jobs.values("pk"), status__in=Job.TERMINAL)
        ids = list(ended.select_for_update().values_list("pk", flat=True))
        freed = results_summary(Job.objects.filter(pk__in=ids))
        Result.objects.filter(job_id__in=ids).delete()
        Job.objects.filter(pk__in=ids).update(results_deleted=timezone.now())
    return freed
