"""Run a command so that a stop reaches its main process only: what systemd's ``KillMode=mixed``
does, for process managers that signal a whole process group (honcho).

``python -m libertem_site.stop_main_only [--hold LOCK | --after LOCK] COMMAND ...`` starts the
command in a process group of its own and passes SIGTERM and SIGINT on to its main process alone.
A Celery worker then shuts down warm — it takes no new job and waits for the running ones — while
its pool processes, which a signal to the group would kill mid-job, are left to finish.

The running jobs need the dask scheduler and workers until they end, so those wait for the job
worker: the job worker's line ``--hold``s an exclusive lock on a file for as long as it runs, and
the dask lines pass a stop on only ``--after`` they could take that lock. The command dies with
this process (a SIGKILL to it included), so nothing is left running without a manager. This
process exits with the command's exit status.
"""

from __future__ import annotations

import argparse
import ctypes
import fcntl
import os
import signal
import subprocess
import sys
from pathlib import Path
from types import FrameType

FORWARDED = (signal.SIGTERM, signal.SIGINT)
PR_SET_PDEATHSIG = 1  # linux/prctl.h


def die_with_parent() -> None:
    """In the child before exec: SIGTERM when this process dies (also by SIGKILL)."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def open_lock(path: Path) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    return os.open(path, os.O_RDWR | os.O_CREAT, 0o644)


def run(command: list[str], hold: Path | None = None, after: Path | None = None) -> int:
    held = open_lock(hold) if hold else None
    if held is not None:
        fcntl.flock(held, fcntl.LOCK_EX)
    # Its own group: a signal to ours (honcho's stop) does not reach its pool processes. The
    # command inherits the held lock, which so lasts until the command has exited too.
    child = subprocess.Popen(
        command,
        process_group=0,
        preexec_fn=die_with_parent,
        pass_fds=() if held is None else (held,),
    )

    def forward(signum: int, _frame: FrameType | None) -> None:
        if after is not None:
            waiting = open_lock(after)
            fcntl.flock(waiting, fcntl.LOCK_SH)  # until the job worker has stopped
            os.close(waiting)
        if child.poll() is None:
            os.kill(child.pid, signum)

    for signum in FORWARDED:
        signal.signal(signum, forward)
    returncode = child.wait()
    # Killed by a signal: exit the same way, so the manager sees how it ended.
    return 128 - returncode if returncode < 0 else returncode


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m libertem_site.stop_main_only")
    locks = parser.add_mutually_exclusive_group()
    locks.add_argument("--hold", type=Path, help="lock this file while the command runs")
    locks.add_argument("--after", type=Path, help="pass a stop on once this lock is free")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    if not args.command:
        parser.error("a command is required")
    sys.exit(run(args.command, hold=args.hold, after=args.after))


if __name__ == "__main__":
    main()
