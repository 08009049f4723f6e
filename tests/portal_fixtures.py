"""Fixtures of every portal test (the Django ones): settings, users, logged-in clients.

Registered by tests/conftest.py when pytest-django is active, together with the catalogue and
job fixtures of tests/jobs/support.py; ``pytest -p no:django tests/core`` loads neither, so the
Core's tests run without Django.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from django.core.management.base import CommandError
from django.db import OperationalError, connections
from django.test import Client, TransactionTestCase


def _flush_retrying_deadlocks() -> None:
    """Let a transactional test's flush retry when it loses a deadlock to a worker process.

    The services tests share real Celery and dask processes across tests; a worker still
    finishing the previous test's job (dispatching the queue, publishing) can hold a table lock
    while ``TRUNCATE`` takes them all, and PostgreSQL then aborts the flush as the deadlock's
    victim. The worker's transaction ends a moment later, so the flush is simply tried again.
    """
    flush = TransactionTestCase._fixture_teardown

    def teardown(self: TransactionTestCase) -> None:
        for attempt in range(5):
            try:
                return flush(self)
            except CommandError as exc:
                lost = isinstance(exc.__cause__, OperationalError) and "deadlock" in str(
                    exc.__cause__
                )
                if not lost or attempt == 4:
                    raise
                time.sleep(0.2 * (attempt + 1))
        return None

    TransactionTestCase._fixture_teardown = teardown  # type: ignore[method-assign]


def pytest_configure(config: pytest.Config) -> None:
    _flush_retrying_deadlocks()


@pytest.fixture(autouse=True)
def _test_settings(settings: Any) -> None:
    # The production settings redirect to HTTPS; the test client speaks plain HTTP.
    settings.SECURE_SSL_REDIRECT = False
    # PBKDF2 is slow on purpose; tests create many users.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # A registration queues a thumbnail job; tests that count jobs count only their own
    # (tests/jobs/test_thumbnails.py turns it on).
    settings.THUMBNAILS_ON_REGISTER = False


@pytest.fixture(autouse=True)
def close_async_connections() -> Iterator[None]:
    """After each test, close the database connection of asgiref's sync thread.

    ``database_sync_to_async`` runs in one long-lived thread; on PostgreSQL its open
    connection would keep pytest-django from dropping the test database at the end.
    """
    yield
    from asgiref.sync import SyncToAsync

    SyncToAsync.single_thread_executor.submit(connections.close_all).result(timeout=10)


@pytest.fixture
def users(db: None) -> SimpleNamespace:
    """The access matrix: owner and member share the group "lab"; outsider does not; staff."""
    lab = Group.objects.create(name="lab")
    Group.objects.create(name="other")
    owner = User.objects.create_user("alice", password="pw-alice-123")
    member = User.objects.create_user("bob", password="pw-bob-123")
    outsider = User.objects.create_user("eve", password="pw-eve-123")
    staff = User.objects.create_user("root", password="pw-root-123", is_staff=True)
    owner.groups.add(lab)
    member.groups.add(lab)
    return SimpleNamespace(owner=owner, member=member, outsider=outsider, staff=staff, lab=lab)


@pytest.fixture
def client_for() -> Callable[[Any], Client]:
    """A test client logged in as the given user (anonymous for None)."""

    def make(user: Any) -> Client:
        client = Client()
        if user is not None:
            client.force_login(user)
        return client

    return make
