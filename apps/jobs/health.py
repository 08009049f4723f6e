"""Health checks of the services the portal needs: database, channel layer, broker, dask.

Each check answers ``{"ok": bool, "latency_ms": float, "error"?: str}``. Errors name only the
exception type and a fixed sentence, never an address or a credential: ``/healthz`` is public.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import connection

logger = logging.getLogger(__name__)

TIMEOUT = 2.0


def health_report() -> dict[str, dict[str, Any]]:
    """Every check, by name."""
    return {
        "database": _timed(_database),
        "channel_layer": _timed(_channel_layer),
        "broker": _timed(_broker),
        "dask_scheduler": _timed(_dask_scheduler),
    }


def _timed(check: Callable[[], str]) -> dict[str, Any]:
    t0 = time.perf_counter()
    try:
        kind = check()
        result: dict[str, Any] = {"ok": True, "kind": kind}
    except Exception as exc:
        logger.warning("health check %s failed", check.__name__, exc_info=True)
        result = {"ok": False, "error": f"{type(exc).__name__}: not reachable"}
    result["latency_ms"] = round((time.perf_counter() - t0) * 1000, 2)
    return result


def _database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return connection.vendor


def _redis_ping(url: str) -> None:
    import redis

    client = redis.Redis.from_url(url, socket_timeout=TIMEOUT, socket_connect_timeout=TIMEOUT)
    try:
        client.ping()
    finally:
        client.close()


def _channel_layer() -> str:
    backend = settings.CHANNEL_LAYERS["default"]["BACKEND"]
    if "Redis" not in backend:
        return "in-memory"
    host = settings.CHANNEL_LAYERS["default"]["CONFIG"]["hosts"][0]
    _redis_ping(host["address"] if isinstance(host, dict) else host)
    return "redis"


def _broker() -> str:
    if settings.JOB_RUNNER != "celery":
        return "threads of the web process"
    _redis_ping(settings.CELERY_BROKER_URL)
    return "redis"


def _dask_scheduler() -> str:
    address = settings.DASK_SCHEDULER_ADDRESS
    if not address:
        from apps.jobs import compute

        executor = compute.current_executor()
        cluster = getattr(executor, "cluster", None)
        if cluster is None:
            return "local cluster, starts with the first job"
        address = cluster.scheduler_address
    parts = urlsplit(address if "://" in address else f"tcp://{address}")
    with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 8786), TIMEOUT):
        pass
    return parts.scheme or "tcp"
