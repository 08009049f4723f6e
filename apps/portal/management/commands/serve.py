"""``manage.py serve``: the whole portal on 127.0.0.1 in the embedded default.

Daphne serves HTTP and websockets; jobs run in background threads of this process on a dask
LocalCluster started at start-up (or, with ``DASK_SCHEDULER_ADDRESS``, a scheduler connected to in
the background); with ``JOB_RUNNER=celery`` the web process never connects to dask before it
serves. Prints the address and a one-time login
link for the local admin account. Ctrl-C stops everything, the dask cluster included.
"""

from __future__ import annotations

import gc
import logging
import signal
import threading
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.accounts.localadmin import local_admin_ensure
from apps.accounts.services import login_link_create

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = "Run LiberTEM Portal on 127.0.0.1 (Daphne, background jobs, local dask cluster)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument(
            "--host", default="127.0.0.1", help="interface to listen on (default: loopback only)"
        )
        parser.add_argument(
            "--no-login-link",
            action="store_true",
            help="do not create a login link for the local admin",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        from channels.routing import get_default_application
        from daphne.endpoints import build_endpoint_description_strings
        from daphne.server import Server
        from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

        application = get_default_application()  # settings.ASGI_APPLICATION
        _refuse_unmigrated()
        host, port = options["host"], options["port"]
        base = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"  # noqa: S104
        self.stdout.write(f"LiberTEM Portal is starting at {base}/")
        if not options["no_login_link"]:
            key = login_link_create(user=local_admin_ensure())
            self.stdout.write(
                f"Log in as the local admin (link valid once): {base}/login/link/{key}/"
            )
            self.stdout.write(
                "Logged out later? 'python manage.py loginlink --base-url "
                f"{base}' prints a new link."
            )
        self.stdout.write(f"Data roots: {', '.join(str(p) for p in settings.DATA_ROOTS)}")
        self.stdout.write("Press Ctrl-C to stop.")
        if settings.JOB_RUNNER == "thread":
            # Jobs run in this process: connect early so the first image is quick. With Celery
            # the web process never waits for compute (it asks the scheduler only for /healthz
            # and /status/, within a timeout).
            _start_compute()
            from apps.jobs.reaper import start_reaper_thread

            start_reaper_thread()
        server = Server(
            application=ASGIStaticFilesHandler(application),
            endpoints=build_endpoint_description_strings(host=host, port=port),
            signal_handlers=True,
            action_logger=None,
        )
        freeze_start_up_heap()
        try:
            server.run()
        finally:
            self.stdout.write("Stopping: shutting down the compute cluster...")
            _shut_down_compute()
            self.stdout.write("Stopped.")


def freeze_start_up_heap() -> None:
    """Puts every object alive once the portal is up (modules, URL patterns, the ASGI app, the
    dask client) out of the cyclic collector's reach before the first request.

    Otherwise each full collection walks them all again: on the catalogue search that was a
    pause of about 100 ms in one request of ten to twenty (p95 161 ms against 89 ms with the
    collector off, docs/performance.md). Requests' own objects are still collected.
    """
    gc.collect()
    gc.freeze()


def _refuse_unmigrated() -> None:
    # A web process on a database that lags behind its code answers 500 on the pages that
    # need the new tables or columns: it does not start (systemd logs this one line).
    from apps.portal.health import unapplied_migrations

    missing = unapplied_migrations()
    if missing:
        raise CommandError(
            f"The database lacks {len(missing)} migration(s) of this code "
            f"({', '.join(missing[:5])}{', ...' if len(missing) > 5 else ''}): "
            "run 'python manage.py migrate' first (docs/deploy.md, Upgrading)."
        )


def _start_compute() -> None:
    """Start the dask cluster now rather than on the first job, so the first image is quick.

    A remote scheduler is connected to in a background thread: the port opens whatever the
    cluster does (a scheduler that does not answer, a hung worker). A local cluster starts here:
    Ctrl-C in a terminal signals the whole process group, and the worker processes ignore SIGINT
    (inherited while they start), so only this process handles it and shuts them down in order.
    """
    if settings.DASK_SCHEDULER_ADDRESS:
        threading.Thread(target=_connect, name="dask-connect", daemon=True).start()
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        _connect()
    finally:
        signal.signal(signal.SIGINT, previous)


def _connect() -> None:
    from apps.jobs.executor import get_executor

    try:
        get_executor()
    except Exception:  # the first job will report the problem properly
        logger.exception("could not start the compute cluster")


def _shut_down_compute() -> None:
    from apps.jobs.executor import close_executor

    close_executor()
