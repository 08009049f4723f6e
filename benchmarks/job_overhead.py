"""A job's fixed cost outside the Core: ``python benchmarks/job_overhead.py [--rounds 40]``.

Runs the portal's own job path in this process, step by step, on the demo dataset, and prints
the median (and p95) of each step:

* ``submit``: ``job_submit`` (validation, the analysis built, the cache key, the quota and
  queue checks, the row) and the hand-off to the runner (a pool thread's queue, or Celery's
  ``send_task`` to Redis: that message is taken off the queue again, no worker runs here);
* ``claim``: the driver's claim of the queued row (in production after the job worker's
  handling of its database connection, as ``apps.jobs.tasks.run_job`` does it: kept while
  ``DB_CONN_MAX_AGE`` allows, 600 s as the Procfile's worker, and checked by its first
  statement);
* ``open``: the body outside the Core's run (the analysis built again, the dataset opened,
  its identity, the provenance record);
* ``progress``: the progress reports the Core's run called (row writes, previews, events);
* ``store``: the guarded finish with the results stored;
* ``notify``: the ``finished`` event published to the job's websocket group;
* ``core``: the Core's run itself (not part of the fixed cost).

The embedded default by default (SQLite in a temporary ``VAR_DIR``, the in-memory channel
layer); the production configuration when ``DATABASE_URL`` and ``REDIS_URL`` are set (its
PostgreSQL database is migrated; Celery's broker and the channel layer on that Redis). The
Core runs in process (``InlineExecutor``) unless ``--executor dask``. Targets (issue 26): the
sum of the fixed steps under 5 ms embedded, under 15 ms in production.
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

STEPS = ("submit", "claim", "open", "progress", "store", "notify")
RING = {"shape": "ring", "cx": 64.0, "cy": 64.0, "ri": 15.0, "ro": 30.0}


def setup_django() -> str:
    """Configure Django for the chosen configuration; its name."""
    production = bool(os.environ.get("DATABASE_URL") and os.environ.get("REDIS_URL"))
    if production:
        os.environ.setdefault("DB_CONN_MAX_AGE", "600")  # as the Procfile's job worker
    else:
        for name in ("DATABASE_URL", "REDIS_URL", "JOB_RUNNER"):
            os.environ.pop(name, None)
    tmp = Path(tempfile.mkdtemp(prefix="bench-overhead-"))
    # the demo's data is 256 MiB: a run must not leave it behind
    atexit.register(shutil.rmtree, tmp, ignore_errors=True)
    os.environ["VAR_DIR"] = str(tmp / "var")
    os.environ["DATA_ROOTS"] = str(tmp / "data")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "libertem_site.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()
    from django.core.management import call_command

    from apps.core.executor import InlineExecutor
    from apps.jobs.executor import set_executor

    set_executor(InlineExecutor())  # the demo's thumbnail jobs start no dask cluster

    call_command("migrate", "--noinput", verbosity=0)
    call_command("make_demo_data", verbosity=0)
    return "production (PostgreSQL + Redis + Celery)" if production else "embedded default"


class Meter:
    """Charges wall time, this thread's CPU time and database queries to the innermost step
    under way (a step inside another, e.g. the progress reports inside the Core's run, is
    taken out of the outer one)."""

    def __init__(self) -> None:
        self.wall: dict[str, float] = defaultdict(float)
        self.cpu: dict[str, float] = defaultdict(float)
        self.queries: dict[str, int] = defaultdict(int)
        self.sql: dict[str, list[str]] = defaultdict(list)
        self._stack: list[str] = []
        self._mark = (time.perf_counter(), time.thread_time())

    def _charge(self) -> None:
        now = (time.perf_counter(), time.thread_time())
        if self._stack:
            self.wall[self._stack[-1]] += now[0] - self._mark[0]
            self.cpu[self._stack[-1]] += now[1] - self._mark[1]
        self._mark = now

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        self._charge()
        self._stack.append(name)
        try:
            yield
        finally:
            self._charge()
            self._stack.pop()

    def wrap(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        """``fn``, its calls charged to ``name``."""

        def measured(*args: Any, **kwargs: Any) -> Any:
            with self.step(name):
                return fn(*args, **kwargs)

        return measured

    def __call__(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        """A database execute wrapper: counts the statement under the step under way."""
        if self._stack:
            self.queries[self._stack[-1]] += 1
            self.sql[self._stack[-1]].append(sql[:200])
        return execute(sql, params, many, context)


def one_job(user: Any, dataset: Any, executor: Any, ring: dict[str, float]) -> Meter:
    """The steps of one job, measured."""
    from django.conf import settings
    from django.db import close_old_connections, connection

    from apps.jobs import driver, queue, services
    from apps.jobs.kinds import job_kind
    from apps.jobs.kinds.base import JobRun
    from apps.jobs.progress import ProgressReporter
    from apps.live.events import finished_message, publish
    from apps.results.serializers import result_json

    meter = Meter()
    production = settings.JOB_RUNNER == "celery"
    handed: list[int] = []
    real_enqueue = queue.enqueue

    def hand_off(job_id: int) -> None:
        handed.append(job_id)
        if queue.settings.JOB_RUNNER == "celery":
            real_enqueue(job_id)  # the message to Redis, as in production

    queue.enqueue = hand_off
    try:
        with connection.execute_wrapper(meter), meter.step("submit"):
            job = services.job_submit(
                user=user, dataset=dataset, analysis="virtual", params=ring, reuse=False
            )
    finally:
        queue.enqueue = real_enqueue
    assert handed == [job.pk], handed

    with connection.execute_wrapper(meter):
        with meter.step("claim"):
            if production:
                close_old_connections()  # as the job worker's task does first
            claimed = driver.job_claim(job.pk)
        assert claimed is not None

        kind = job_kind(claimed.kind)
        real_run, real_report = executor.run, ProgressReporter.__call__
        executor.run = meter.wrap("core", real_run)
        ProgressReporter.__call__ = meter.wrap("progress", real_report)
        try:
            with meter.step("open"):
                outcome = kind.body(JobRun(claimed))
        finally:
            executor.run = real_run
            ProgressReporter.__call__ = real_report

        with meter.step("store"):
            saved = driver._store_finish(claimed, kind, outcome)
        with meter.step("notify"):
            results = [result_json(r) for r in saved]
            publish(
                finished_message(
                    claimed.pk,
                    claimed.kind,
                    done=outcome.frames,
                    total=outcome.frames,
                    results=results,
                )
            )
    return meter


def median_ms(values: list[float]) -> float:
    return round(1000 * statistics.median(values), 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--executor", choices=("inline", "dask"), default="inline")
    parser.add_argument(
        "--sql", action="store_true", help="print the statements of each step of the last job"
    )
    args = parser.parse_args()
    config = setup_django()

    from django.conf import settings
    from django.contrib.auth import get_user_model

    from apps.core.executor import DaskExecutor, InlineExecutor
    from apps.datasets.management.commands.make_demo_data import DEMO_NAMES
    from apps.datasets.models import Dataset
    from apps.jobs.executor import close_executor, set_executor

    executor = InlineExecutor() if args.executor == "inline" else DaskExecutor(None)
    set_executor(executor)
    user, _ = get_user_model().objects.get_or_create(
        username="bench-overhead", defaults={"is_staff": True}
    )
    dataset = Dataset.objects.get(name=DEMO_NAMES["raw"])
    rounds: list[Meter] = []
    try:
        for k in range(args.rounds + 3):
            ring = {**RING, "ro": 24.0 + k % 9}  # a varying shape, as a drag makes
            meter = one_job(user, dataset, executor, ring)
            if k >= 3:  # the first ones warm up caches and compile
                rounds.append(meter)
    finally:
        close_executor()
        if settings.JOB_RUNNER == "celery":
            from celery import current_app

            current_app.control.purge()  # the messages no worker was meant to take
    summary: dict[str, Any] = {"benchmark": "job overhead", "config": config}
    summary["executor"] = args.executor
    summary["rounds"] = len(rounds)
    for name in (*STEPS, "core"):
        summary[f"{name}_ms"] = median_ms([r.wall[name] for r in rounds])
        summary[f"{name}_cpu_ms"] = median_ms([r.cpu[name] for r in rounds])
        summary[f"{name}_queries"] = statistics.median(r.queries[name] for r in rounds)
    fixed = sorted(1000 * sum(r.wall[s] for s in STEPS) for r in rounds)
    summary["fixed_ms"] = round(statistics.median(fixed), 2)
    summary["fixed_p95_ms"] = round(fixed[min(len(fixed) - 1, round(0.95 * (len(fixed) - 1)))], 2)
    summary["fixed_cpu_ms"] = median_ms([sum(r.cpu[s] for s in STEPS) for r in rounds])
    summary["fixed_queries"] = statistics.median(sum(r.queries[s] for s in STEPS) for r in rounds)
    summary["loadavg"] = os.getloadavg()[0]
    if args.sql:
        for name in (*STEPS, "core"):
            for sql in rounds[-1].sql[name]:
                print(f"{name:8} {sql}", file=sys.stderr)
    target = 15.0 if "production" in config else 5.0
    summary["target_ms"] = target
    print(json.dumps(summary))
    verdict = "met" if summary["fixed_ms"] <= target else "NOT met"
    print(
        f"job fixed cost outside the Core, {config}: {summary['fixed_ms']} ms median "
        f"(target < {target:.0f} ms): {verdict}"
    )


if __name__ == "__main__":
    main()
