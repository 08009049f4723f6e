"""Test-wide switches: which tests need real services, a browser, or the shared test data.

Locally such tests skip with a reason; ``.ci/run`` sets ``TEST_REQUIRE_*=1`` so that in CI a
missing service fails the run instead of skipping silently.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

SHARED_TESTDATA = Path(__file__).resolve().parent.parent.parent / "shared" / "testdata"


def _flush_retrying_deadlocks() -> None:
    """Let a transactional test's flush retry when it loses a deadlock to a worker process.

    The services tests share real Celery and dask processes across tests; a worker still
    finishing the previous test's job (dispatching the queue, publishing) can hold a table lock
    while ``TRUNCATE`` takes them all, and PostgreSQL then aborts the flush as the deadlock's
    victim. The worker's transaction ends a moment later, so the flush is simply tried again.
    """
    from django.core.management.base import CommandError
    from django.db import OperationalError
    from django.test import TransactionTestCase

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


def _required(kind: str) -> bool:
    return os.environ.get(f"TEST_REQUIRE_{kind}") == "1"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    on_services = bool(os.environ.get("DATABASE_URL") and os.environ.get("REDIS_URL"))
    for item in items:
        if "services" in item.keywords and not on_services:
            if _required("SERVICES") and not os.environ.get("TEST_DATABASE_URL"):
                raise pytest.UsageError(
                    "TEST_REQUIRE_SERVICES=1 but TEST_DATABASE_URL is not set: the services pass "
                    "of 'make test' cannot run."
                )
            item.add_marker(
                pytest.mark.skip(
                    reason="needs PostgreSQL + Redis; 'make test' runs it in its second pass when "
                    "TEST_DATABASE_URL and TEST_REDIS_URL are set"
                )
            )


def require_or_skip(kind: str, reason: str) -> None:
    """Skip with ``reason``, or fail when CI requires ``kind`` (SERVICES, BROWSER, TESTDATA, NODE)."""
    if _required(kind):
        pytest.fail(f"required in this run (TEST_REQUIRE_{kind}=1): {reason}")
    pytest.skip(reason)


@pytest.fixture
def shared_testdata() -> Path:
    """The folder of real detector files, ../shared/testdata."""
    if not SHARED_TESTDATA.is_dir():
        require_or_skip("TESTDATA", f"{SHARED_TESTDATA} is not there")
    return SHARED_TESTDATA


@pytest.fixture(autouse=True)
def _test_settings(settings: pytest.FixtureRequest) -> None:
    # The production settings redirect to HTTPS; the test client speaks plain HTTP.
    settings.SECURE_SSL_REDIRECT = False
    # PBKDF2 is slow on purpose; tests create many users.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def users(db: None) -> SimpleNamespace:
    """The access matrix: owner and member share the group "lab"; outsider does not; staff."""
    from django.contrib.auth.models import Group, User

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
def client_for() -> Callable[[Any], Any]:
    """A test client logged in as the given user (anonymous for None)."""
    from django.test import Client

    def make(user: Any) -> Client:
        client = Client()
        if user is not None:
            client.force_login(user)
        return client

    return make
