"""The sentences failed jobs end with: plain words for what a user meets through no fault of
their own (the portal restarted, the scheduler or its connection lost, a worker died, the file
gone), and the exception only for what nobody foresaw."""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from typing import Any

import pytest
from distributed.comm.core import CommClosedError
from distributed.scheduler import KilledWorker

from apps.core.errors import DataSetError
from apps.core.executor import InlineExecutor
from apps.jobs import executor as job_executor
from apps.jobs import failures
from apps.jobs.failures import failure_message
from tests.jobs.support import raw_dataset, submit, wait_terminal

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("thread_runner")]

COMM_CLOSED = CommClosedError(
    "in <TCP (closed) ConnectionPool.update_data local=tcp://127.0.0.1:51234 "
    "remote=tcp://127.0.0.1:40111>: ConnectionResetError: [Errno 104] Connection reset by peer"
)


def _message(exc: BaseException, stopping: bool = False, lost: bool = False) -> str:
    return failure_message(exc, stopping=stopping, scheduler_lost=lost)


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (COMM_CLOSED, failures.CONNECTION_BROKE),
        (
            ConnectionResetError(errno.ECONNRESET, "Connection reset by peer"),
            failures.CONNECTION_BROKE,
        ),
        (KilledWorker("task", "tcp://127.0.0.1:4000", 3), failures.WORKER_DIED),
        (
            DataSetError("/data/a.raw: the file is 10 bytes, expected 20."),
            "/data/a.raw: the file is 10 bytes, expected 20.",
        ),
        (RuntimeError("a bug"), "internal error: RuntimeError: a bug"),
    ],
    ids=["comm-closed", "connection-reset", "killed-worker", "core-error", "unforeseen"],
)
def test_it_says_what_happened(exc: BaseException, expected: str) -> None:
    assert _message(exc) == expected


def test_a_stopping_portal_or_a_lost_scheduler_outweighs_the_exception() -> None:
    assert _message(COMM_CLOSED, stopping=True) == failures.STOPPED
    assert _message(COMM_CLOSED, lost=True) == failures.SCHEDULER_LOST
    assert "CommClosedError" not in failures.STOPPED + failures.SCHEDULER_LOST


def test_a_vanished_file_is_named() -> None:
    gone = FileNotFoundError(errno.ENOENT, "No such file or directory", "/data/scan.raw")
    assert _message(gone) == (
        "The data file /data/scan.raw is gone: it was moved or deleted while the job ran. "
        "Put it back (or register the dataset again) and run the job again."
    )


class StoppedWhileRunning(InlineExecutor):
    """The portal shuts down (``serve`` closes the executor) while the job runs: the job sees
    its cluster's connection close."""

    def run(self, dataset: Any, analysis: Any, **kwargs: Any) -> Any:
        job_executor.close_executor()
        raise COMM_CLOSED


class FileVanishes(InlineExecutor):
    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path

    def run(self, dataset: Any, analysis: Any, **kwargs: Any) -> Any:
        raise FileNotFoundError(errno.ENOENT, "No such file or directory", self.path)


@pytest.fixture
def executor() -> Iterator[Any]:
    yield job_executor.set_executor
    job_executor.set_executor(InlineExecutor())  # a new executor: no longer stopping
    job_executor.set_executor(None)


def test_a_job_the_portal_stopped_says_so(users, client_for, dataset, executor) -> None:
    executor(StoppedWhileRunning())
    job = wait_terminal(submit(client_for(users.owner), dataset, "sum").json()["id"])
    assert (job.status, job.error) == ("failed", failures.STOPPED)
    assert job_executor.executor_stopping()


def test_a_file_gone_while_running_is_named(users, client_for, data_root, data, executor) -> None:
    ds = raw_dataset(users.owner, data_root, data)
    executor(FileVanishes(ds.path))
    job = wait_terminal(submit(client_for(users.owner), ds, "sum").json()["id"])
    assert job.status == "failed"
    assert job.error.startswith(f"The data file {ds.path} is gone")


def test_a_file_gone_before_the_job_is_named(users, client_for, data_root, data, executor) -> None:
    executor(InlineExecutor())
    ds = raw_dataset(users.owner, data_root, data)
    os.remove(ds.path)
    job = wait_terminal(submit(client_for(users.owner), ds, "sum").json()["id"])
    assert job.status == "failed"
    assert ds.path in job.error and "No such file or directory" in job.error
    assert "internal error" not in job.error and "Error:" not in job.error
