"""Test-wide switches: which tests need real services, a browser, or the shared test data.

Locally such tests skip with a reason; ``.ci/run`` sets ``TEST_REQUIRE_*=1`` so that in CI a
missing service fails the run instead of skipping silently.
"""

from __future__ import annotations

import os
import subprocess
import textwrap
from pathlib import Path

import numpy as np
import pytest

from tests.abtem_simulation import SimulatedScan, simulate

# Fixtures of the portal tests, registered only when pytest-django runs (not for the Core).
PORTAL_PLUGINS = ("tests.portal_fixtures", "tests.jobs.support")
SHARED_TESTDATA = Path(__file__).resolve().parent.parent.parent / "shared" / "testdata"
REPO = Path(__file__).resolve().parent.parent
REFERENCE_PYTHON = REPO / ".venv-reference" / "bin" / "python"


def pytest_configure(config: pytest.Config) -> None:
    # LiberTEM-live's detector simulators as real processes (the Core's and the portal's tests)
    config.pluginmanager.import_plugin("tests.simulators")
    # The portal's fixtures need Django; without pytest-django only the Core's tests can run.
    if config.pluginmanager.hasplugin("django"):
        for plugin in PORTAL_PLUGINS:
            config.pluginmanager.import_plugin(plugin)


def _required(kind: str) -> bool:
    return os.environ.get(f"TEST_REQUIRE_{kind}") == "1"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    on_services = bool(os.environ.get("DATABASE_URL") and os.environ.get("REDIS_URL"))
    for item in items:
        if "services" in item.keywords and not on_services:
            if _required("SERVICES") and not os.environ.get("TEST_DATABASE_URL"):
                raise pytest.UsageError(
                    "TEST_REQUIRE_SERVICES=1 but TEST_DATABASE_URL is not set: the services pass "
                    "of 'make test' cannot run."
                )
            item.add_marker(
                pytest.mark.skip(
                    reason="needs PostgreSQL + Redis; 'make test' runs it in its second pass when "
                    "TEST_DATABASE_URL and TEST_REDIS_URL are set"
                )
            )


def require_or_skip(kind: str, reason: str) -> None:
    """Skip with ``reason``, or fail when CI requires ``kind`` (SERVICES, BROWSER, TESTDATA, NODE,
    REFERENCE)."""
    if _required(kind):
        pytest.fail(f"required in this run (TEST_REQUIRE_{kind}=1): {reason}")
    pytest.skip(reason)


@pytest.fixture
def shared_testdata() -> Path:
    """The folder of real detector files, ../shared/testdata."""
    if not SHARED_TESTDATA.is_dir():
        require_or_skip("TESTDATA", f"{SHARED_TESTDATA} is not there")
    return SHARED_TESTDATA


class Reference:
    """Runs snippets in the reference implementations' own environment (``.venv-reference``,
    ``make reference-venv``: LiberTEM 0.16, LiberTEM-blobfinder; never the project's)."""

    def __init__(self, python: Path, workdir: Path) -> None:
        self.python = python
        self.workdir = workdir
        self._runs = 0

    def run(self, snippet: str, **inputs: np.ndarray) -> dict[str, np.ndarray]:
        """Run ``snippet`` with ``inputs`` (a dict of arrays); it fills the dict ``outputs``."""
        self._runs += 1
        base = self.workdir / f"reference-{self._runs}"
        code, given, taken = (base.with_suffix(s) for s in (".py", ".in.npz", ".out.npz"))
        code.write_text(textwrap.dedent(snippet), encoding="utf-8")
        np.savez(given, **inputs)
        env = {
            k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "DJANGO_SETTINGS_MODULE")
        }
        env.update(OMP_NUM_THREADS="1", NUMBA_NUM_THREADS="2")
        done = subprocess.run(
            [
                str(self.python),
                str(REPO / "references" / "run.py"),
                str(code),
                str(given),
                str(taken),
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=600,
        )
        if done.returncode != 0:
            raise AssertionError(f"the reference snippet failed:\n{done.stderr[-4000:]}")
        with np.load(taken) as stored:
            return {name: stored[name] for name in stored.files}


@pytest.fixture
def reference(tmp_path: Path) -> Reference:
    """The reference implementations (``make reference-venv``); skips locally without them."""
    if not REFERENCE_PYTHON.exists():
        require_or_skip(
            "REFERENCE", f"{REFERENCE_PYTHON} is not there; 'make reference-venv' builds it"
        )
    return Reference(REFERENCE_PYTHON, tmp_path)


@pytest.fixture(scope="session")
def abtem_scan(tmp_path_factory: pytest.TempPathFactory) -> SimulatedScan:
    """A 32 x 32 scan of 48 x 48 frames of a known weak-phase object simulated by abTEM in the
    reference environment (tests/abtem_simulation.py), once per test run; skips locally without
    ``make reference-venv``, required in CI."""
    if not REFERENCE_PYTHON.exists():
        require_or_skip(
            "REFERENCE", f"{REFERENCE_PYTHON} is not there; 'make reference-venv' builds it"
        )
    folder = tmp_path_factory.getbasetemp() / "simulated"
    return simulate(Reference(REFERENCE_PYTHON, tmp_path_factory.mktemp("abtem")), folder)
