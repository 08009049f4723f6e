"""The test harness itself: the Core's tests run without Django, as the fast loop runs them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SETUP_PLAN = ["-p", "no:django", "-p", "no:cacheprovider", "--setup-plan", "-q", "tests/core"]


@pytest.mark.slow
def test_the_core_tests_find_every_fixture_without_django() -> None:
    # --setup-plan resolves every test's fixtures without running them: a Core test (or a
    # project-wide autouse fixture) that needs pytest-django fails here with "fixture not found".
    run = subprocess.run(
        [sys.executable, "-m", "pytest", *SETUP_PLAN],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert " error" not in run.stdout.splitlines()[-1], run.stdout[-3000:]


def test_no_two_test_modules_share_a_name() -> None:
    # The test folders are not packages: pytest imports each module by its file name, so a
    # second test_x.py anywhere stops the whole run at collection ("import file mismatch").
    seen: dict[str, list[str]] = {}
    for path in sorted((ROOT / "tests").rglob("test_*.py")):
        if "node_modules" not in path.parts:
            seen.setdefault(path.name, []).append(str(path.relative_to(ROOT)))
    assert {name: paths for name, paths in seen.items() if len(paths) > 1} == {}
