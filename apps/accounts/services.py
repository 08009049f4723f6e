"""Writes for accounts: users, passwords, API tokens and one-time login and set-password links."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from django.contrib.auth import get_user_model, password_validation
from django.contrib.auth.models import Group
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from apps.accounts.models import (
    TOKEN_PREFIX_LENGTH,
    ApiToken,
    LoginLink,
    OidcIdentity,
    hash_token,
)
from apps.live.events import close_token_sockets

LOGIN_LINK_LIFETIME = timedelta(hours=24)
TOKEN_NAME_MAX = 100


def user_create(
    *,
    username: str,
    staff: bool = False,
    groups: Iterable[str] = (),
    password: str | None = None,
    email: str = "",
) -> Any:
    """Create a user (and any missing groups). Without a password it cannot log in by password.

    ``staff`` makes a portal admin: staff and superuser, so the Django admin is usable too. A
    password must pass ``AUTH_PASSWORD_VALIDATORS``; nothing is stored when it does not.
    """
    user_model = get_user_model()
    username = username.strip()
    if not username:
        raise ValidationError({"username": "The username must not be empty."})
    if user_model.objects.filter(username=username).exists():
        raise ValidationError({"username": f"A user named {username!r} already exists."})
    with transaction.atomic():
        user = user_model(username=username, email=email, is_staff=staff, is_superuser=staff)
        user.full_clean(exclude=["password"])
        if password is not None:
            _validate_password(password, user)
            user.set_password(password)
        else:
            user.set_unusable_password()
        user.save()
        for name in groups:
            group, _ = Group.objects.get_or_create(name=name)
            user.groups.add(group)
    return user


def user_set_password(*, user: Any, password: str) -> None:
    """Give ``user`` a new password that passes ``AUTH_PASSWORD_VALIDATORS``."""
    _validate_password(password, user)
    user.set_password(password)
    user.save(update_fields=["password"])


def _validate_password(password: str, user: Any) -> None:
    try:
        password_validation.validate_password(password, user)
    except ValidationError as exc:
        raise ValidationError({"password": exc.messages}) from None


def password_link_path(*, user: Any) -> str:
    """The path of a link where ``user`` sets a password: an invitation or a reset.

    Django's reset token: it is bound to the current password hash and last login, so it stops
    working once used (or once the password changes) and after ``PASSWORD_RESET_TIMEOUT``.
    """
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    token = default_token_generator.make_token(user)
    return reverse("password_reset_confirm", kwargs={"uidb64": uid, "token": token})


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


def oidc_user_sign_in(
    *,
    issuer: str,
    claims: dict[str, Any],
    username_claim: str,
    groups_claim: str,
    staff_group: str | None = None,
) -> Any:
    """The user that the verified ``claims`` of an OpenID provider sign in as.

    The first sign-in of a subject creates a user (no password) named after ``username_claim``;
    a local user of that name is never taken over. At every sign-in the e-mail address and the
    groups follow the provider: the user's groups become exactly those named in
    ``groups_claim`` (missing groups are created); with ``staff_group``, membership of that
    group makes a portal admin (staff and superuser) and its absence takes that away.
    """
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject:
        raise ValidationError({"sub": "The provider sent no subject ('sub' claim)."})
    with transaction.atomic():
        identity = (
            OidcIdentity.objects.select_for_update()
            .select_related("user")
            .filter(issuer=issuer, subject=subject)
            .first()
        )
        if identity is None:
            identity = _oidc_identity_create(issuer, subject, claims, username_claim)
        user = identity.user
        email = claims.get("email")
        if isinstance(email, str) and email != user.email:
            user.email = email
            user.save(update_fields=["email"])
        names = oidc_group_names(claims.get(groups_claim))
        user.groups.set(_groups_named(names))
        if staff_group and user.is_staff != (staff_group in names):
            user.is_staff = user.is_superuser = staff_group in names
            user.save(update_fields=["is_staff", "is_superuser"])
        identity.last_login = timezone.now()
        identity.save(update_fields=["last_login"])
    return user


def oidc_group_names(value: Any) -> list[str]:
    """Group names from a groups claim: a list of names (or one name); Keycloak's full group
    paths (``/lab/tem``) lose their leading slash. Anything else is ignored."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        return []
    names = {v.strip().lstrip("/") for v in value if isinstance(v, str)}
    max_length = Group._meta.get_field("name").max_length
    return sorted(n for n in names if n and len(n) <= max_length)


def _groups_named(names: list[str]) -> list[Group]:
    return [Group.objects.get_or_create(name=name)[0] for name in names]


def _oidc_identity_create(
    issuer: str, subject: str, claims: dict[str, Any], username_claim: str
) -> OidcIdentity:
    username = claims.get(username_claim)
    if not isinstance(username, str) or not username.strip():
        raise ValidationError(
            {username_claim: f"The provider sent no user name (claim {username_claim!r})."}
        )
    user_model = get_user_model()
    username = username.strip()
    if user_model.objects.filter(username=username).exists():
        raise ValidationError(
            {
                username_claim: f"A portal account named {username!r} exists already and is not "
                "linked to this sign-on; ask the portal staff to link or rename it."
            }
        )
    user = user_model(username=username)
    user.set_unusable_password()
    user.full_clean(exclude=["password"])
    user.save()
    return OidcIdentity.objects.create(user=user, issuer=issuer, subject=subject)
