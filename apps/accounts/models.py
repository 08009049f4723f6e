"""API tokens, login links and single sign-on identities (users and groups are Django's own)."""

from __future__ import annotations

import hashlib
import secrets

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

TOKEN_PREFIX_LENGTH = 8


def hash_token(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class ApiToken(models.Model):
    """A token a script sends as ``Authorization: Token <key>``; only its hash is stored."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100)
    prefix = models.CharField(
        max_length=TOKEN_PREFIX_LENGTH, help_text="First characters, to recognise it."
    )
    key_hash = models.CharField(max_length=64, unique=True)
    created = models.DateTimeField(auto_now_add=True)
    last_used = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @staticmethod
    def new_key() -> str:
        return secrets.token_urlsafe(30)


class LoginLink(models.Model):
    """A one-time link that logs its user in (how ``serve`` lets the local admin in).

    Only the key's hash is stored; a link is valid once, for ``LOGIN_LINK_LIFETIME``.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="login_links"
    )
    key_hash = models.CharField(max_length=64, unique=True)
    created = models.DateTimeField(auto_now_add=True)
    used = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"login link for {self.user} ({self.created:%Y-%m-%d %H:%M})"


class OidcIdentity(models.Model):
    """The account at an OpenID provider (issuer + subject) that signs in as ``user``.

    The subject, not the e-mail address or the username, links the two: an address can change
    hands at the provider, and a provider user named like a local account must not become it.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="oidc_identities"
    )
    issuer = models.CharField(max_length=255)
    subject = models.CharField(max_length=255)
    created = models.DateTimeField(auto_now_add=True)
    last_login = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["issuer", "subject"], name="oidc_identity_unique")
        ]
        verbose_name = "single sign-on identity"
        verbose_name_plural = "single sign-on identities"

    def __str__(self) -> str:
        return f"{self.subject} at {self.issuer}"


class Quota(models.Model):
    """The limits staff set for one user or one group, instead of the settings' defaults.

    A limit left empty is the default (``QUOTA_USER_*`` or ``QUOTA_GROUP_*``); 0 means no
    limit. The usage these limits hold is counted by ``apps.jobs.quotas``.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="quota",
    )
    group = models.OneToOneField(
        "auth.Group", null=True, blank=True, on_delete=models.CASCADE, related_name="quota"
    )
    result_bytes = models.BigIntegerField(
        null=True,
        blank=True,
        help_text="Bytes of stored results; empty: the default, 0: no limit.",
    )
    compute_seconds = models.BigIntegerField(
        null=True,
        blank=True,
        help_text="Seconds of jobs run in the last QUOTA_COMPUTE_DAYS days; empty: the "
        "default, 0: no limit.",
    )

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(user__isnull=False, group__isnull=True)
                | models.Q(user__isnull=True, group__isnull=False),
                name="quota_of_user_or_group",
            ),
            models.CheckConstraint(
                condition=models.Q(result_bytes__gte=0) | models.Q(result_bytes__isnull=True),
                name="quota_result_bytes_not_negative",
            ),
            models.CheckConstraint(
                condition=models.Q(compute_seconds__gte=0) | models.Q(compute_seconds__isnull=True),
                name="quota_compute_seconds_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"quota of {self.user or self.group}"

    def clean(self) -> None:
        # the admin's form says this before the database's constraint would
        if (self.user_id is None) == (self.group_id is None):
            raise ValidationError("A quota is for one user or for one group: choose one of them.")
