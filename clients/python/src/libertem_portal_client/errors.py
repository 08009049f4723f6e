"""The exceptions of the client: one per kind of refusal, each carrying the portal's own words.

The portal answers every refused request with ``{"error": "...", "fields": {...}}`` and a 4xx
status (docs/api.md, Conventions); the exception keeps all three, so that a script can print
the sentence and a program can look at the field that was wrong.
"""

from __future__ import annotations

import json
from typing import Any


class PortalError(Exception):
    """A request the portal refused, or a job that did not finish.

    ``status`` is the HTTP status (``None`` when no HTTP answer is behind it), ``message`` the
    portal's sentence, ``fields`` the offending fields with what was expected of each.
    """

    def __init__(
        self, message: str, *, status: int | None = None, fields: dict[str, Any] | None = None
    ):
        self.message = message
        self.status = status
        self.fields = dict(fields or {})
        super().__init__(str(self))

    def __str__(self) -> str:
        prefix = f"{self.status}: " if self.status is not None else ""
        return prefix + self.message


class BadRequest(PortalError):
    """400: invalid input; ``fields`` names what was wrong."""


class NotAuthenticated(PortalError):
    """401: no valid token (a wrong or revoked one)."""


class Forbidden(PortalError):
    """403: you may see the object but not change it."""


class NotFound(PortalError):
    """404: no such object, or one you may not see."""


class Conflict(PortalError):
    """409: the object is not in a state that allows this (cancelling a job that ended)."""


class TooManyJobs(PortalError):
    """429: you already have as many jobs waiting as the portal allows."""


class JobFailed(PortalError):
    """The job ended ``failed``; ``message`` is the portal's explanation."""

    def __init__(self, message: str, *, job: dict[str, Any]):
        self.job = job
        super().__init__(message)


class JobCancelled(PortalError):
    """The job was cancelled before it finished (by you, staff, or a newer job replacing it)."""

    def __init__(self, message: str, *, job: dict[str, Any]):
        self.job = job
        super().__init__(message)


_BY_STATUS: dict[int, type[PortalError]] = {
    400: BadRequest,
    401: NotAuthenticated,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    429: TooManyJobs,
}


def error_for(status: int, body: bytes) -> PortalError:
    """The exception for an answer with ``status`` and ``body`` (the portal's JSON error, or
    whatever a proxy in front of it sent)."""
    try:
        answer = json.loads(body)
    except ValueError:
        answer = None
    if isinstance(answer, dict) and isinstance(answer.get("error"), str):
        message, fields = answer["error"], answer.get("fields") or {}
    else:
        text = body.decode("utf-8", "replace").strip()
        message, fields = (text[:500] or "no explanation was sent"), {}
    return _BY_STATUS.get(status, PortalError)(message, status=status, fields=fields)
