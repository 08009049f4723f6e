"""The process-wide executor job kinds compute with (the access to the dask cluster).

Created on first use: a DaskExecutor connected to ``DASK_SCHEDULER_ADDRESS``, or a LocalCluster
on 127.0.0.1 with ``DASK_LOCAL_WORKERS`` (0: one per core) workers; closed at process exit.
Tests swap in an InlineExecutor with :func:`set_executor`.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import threading

from django.conf import settings

from apps.core.executor import DaskExecutor, Executor

logger = logging.getLogger(__name__)

_executor: Executor | None = None
_lock = threading.Lock()
_stopping = threading.Event()  # close_executor ran: the process is shutting down


def get_executor() -> Executor:
    global _executor
    with _lock:
        if _executor is not None and not executor_connected(_executor, allow_reconnect=True):
            # The client gave up on a lost scheduler: connect anew (it may be back).
            logger.warning("the dask client is closed; connecting again")
            with contextlib.suppress(Exception):
                _executor.close()
            _executor = None
        if _executor is None:
            _executor = _new_executor()
            _stopping.clear()  # a process that uses compute again is not stopping (tests)
            atexit.register(close_executor)
        return _executor


def executor_connected(executor: Executor | None, *, allow_reconnect: bool = False) -> bool:
    """False once a dask executor's client lost its scheduler (True for other executors)."""
    client = getattr(executor, "client", None)
    if client is None:
        return True
    ok = ("running", "connecting") if allow_reconnect else ("running",)
    return client.status in ok


def current_executor() -> Executor | None:
    """The executor if one was created (never starts one)."""
    return _executor


def prepare_executor() -> None:
    """Let an existing executor send its questions to the scheduler while a job is claimed and
    opened (the first job starts one; a job not claimed, none)."""
    executor = current_executor()
    if executor is None:
        return
    try:
        executor.prepare()
    except Exception:  # the run reports a lost scheduler; the claim must not wait for it
        logger.debug("could not prepare the executor", exc_info=True)


def set_executor(executor: Executor | None) -> Executor | None:
    """Replace the executor (None: create from settings on next use); returns the old one."""
    global _executor
    with _lock:
        old, _executor = _executor, executor
        if executor is not None:
            _stopping.clear()
        return old


def executor_stopping() -> bool:
    """True once :func:`close_executor` ran: the process is stopping, and the jobs running
    in it (the embedded default runs them here) end with it."""
    return _stopping.is_set()


def close_executor() -> None:
    _stopping.set()
    old = set_executor(None)
    if old is not None:
        with contextlib.suppress(Exception):
            old.close()


def _new_executor() -> Executor:
    faults = {
        "hung_after": float(settings.DASK_WORKER_HUNG_SECONDS),
        "unrunnable_after": float(settings.JOB_UNRUNNABLE_SECONDS),
    }
    address = settings.DASK_SCHEDULER_ADDRESS
    if address:
        logger.info("connecting to the dask scheduler at %s", address)
        return DaskExecutor(address, **faults)
    limit = {"memory_limit": settings.DASK_WORKER_MEMORY_LIMIT}
    if settings.DATA_NODES:
        names = [str(n) for n in settings.DATA_NODES]
        logger.info("starting a local dask cluster with one worker per node: %s", names)
        return DaskExecutor(None, worker_names=names, cluster_kwargs=limit, **faults)
    workers = settings.DASK_LOCAL_WORKERS or None
    logger.info("starting a local dask cluster (%s workers)", workers or "one per core")
    return DaskExecutor(None, n_workers=workers, cluster_kwargs=limit, **faults)
