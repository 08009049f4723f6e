"""Users for the access matrix: owner and member share the group "lab"; outsider does not."""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client

from apps.accounts.services import token_create


@pytest.fixture(autouse=True)
def _fast_passwords(settings: Any) -> None:
    # The production hasher takes ~0.3 s per password on purpose; tests need no such cost.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def users(db: None) -> SimpleNamespace:
    lab = Group.objects.create(name="lab")
    owner = User.objects.create_user("alice", password="pw-alice-123")
    member = User.objects.create_user("bob", password="pw-bob-123")
    outsider = User.objects.create_user("eve", password="pw-eve-123")
    staff = User.objects.create_user("root", password="pw-root-123", is_staff=True)
    owner.groups.add(lab)
    member.groups.add(lab)
    return SimpleNamespace(owner=owner, member=member, outsider=outsider, staff=staff, lab=lab)


@pytest.fixture
def client_for() -> Callable[[User | None], Client]:
    """A test client logged in as the given user (anonymous for None)."""

    def make(user: User | None) -> Client:
        client = Client()
        if user is not None:
            client.force_login(user)
        return client

    return make


@pytest.fixture
def owner_key(users: SimpleNamespace) -> str:
    return token_create(user=users.owner, name="script")[1]
