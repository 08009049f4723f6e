"""The jobs app's receivers of the catalogue's signals, importing their work when first sent.

``JobsConfig.ready`` connects them in every process that sets Django up; importing the
services behind them there (the job queue, the driver, redis' asyncio client) cost
``manage.py analyze`` and every other offline command about 0.1 s of CPU for signals it never
sends. Module-level functions: a signal holds its receivers by weak reference.
"""

from __future__ import annotations

from typing import Any


def follow_sharing(**signal: Any) -> None:
    """``dataset_shared``: see :func:`apps.jobs.services.jobs_follow_sharing`."""
    from apps.jobs.services import jobs_follow_sharing

    jobs_follow_sharing(**signal)


def remove_copies(**signal: Any) -> list[str]:
    """``dataset_deleted``: see :func:`apps.jobs.copies.dataset_copies_remove` (its sentences
    for what could not be removed are the answer)."""
    from apps.jobs.copies import dataset_copies_remove

    return dataset_copies_remove(**signal)


def thumbnails_on_register(**signal: Any) -> None:
    """``dataset_registered``: see :func:`apps.jobs.thumbnails.thumbnails_on_register`."""
    from apps.jobs.thumbnails import thumbnails_on_register as request

    request(**signal)


def jobs_of_this_process_end(**signal: Any) -> None:
    """``registering_done``: wait for the jobs this process runs itself (``JOB_RUNNER=thread``:
    a command's thumbnail jobs, which would fail at its exit), see
    :func:`apps.jobs.queue.drain`."""
    from django.conf import settings

    if settings.JOB_RUNNER == "thread":
        from apps.jobs.queue import drain

        drain()
