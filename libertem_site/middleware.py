"""Site-wide middleware: the access log, requests that outlive a lost database connection, and
the health check reachable over plain HTTP from monitors.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import sys
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.signals import got_request_exception
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.functional import SimpleLazyObject

from apps.jobs.dbretry import discard_connection

access_log = logging.getLogger("portal.access")
logger = logging.getLogger(__name__)

GetResponse = Callable[[HttpRequest], HttpResponse]
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
SAFE_TRIES = 3  # a safe request's runs when its connection keeps being lost
HEALTH_PATH = "/healthz"
# Paths that carry a credential: a login link's key, a set-password link's token. The log keeps
# their shape, not the secret (a reset link stays valid for days; logs travel further than keys).
SECRET_IN_PATH = re.compile(r"^(/login/link/|/password/set/[^/]+/)(?!set-password/)[^/?]+")


class AccessLogMiddleware:
    """One line per request: method, path, status, milliseconds, user (``-`` if anonymous).

    The health check's successful answers are logged at DEBUG: a monitor polls it every few
    seconds and would bury everything else.
    """

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        t0 = time.perf_counter()
        response = self.get_response(request)
        ms = (time.perf_counter() - t0) * 1000
        quiet = request.path == HEALTH_PATH and response.status_code == 200
        access_log.log(
            logging.DEBUG if quiet else logging.INFO,
            "%s %s %s %.1f ms %s",
            request.method,
            SECRET_IN_PATH.sub(r"\1…", request.get_full_path()),
            response.status_code,
            ms,
            _username(request),
        )
        return response


def _username(request: HttpRequest) -> str:
    # Only a user the request already loaded: the log must not cost a query of its own.
    user = request.__dict__.get("_cached_user") or request.__dict__.get("user")
    if user is None or isinstance(user, SimpleLazyObject) or not user.is_authenticated:
        return "-"
    return str(user.get_username())


class LostDatabaseMiddleware:
    """A request that failed because the database connection was lost never answers 500.

    PostgreSQL ends sessions on a restart, a failover or ``pg_terminate_backend``; a request
    caught in the middle gets ``OperationalError`` from whichever statement came next. A safe
    request (GET, HEAD, OPTIONS) runs again on a new connection, up to ``SAFE_TRIES`` times in
    all; anything else, or a safe request that kept failing, answers 503 with ``Retry-After``:
    a write is never repeated behind the client's back.
    """

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        tries = SAFE_TRIES if request.method in SAFE_METHODS else 1
        for attempt in range(1, tries + 1):
            request.lost_database = False  # type: ignore[attr-defined]
            response = self.get_response(request)
            if not _lost_database(request):
                return response
            discard_connection()
            if attempt < tries:
                logger.warning(
                    "%s %s: the database connection was lost; running it again",
                    request.method,
                    request.path,
                )
        logger.warning("%s %s: the database is not reachable; 503", request.method, request.path)
        response = JsonResponse(
            {
                "error": "The database is not reachable at the moment; try again in a few seconds.",
                "fields": {},
            },
            status=503,
        )
        response["Retry-After"] = "5"
        return response


def _lost_database(request: HttpRequest | None) -> bool:
    return bool(getattr(request, "lost_database", False))


def _mark_lost_database(sender: Any, request: HttpRequest | None = None, **kwargs: Any) -> None:
    # Django turns a view's or middleware's exception into a 500 before it reaches the
    # middleware above; this receiver runs while the exception is being handled.
    exc = sys.exc_info()[1]
    if request is not None and isinstance(exc, (OperationalError, InterfaceError)):
        request.lost_database = True  # type: ignore[attr-defined]


got_request_exception.connect(_mark_lost_database, dispatch_uid="portal-lost-database")


class LostDatabaseLogFilter(logging.Filter):
    """Drops Django's "Internal Server Error" record of a request the middleware above takes
    over (it logs a warning of its own): no 500 went out."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not _lost_database(getattr(record, "request", None))


class MonitorHealthMiddleware:
    """``GET /healthz`` from loopback or ``MONITOR_NETWORKS`` is answered here, before the HTTPS
    redirect and the host check: a monitor polling Daphne over plain HTTP needs the 200 or 503,
    not a 301 (or a 400 for an address that is not in ``ALLOWED_HOSTS``)."""

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path == HEALTH_PATH and _from_monitor(request):
            from apps.portal.ops import healthz

            return healthz(request)
        return self.get_response(request)


def _from_monitor(request: HttpRequest) -> bool:
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return address.is_loopback or any(address in net for net in settings.MONITOR_NETWORKS)
