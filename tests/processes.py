"""Helpers of the tests that start real processes: a free port, ``manage.py`` commands."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (now)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def local_cluster(**options: Any) -> Any:
    """A dask LocalCluster of two single-threaded worker processes (with nannies) on 127.0.0.1."""
    from distributed import LocalCluster

    return LocalCluster(
        host="127.0.0.1",
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=":0",
        **options,
    )


def run_manage(
    env: dict[str, str], *args: str, stdin: str = "", timeout: float = 240
) -> subprocess.CompletedProcess[str]:
    """``manage.py args`` in its own process with ``env``; its output captured as text."""
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def manage(env: dict[str, str], *args: str, stdin: str = "") -> str:
    """The standard output of a ``manage.py`` command that must succeed."""
    done = run_manage(env, *args, stdin=stdin)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout
