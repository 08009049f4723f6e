"""Writes for accounts: users, API tokens and one-time login links."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from apps.accounts.models import TOKEN_PREFIX_LENGTH, ApiToken, LoginLink, hash_token
from apps.live.events import close_token_sockets

LOGIN_LINK_LIFETIME = timedelta(hours=24)
TOKEN_NAME_MAX = 100


def user_create(
    *,
    username: str,
    staff: bool = False,
    groups: Iterable[str] = (),
    password: str | None = None,
) -> Any:
    """Create a user (and any missing groups). Without a password it cannot log in by password.

    ``staff`` makes a portal admin: staff and superuser, so the Django admin is usable too.
    """
    user_model = get_user_model()
    username = username.strip()
    if not username:
        raise ValidationError({"username": "The username must not be empty."})
    if user_model.objects.filter(username=username).exists():
        raise ValidationError({"username": f"A user named {username!r} already exists."})
    with transaction.atomic():
        user = user_model(username=username, is_staff=staff, is_superuser=staff)
        if password:
            user.set_password(password)
        else:
            user.set_unusable_password()
        user.full_clean(exclude=["password"])
        user.save()
        for name in groups:
            group, _ = Group.objects.get_or_create(name=name)
            user.groups.add(group)
    return user


def token_create(*, user: Any, name: str) -> tuple[ApiToken, str]:
    """A new API token for ``user``; returns the row and the key (shown once, never stored)."""
    if not isinstance(name, str) or not name.strip():
        raise ValidationError({"name": "Give the token a name, e.g. the script that uses it."})
    name = name.strip()
    if len(name) > TOKEN_NAME_MAX:
        raise ValidationError(
            {"name": f"The name must be at most {TOKEN_NAME_MAX} characters, got {len(name)}."}
        )
    key = ApiToken.new_key()
    token = ApiToken.objects.create(
        user=user, name=name, prefix=key[:TOKEN_PREFIX_LENGTH], key_hash=hash_token(key)
    )
    return token, key


def token_revoke(*, user: Any, token: ApiToken) -> None:
    """Delete ``token``; the websockets opened with it are closed once that is committed."""
    if token.user_id != user.id:
        raise PermissionDenied("Only the owner of a token can revoke it.")
    key_hash = token.key_hash
    token.delete()
    transaction.on_commit(lambda: close_token_sockets(key_hash))


def login_link_create(*, user: Any) -> str:
    """A random key for ``/login/link/<key>/``; valid once, for 24 hours."""
    key = secrets.token_urlsafe(32)
    LoginLink.objects.create(user=user, key_hash=hash_token(key))
    return key


def login_link_use(*, key: str) -> Any | None:
    """The user of an unused, unexpired link ``key`` (which is used up now), else None."""
    oldest = timezone.now() - LOGIN_LINK_LIFETIME
    with transaction.atomic():
        # The conditional update makes the link single-use even under concurrent requests.
        used = LoginLink.objects.filter(
            key_hash=hash_token(key), used__isnull=True, created__gte=oldest
        ).update(used=timezone.now())
        if not used:
            return None
        link = LoginLink.objects.select_related("user").get(key_hash=hash_token(key))
    return link.user if link.user.is_active else None
