"""apps.core is the engine: plain Python + numpy that never imports Django."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_it_imports_the_core_without_django() -> None:
    code = (
        "import sys, pkgutil, importlib, apps.core\n"
        "for m in pkgutil.walk_packages(apps.core.__path__, 'apps.core.'):\n"
        "    importlib.import_module(m.name)\n"
        "bad = sorted(n for n in sys.modules if n == 'django' or n.startswith('django.'))\n"
        "print(len([n for n in sys.modules if n.startswith('apps.core.')]), bad)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode == 0, proc.stderr
    count, bad = proc.stdout.split(" ", 1)
    assert int(count) >= 10  # the walk really imported the Core's modules
    assert bad.strip() == "[]"


def test_it_pickles_core_errors_for_the_trip_from_a_worker() -> None:
    import pickle

    from apps.core.errors import DataSetError, JobCancelled, ParameterError

    err = pickle.loads(pickle.dumps(ParameterError("r", "must be greater than 0.")))
    assert (err.field, err.message, str(err)) == (
        "r",
        "must be greater than 0.",
        "r: must be greater than 0.",
    )
    assert str(pickle.loads(pickle.dumps(DataSetError("x.raw: too short")))) == "x.raw: too short"
    assert isinstance(pickle.loads(pickle.dumps(JobCancelled())), JobCancelled)


def test_it_imports_numba_only_when_frames_are_first_summed() -> None:
    # numba takes 0.4 s to import: the web process and the commands must not pay for it.
    code = (
        "import sys, numpy as np\n"
        "from apps.core import kernels, ops, executor\n"
        "before = 'numba' in sys.modules\n"
        "kernels.warm_up()\n"
        "print(before, 'numba' in sys.modules)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["False", "True"]
