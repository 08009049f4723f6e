"""A deactivated or deleted user's websockets are closed, wherever the change is saved.

Signals, not a service: an account is deactivated in the admin's user form, by the OIDC or
local-admin code, or by any ``user.save()``; each must end the user's live sockets (by session
or API token), which otherwise stream the jobs they watch until the browser leaves. A bulk
``QuerySet.update(is_active=False)`` sends no signal and is not covered.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from apps.live.events import close_user_sockets


def user_saved(sender: Any, instance: Any, **kwargs: Any) -> None:
    if not instance.is_active:
        user_id = instance.pk
        transaction.on_commit(lambda: close_user_sockets(user_id))


def user_deleted(sender: Any, instance: Any, **kwargs: Any) -> None:
    user_id = instance.pk
    transaction.on_commit(lambda: close_user_sockets(user_id))
