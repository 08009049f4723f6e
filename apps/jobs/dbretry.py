"""Database statements of the drivers that outlive a lost connection.

PostgreSQL ends a session on a restart, a failover or ``pg_terminate_backend``: the driver's
next statement then fails (``OperationalError``), and every later one on the same connection
too (``InterfaceError: connection already closed``) until the connection is closed.
:func:`with_db_retry` closes it and runs the statement again on a new connection, with backoff,
for up to ``DB_RETRY_SECONDS``: a job outlives a blip of a few seconds and a restarted server.

A statement inside a caller's transaction is never retried here: the transaction died with its
connection, so only the code that opened it can start it again (wrap the whole ``atomic``
block). Retrying is safe for the drivers' statements because each is guarded by the job's
attempt and status: run twice, the second run changes nothing the first did not.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection

logger = logging.getLogger(__name__)

T = TypeVar("T")

FIRST_DELAY = 0.1
MAX_DELAY = 2.0


def with_db_retry(
    statement: Callable[[], T],
    *,
    what: str,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> T:
    """``statement()``, run again on a new connection while the connection is lost.

    ``what`` names the statement in the log (e.g. ``"job 12: progress"``). Gives up, raising
    the last error, once ``DB_RETRY_SECONDS`` have passed.
    """
    deadline = clock() + float(settings.DB_RETRY_SECONDS)
    delay = FIRST_DELAY
    while True:
        try:
            return statement()
        except (OperationalError, InterfaceError) as exc:
            if connection.in_atomic_block or clock() + delay > deadline:
                raise
            logger.warning(
                "%s: the database connection was lost (%s); retrying in %.1f s",
                what,
                _first_line(exc),
                delay,
            )
            discard_connection()
            sleep(delay)
            delay = min(delay * 2, MAX_DELAY)


def discard_connection() -> None:
    """Closes this thread's lost connection: the next statement opens a new one (or takes a
    checked one from the pool)."""
    try:
        connection.close()
    except Exception:  # closing a dead connection may complain; it is gone either way
        logger.debug("closing the lost connection failed", exc_info=True)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"
