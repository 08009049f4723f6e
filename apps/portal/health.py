"""Health checks of the services the portal needs: database, channel layer, broker, dask.

Each check answers ``{"ok": bool, "latency_ms": float, "error"?: str}``. Errors name only the
exception type and a fixed sentence, never an address or a credential: ``/healthz`` is public.
``dask_workers`` also lists each worker by its name (a node name) and state, and its error names
the workers that are paused, hung or missing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection

from apps.core import cluster
from apps.jobs.dbretry import discard_connection

logger = logging.getLogger(__name__)

TIMEOUT = 2.0


def health_report() -> dict[str, dict[str, Any]]:
    """Every check, by name."""
    return {
        "database": _timed(_database),
        "channel_layer": _timed(_channel_layer),
        "broker": _timed(_broker),
        **dask_report(),
        "migrations": _timed(_migrations),
    }


class Degraded(Exception):
    """A check that answered, with something wrong to report (the message is public)."""

    def __init__(self, message: str, detail: dict[str, Any]) -> None:
        super().__init__(message)
        self.detail = detail


def _timed(check: Callable[[], str | tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """``check()`` answers its kind, or its kind and details to report."""
    t0 = time.perf_counter()
    try:
        kind = check()
        detail = {} if isinstance(kind, str) else kind[1]
        result: dict[str, Any] = {"ok": True, "kind": kind if isinstance(kind, str) else kind[0]}
        result.update(detail)
    except Degraded as exc:
        result = {"ok": False, "error": str(exc), **exc.detail}
    except Exception as exc:
        logger.warning("health check %s failed", check.__name__, exc_info=True)
        result = {"ok": False, "error": f"{type(exc).__name__}: not reachable"}
    result["latency_ms"] = round((time.perf_counter() - t0) * 1000, 2)
    return result


def _database() -> str:
    """Asks the database on a live connection: one the server ended since it was last used (a
    restart, a failover, an idle-session killer) is replaced once, since the database may well
    answer a new one; only a second failure reports it unreachable."""
    try:
        _select_one()
    except (OperationalError, InterfaceError):
        if connection.in_atomic_block:
            raise
        discard_connection()
        _select_one()
    return connection.vendor


def _select_one() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


_migrated = False  # once all are applied they stay so while this code runs


def unapplied_migrations() -> list[str]:
    """``app.migration`` names the code has and the database has not applied yet."""
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    return [f"{m.app_label}.{m.name}" for m, backwards in plan if not backwards]


def _migrations() -> str:
    global _migrated
    if not _migrated:
        missing = unapplied_migrations()
        if missing:
            raise Degraded(
                f"{len(missing)} unapplied: {', '.join(missing)}; "
                "run 'python manage.py migrate' (docs/deploy.md, Upgrading).",
                {"unapplied": missing},
            )
        _migrated = True
    return "applied"


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


def dask_report() -> dict[str, dict[str, Any]]:
    """The scheduler and its workers, from one question to the scheduler (at most ``TIMEOUT``
    seconds: a hung worker never slows it, the scheduler answers for the workers)."""
    address = dask_address()
    if address is None:
        idle = {"ok": True, "kind": "local cluster, starts with the first job", "latency_ms": 0.0}
        return {"dask_scheduler": idle, "dask_workers": {**idle, "workers": []}}
    answer: dict[str, Any] = {}

    def scheduler() -> str:
        answer.update(cluster.ask_identity(address, timeout=TIMEOUT))
        return urlsplit(address).scheme or "tcp"

    report = {"dask_scheduler": _timed(scheduler)}
    if not answer:
        report["dask_workers"] = {
            "ok": False,
            "error": "unknown: the dask scheduler did not answer",
            "latency_ms": 0.0,
        }
    else:
        report["dask_workers"] = _timed(lambda: _workers(answer))
    return report


def _workers(identity: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    workers = cluster.worker_health(
        identity,
        expected=settings.DASK_EXPECTED_WORKERS,
        hung_after=float(settings.DASK_WORKER_HUNG_SECONDS),
    )
    detail = {"workers": [{"name": w.name, "state": w.state} for w in workers]}
    bad = [w.describe() for w in workers if not w.ok]
    if bad:
        raise Degraded("; ".join(bad), detail)
    if not workers:
        raise Degraded("no dask worker is connected", detail)
    return f"{len(workers)} running", detail


def dask_address() -> str | None:
    """The scheduler's address, None while the embedded local cluster has not started."""
    address = settings.DASK_SCHEDULER_ADDRESS
    if not address:
        from apps.jobs import executor as job_executor

        executor = job_executor.current_executor()
        local = getattr(executor, "cluster", None)
        if local is None:
            return None
        address = local.scheduler_address
    return address if "://" in address else f"tcp://{address}"
