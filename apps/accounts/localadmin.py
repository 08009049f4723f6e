"""The local admin account of the embedded default (one scientist on a laptop)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model

LOCAL_ADMIN_USERNAME = "admin"


def local_admin_ensure() -> Any:
    """Create (once) the staff account ``admin`` with no password: it logs in by link only."""
    user_model = get_user_model()
    user, created = user_model.objects.get_or_create(
        username=LOCAL_ADMIN_USERNAME, defaults={"is_staff": True, "is_superuser": True}
    )
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    return user
