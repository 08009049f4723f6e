"""The sentence a failed job ends with: what happened, in words a scientist can act on.

The driver catches whatever a job's body raised. A Core error already is such a sentence. The
failures a user meets without any mistake of theirs get one too: the portal stopped while the
job ran (in the embedded default jobs run in the web process, so a restart ends them), the dask
scheduler went away, the connection to it broke, a worker died, the data file vanished. Only
what nobody foresaw stays an "internal error" with its exception, for a bug report; the
traceback is in the server log either way.
"""

from __future__ import annotations

from apps.core.errors import CoreError

# exceptions of dask's and tornado's networking, by name (no import of distributed needed)
_CONNECTION_ERRORS = {"CommClosedError", "StreamClosedError"}

STOPPED = (
    "The portal was stopped or restarted while this job ran, so the job stopped with it; "
    "run it again."
)
SCHEDULER_LOST = (
    "The connection to the dask scheduler was lost while the job ran, so it stopped. "
    "Run it again once the cluster is back."
)
CONNECTION_BROKE = (
    "The connection to the compute cluster broke while the job ran, so it stopped; run it again."
)
WORKER_DIED = (
    "A compute worker died while running this job (often because it ran out of memory), "
    "so it stopped; run it again, perhaps on a smaller scan region."
)


def failure_message(exc: BaseException, *, stopping: bool, scheduler_lost: bool) -> str:
    """The sentence for a job that raised ``exc``; ``stopping``: this process is shutting
    down its executor; ``scheduler_lost``: the dask client lost its scheduler."""
    if stopping:
        return STOPPED
    if scheduler_lost:
        return SCHEDULER_LOST
    if isinstance(exc, CoreError):
        return str(exc)
    if isinstance(exc, FileNotFoundError):
        where = f"{exc.filename} " if exc.filename else ""
        return (
            f"The data file {where}is gone: it was moved or deleted while the job ran. "
            "Put it back (or register the dataset again) and run the job again."
        )
    names = {cls.__name__ for cls in type(exc).__mro__}
    if "KilledWorker" in names:
        return WORKER_DIED
    if names & _CONNECTION_ERRORS or isinstance(exc, ConnectionError):
        return CONNECTION_BROKE
    return f"internal error: {type(exc).__name__}: {exc}"
