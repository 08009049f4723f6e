"""Reads for accounts."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import Http404

from apps.accounts.models import ApiToken
from apps.web.apidoc import ID, nullable, obj
from apps.web.ids import object_id

#: The JSON of :func:`token_json`.
TOKEN = obj(
    "Token",
    id=ID,
    name={"type": "string"},
    prefix={"type": "string", "description": "The key's first characters, to recognise it."},
    created={"type": "string", "format": "date-time"},
    last_used=nullable({"type": "string", "format": "date-time"}),
    url={"type": "string"},
)


def token_list(*, user: Any) -> QuerySet[ApiToken]:
    return ApiToken.objects.filter(user=user)


def token_get(*, user: Any, pk: Any) -> ApiToken:
    """``user``'s token ``pk``; someone else's token is reported missing."""
    try:
        return token_list(user=user).get(pk=object_id(pk) or 0)
    except ApiToken.DoesNotExist:
        raise Http404("No such API token.") from None


def token_json(token: ApiToken) -> dict[str, Any]:
    return {
        "id": token.pk,
        "name": token.name,
        "prefix": token.prefix,
        "created": token.created.isoformat(),
        "last_used": token.last_used.isoformat() if token.last_used else None,
        "url": f"/api/tokens/{token.pk}/",
    }
