"""Fixtures shared by the jobs, results, live and e2e tests (see tests/jobs/support.py)."""

import pytest

from tests.jobs.support import (  # noqa: F401 - fixtures are found by name
    close_async_connections,
    data,
    data_root,
    dataset,
    held_jobs,
    inline_executor,
    other_dataset,
    thread_runner,
)


@pytest.fixture(autouse=True)
def _close_async_connections(close_async_connections: None) -> None:  # noqa: F811
    """See tests/jobs/support.py."""
