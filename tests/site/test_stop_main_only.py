"""``libertem_site.stop_main_only``: a SIGTERM to its process group reaches the command's main
process only (the Procfile's job worker runs behind it, see docs/deploy.md)."""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent

# A main process with a child in its own group (as Celery's pool): on SIGTERM it records
# whether the child is still alive, then stops it and exits 3.
MAIN = """
import os, signal, subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
def stop(signum, frame):
    time.sleep(0.5)  # a SIGTERM to the child too would have ended it by now
    alive = child.poll() is None
    child.kill()
    child.wait()
    open(sys.argv[1], "w").write(f"{signal.Signals(signum).name} child alive={alive}")
    sys.exit(3)
signal.signal(signal.SIGTERM, stop)
open(sys.argv[1], "w").write("ready")
while True:
    time.sleep(0.1)
"""


def wrapped(*command: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "libertem_site.stop_main_only", *command],
        cwd=ROOT,
        start_new_session=True,  # a group of its own, as honcho starts each Procfile line
    )


def wait_for(path: Path, text: str) -> None:
    deadline = time.monotonic() + 30
    while not (path.exists() and path.read_text().startswith(text)):
        assert time.monotonic() < deadline, f"{path} never said {text!r}"
        time.sleep(0.05)


def test_a_stop_of_its_group_reaches_the_main_process_only(tmp_path):
    report = tmp_path / "report"
    process = wrapped(sys.executable, "-c", MAIN, str(report))
    wait_for(report, "ready")
    os.killpg(process.pid, signal.SIGTERM)  # what honcho does
    assert process.wait(timeout=30) == 3
    assert report.read_text() == "SIGTERM child alive=True"


def test_it_exits_as_its_command_did(tmp_path):
    assert wrapped(sys.executable, "-c", "raise SystemExit(7)").wait(timeout=30) == 7
    killed = wrapped(sys.executable, "-c", "import os; os.kill(os.getpid(), 9)")
    assert killed.wait(timeout=30) == 128 + signal.SIGKILL


def test_after_a_lock_it_passes_the_stop_on_once_the_lock_is_free(tmp_path):
    lock, report = tmp_path / "jobs-worker.lock", tmp_path / "report"
    holder = os.open(lock, os.O_RDWR | os.O_CREAT)
    fcntl.flock(holder, fcntl.LOCK_EX)  # the job worker, still finishing its job
    process = wrapped("--after", str(lock), sys.executable, "-c", MAIN, str(report))
    wait_for(report, "ready")
    os.killpg(process.pid, signal.SIGTERM)
    time.sleep(2)
    assert (process.poll(), report.read_text()) == (None, "ready")  # still waiting
    os.close(holder)  # the job worker has exited
    assert process.wait(timeout=30) == 3
    assert report.read_text() == "SIGTERM child alive=True"


def test_its_command_is_stopped_when_it_is_killed(tmp_path):
    report = tmp_path / "report"
    process = wrapped(sys.executable, "-c", MAIN, str(report))
    wait_for(report, "ready")
    process.kill()  # honcho's SIGKILL after STOP_TIMEOUT: no orphan is left running
    wait_for(report, "SIGTERM")
