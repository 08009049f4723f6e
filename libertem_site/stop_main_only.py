"""Run a command so that a stop reaches its main process only: what systemd's ``KillMode=mixed``
does, for process managers that signal a whole process group (honcho).

``python -m libertem_site.stop_main_only celery -A libertem_site worker ...`` starts the command
in a process group of its own and passes SIGTERM and SIGINT on to its main process alone. A
Celery worker then shuts down warm — it takes no new job and waits for the running ones — while
its pool processes, which a signal to the group would kill mid-job, are left to finish. This
process exits with the command's exit status once the command has exited.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from types import FrameType

FORWARDED = (signal.SIGTERM, signal.SIGINT)


def run(command: list[str]) -> int:
    # Its own group: a signal to ours (honcho's stop) does not reach its pool processes.
    child = subprocess.Popen(command, process_group=0)

    def forward(signum: int, _frame: FrameType | None) -> None:
        if child.poll() is None:
            os.kill(child.pid, signum)

    for signum in FORWARDED:
        signal.signal(signum, forward)
    returncode = child.wait()
    # Killed by a signal: exit the same way, so the manager sees how it ended.
    return 128 - returncode if returncode < 0 else returncode


def main() -> None:
    if len(sys.argv) < 2:
        sys.exit("usage: python -m libertem_site.stop_main_only COMMAND [ARG ...]")
    sys.exit(run(sys.argv[1:]))


if __name__ == "__main__":
    main()
