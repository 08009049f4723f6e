"""A Python client for LiberTEM Portal: ``Portal(url, token).run(dataset, "virtual", ...)``."""

from .errors import (
    BadRequest,
    Conflict,
    Forbidden,
    JobCancelled,
    JobFailed,
    NotAuthenticated,
    NotFound,
    PortalError,
    TooManyJobs,
)
from .portal import Portal
from .result import Result

__all__ = [
    "BadRequest",
    "Conflict",
    "Forbidden",
    "JobCancelled",
    "JobFailed",
    "NotAuthenticated",
    "NotFound",
    "Portal",
    "PortalError",
    "Result",
    "TooManyJobs",
]
__version__ = "0.1.0"
