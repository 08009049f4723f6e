"""``with_db_retry``: a statement that lost its connection runs again on a new one, with
backoff, for ``DB_RETRY_SECONDS``; never inside a caller's transaction."""

from __future__ import annotations

import pytest
from django.db import InterfaceError, OperationalError, connection, transaction

from apps.jobs.dbretry import with_db_retry
from apps.jobs.models import Job

pytestmark = pytest.mark.django_db(transaction=True)


class Clock:
    """A fake clock that ``sleep`` advances."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def failing(times: int, error: type[Exception] = OperationalError):
    calls = []

    def statement() -> int:
        calls.append(connection.connection)
        if len(calls) <= times:
            connection.ensure_connection()
            raise error("terminating connection due to administrator command")
        return Job.objects.count()

    return statement, calls


def test_it_runs_the_statement_again_on_a_new_connection(settings):
    settings.DB_RETRY_SECONDS = 10
    clock = Clock()
    statement, calls = failing(3, InterfaceError)
    assert with_db_retry(statement, what="test", sleep=clock.sleep, clock=clock) == 0
    assert len(calls) == 4
    assert clock.sleeps == pytest.approx([0.1, 0.2, 0.4])
    assert calls[1] is None  # the lost connection was closed before the next try


def test_it_gives_up_after_db_retry_seconds(settings):
    settings.DB_RETRY_SECONDS = 3
    clock = Clock()
    statement, calls = failing(1000)
    with pytest.raises(OperationalError):
        with_db_retry(statement, what="test", sleep=clock.sleep, clock=clock)
    # the next wait (1.6 s) would end past the deadline: the fifth failure is raised
    assert clock.sleeps == pytest.approx([0.1, 0.2, 0.4, 0.8])
    assert len(calls) == 5


def test_it_never_retries_inside_a_transaction(settings):
    settings.DB_RETRY_SECONDS = 10
    clock = Clock()
    statement, calls = failing(1)
    with pytest.raises(OperationalError), transaction.atomic():
        with_db_retry(statement, what="test", sleep=clock.sleep, clock=clock)
    assert len(calls) == 1 and clock.sleeps == []
