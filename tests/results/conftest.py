"""Fixtures shared by the jobs, results, live and e2e tests (see tests/jobs/support.py)."""

from tests.jobs.support import (  # noqa: F401 - fixtures are found by name
    data,
    data_root,
    dataset,
    held_jobs,
    inline_executor,
    other_dataset,
    thread_runner,
)
