"""Users for the access matrix: owner and member share the group "lab"; outsider does not."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from apps.accounts.services import token_create


@pytest.fixture
def owner_key(users: SimpleNamespace) -> str:
    return token_create(user=users.owner, name="script")[1]
