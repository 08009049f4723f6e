"""A fresh process's start: what Django's setup loads, and the compiled fold from its disk cache.

Batch users run ``manage.py analyze`` once per file: every module Django's setup imports and
every kernel compiled again is paid per file (docs/performance.md, "The first analysis in a
fresh process").
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from apps.jobs.management.commands.analyze import Command

ROOT = Path(__file__).resolve().parents[2]

#: Modules no offline command needs: the ASGI server (daphne's app imported it with Twisted and
#: autobahn), the job queue's client, the OIDC client (the admin imported the sign-in views),
#: and scipy's submodules only some analyses use.
NOT_AT_SETUP = (
    "daphne",
    "twisted",
    "autobahn",
    "celery",
    "kombu",
    "requests",
    "jwt",
    "scipy.ndimage",
    "scipy.fft",
    "numba",
    "distributed",
)


def fresh_python(code: str) -> str:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "libertem_site.settings"}
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip().splitlines()[-1]


def test_django_setup_loads_no_server_queue_or_unused_scipy() -> None:
    code = (
        "import json, sys, django; django.setup(); "
        f"print(json.dumps([m for m in {list(NOT_AT_SETUP)!r} if m in sys.modules]))"
    )
    assert json.loads(fresh_python(code)) == []


def test_analyze_runs_no_system_checks() -> None:
    # The checks import every URL's view (the sign-in views, the OIDC client): not offline.
    assert Command.requires_system_checks == []


def test_a_fresh_process_sums_a_file_without_numba(tmp_path: Path) -> None:
    frames = np.arange(4 * 5 * 6 * 7, dtype=np.float32).reshape(4, 5, 6, 7)
    np.save(tmp_path / "scan.npy", frames)
    code = (
        "import json, sys, django; django.setup(); "
        "from django.core.management import call_command; "
        f"call_command('analyze', {str(tmp_path / 'scan.npy')!r}, '--analysis', 'sum', "
        f"'--quiet', '--out', {str(tmp_path / 'out.npz')!r}); "
        "print(json.dumps(['numba' in sys.modules]))"
    )
    assert json.loads(fresh_python(code)) == [False]
    with np.load(tmp_path / "out.npz") as out:
        np.testing.assert_array_equal(out["sum"], frames.reshape(20, 6, 7).sum(axis=0))
        np.testing.assert_array_equal(out["max"], frames.reshape(20, 6, 7).max(axis=0))


def test_a_warmed_up_process_loads_the_fold_from_the_disk_cache() -> None:
    code = (
        "import json, numpy as np; from apps.core import kernels, fold_jit; kernels.warm_up(); "
        "tile = np.arange(40, dtype=np.float32).reshape(5, 8); tile.flags.writeable = False; "
        "total = np.zeros(8); kernels.fold_frames(tile, total, None, np.zeros(8, np.float32)); "
        "s = fold_jit.fold.stats; "
        "print(json.dumps([sum(s.cache_hits.values()), sum(s.cache_misses.values()), "
        "total.tolist()]))"
    )
    fresh_python(code)  # compiles (or loads) and writes the cache
    hits, misses, total = json.loads(fresh_python(code))
    assert hits >= 1 and misses == 0  # loaded, not compiled again
    np.testing.assert_array_equal(total, np.arange(40).reshape(5, 8).sum(axis=0))


def test_a_celery_job_is_sent_through_the_app_the_settings_name(settings, monkeypatch) -> None:
    from apps.jobs import queue
    from libertem_site.celery import app

    sent: list[tuple[str, tuple[int, ...]]] = []
    monkeypatch.setattr(app, "send_task", lambda name, args: sent.append((name, args)))
    settings.JOB_RUNNER = "celery"
    assert queue.enqueue(123) is None
    assert sent == [(queue.RUN_TASK, (123,))]
