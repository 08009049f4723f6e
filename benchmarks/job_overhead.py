"""A job's fixed cost outside the Core: ``python benchmarks/job_overhead.py [--rounds 40]``.

Runs the portal's own job path in this process, step by step, on the demo dataset, and prints
the median (and p95) of each step:

* ``submit``: ``job_submit`` (validation, the analysis built, the cache key, the quota and
  queue checks, the row) and the hand-off to the runner (a pool thread's queue, or Celery's
  ``send_task`` to Redis: that message is taken off the queue again, no worker runs here);
* ``claim``: the driver's claim of the queued row;
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
import json
import os
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

STEPS = ("submit", "claim", "open", "progress", "store", "notify")
RING = {"shape": "ring", "cx": 64.0, "cy": 64.0, "ri": 15.0, "ro": 30.0}


def setup_django() -> str:
    """Configure Django for the chosen configuration; its name."""
    production = bool(os.environ.get("DATABASE_URL") and os.environ.get("REDIS_URL"))
    if not production:
        for name in ("DATABASE_URL", "REDIS_URL", "JOB_RUNNER"):
            os.environ.pop(name, None)
    tmp = Path(tempfile.mkdtemp(prefix="bench-overhead-"))
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


class Timed:
    """Wraps ``fn`` so that its seconds add up under ``name`` in ``spent``."""

    def __init__(self, spent: dict[str, float], name: str, fn: Callable[..., Any]) -> None:
        self.spent, self.name, self.fn = spent, name, fn

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return self.fn(*args, **kwargs)
        finally:
            self.spent[self.name] += time.perf_counter() - t0


def one_job(user: Any, dataset: Any, executor: Any, ring: dict[str, float]) -> dict[str, float]:
    """The steps of one job, in seconds."""
    from apps.jobs import driver, queue, services
    from apps.jobs.kinds import job_kind
    from apps.jobs.kinds.base import JobRun
    from apps.jobs.progress import ProgressReporter
    from apps.live.events import finished_message, publish
    from apps.results.serializers import result_json

    spent: dict[str, float] = defaultdict(float)
    handed: list[int] = []
    real_enqueue = queue.enqueue

    def hand_off(job_id: int) -> None:
        handed.append(job_id)
        if queue.settings.JOB_RUNNER == "celery":
            real_enqueue(job_id)  # the message to Redis, as in production

    queue.enqueue = hand_off
    t0 = time.perf_counter()
    try:
        job = services.job_submit(
            user=user, dataset=dataset, analysis="virtual", params=ring, reuse=False
        )
    finally:
        queue.enqueue = real_enqueue
    spent["submit"] = time.perf_counter() - t0
    assert handed == [job.pk], handed

    t0 = time.perf_counter()
    claimed = driver.job_claim(job.pk)
    spent["claim"] = time.perf_counter() - t0
    assert claimed is not None

    kind = job_kind(claimed.kind)
    real_run, real_report = executor.run, ProgressReporter.__call__
    executor.run = Timed(spent, "core", real_run)
    ProgressReporter.__call__ = lambda self, *a, **k: Timed(spent, "progress", real_report)(
        self, *a, **k
    )
    t0 = time.perf_counter()
    try:
        outcome = kind.body(JobRun(claimed))
    finally:
        executor.run = real_run
        ProgressReporter.__call__ = real_report
    body = time.perf_counter() - t0
    spent["core"] -= spent["progress"]  # the reports are called from inside the run
    spent["open"] = body - spent["core"] - spent["progress"]

    t0 = time.perf_counter()
    saved = driver._store_finish(claimed, kind, outcome)
    spent["store"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    results = [result_json(r) for r in saved]
    publish(
        finished_message(
            claimed.pk, claimed.kind, done=outcome.frames, total=outcome.frames, results=results
        )
    )
    spent["notify"] = time.perf_counter() - t0
    return dict(spent)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--executor", choices=("inline", "dask"), default="inline")
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
    rounds = []
    try:
        for k in range(args.rounds + 3):
            ring = {**RING, "ro": 24.0 + k % 9}  # a varying shape, as a drag makes
            steps = one_job(user, dataset, executor, ring)
            if k >= 3:  # the first ones warm up caches and compile
                rounds.append(steps)
    finally:
        close_executor()
        if settings.JOB_RUNNER == "celery":
            from celery import current_app

            current_app.control.purge()  # the messages no worker was meant to take
    summary: dict[str, Any] = {"benchmark": "job overhead", "config": config}
    summary["executor"] = args.executor
    summary["rounds"] = len(rounds)
    for name in (*STEPS, "core"):
        values = sorted(1000 * r.get(name, 0.0) for r in rounds)
        summary[f"{name}_ms"] = round(statistics.median(values), 2)
    fixed = sorted(1000 * sum(r.get(s, 0.0) for s in STEPS) for r in rounds)
    summary["fixed_ms"] = round(statistics.median(fixed), 2)
    summary["fixed_p95_ms"] = round(fixed[min(len(fixed) - 1, round(0.95 * (len(fixed) - 1)))], 2)
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
