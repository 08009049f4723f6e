"""``honcho start`` that waits longer for its processes to stop (``make serve-prod`` runs it).

honcho 2.0 sends SIGTERM on Ctrl-C and SIGKILL five seconds later (``honcho.manager.KILL_WAIT``,
which no option sets): too short for a Celery worker to finish its running job. This sets that
wait from ``STOP_TIMEOUT`` (seconds, default 600 like a unit's ``TimeoutStopSec`` in
docs/deploy.md) and runs honcho's own command line.
"""

from __future__ import annotations

import os

from honcho import command, manager


def main() -> None:
    manager.KILL_WAIT = int(os.environ.get("STOP_TIMEOUT", "600"))
    command.main()


if __name__ == "__main__":
    main()
