"""Fixtures of the security tests: the catalogue and job fixtures of tests/jobs/support.py."""

import pytest

from tests.jobs.support import close_async_connections, data, data_root, dataset, held_jobs

__all__ = [
    "close_async_connections",
    "data",
    "data_root",
    "dataset",
    "held_jobs",
]  # fixtures are found by name


@pytest.fixture(autouse=True)
def _async_connections_closed(close_async_connections: None) -> None:
    """After websocket tests, see tests/jobs/support.py."""
