"""What a job kind is: a body that does the work and a finish hook that records its end.

The driver (``apps.jobs.driver``) owns everything else: the claim, the heartbeat, progress
events, cancellation, database retries and the guarded finish. A kind never writes the job row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from apps.jobs.models import Job
from apps.jobs.progress import JobStopPoll, ProgressReporter
from apps.results.models import Result


class JobRun:
    """What the driver hands a body: the claimed job, its stop check and progress reporters."""

    def __init__(self, job: Job) -> None:
        self.job = job
        self.should_stop = JobStopPoll(job)

    def progress(
        self, *, frame_bytes: int, preview: str | None = None, also: tuple[str, ...] = ()
    ) -> ProgressReporter:
        """The ``on_progress`` callback for the body's engine: ``(done, total[, partial])``
        in frames; ``preview`` names the partial result shown while the job runs, ``also``
        the others sent live with it (the page shows the one selected)."""
        return ProgressReporter(self.job, frame_bytes=frame_bytes, preview=preview, also=also)


@dataclass(frozen=True)
class Outcome:
    """A body's work, as the finish records it on the job row (``payload`` is the kind's;
    ``provenance`` says which code made it, see ``Job.provenance``)."""

    frames: int
    nbytes: int
    partitions: list[dict[str, Any]] = field(default_factory=list)
    payload: Any = None
    provenance: dict[str, Any] = field(default_factory=dict)
    #: no result of the job is stored yet (its first attempt stored no preview): the finish
    #: adds its results without deleting any first
    first_results: bool = False


@dataclass(frozen=True)
class Ending:
    """How a job ends: ``finished`` with the body's outcome, or ``failed``/``cancelled`` (with
    the outcome of a body that had done its work when the cancel won)."""

    status: str
    error: str = ""
    outcome: Outcome | None = None


@dataclass(frozen=True)
class JobKind:
    """``body(run)`` runs the job (raising JobCancelled, CoreError or anything else to end it);
    ``finish(job, ending)`` runs inside the transaction that ends the job, after its row was
    updated, and returns the results to announce (only for ``finished``). ``describe(job)``,
    when a kind has it, gives the fields it adds to the job's JSON (the live session's
    ``live``)."""

    name: str
    body: Callable[[JobRun], Outcome]
    finish: Callable[[Job, Ending], list[Result]]
    describe: Callable[[Job], dict[str, Any]] | None = None
    no_rerun: str = ""


class UnknownJobKind(LookupError):
    """A job's ``kind`` that no module in ``apps.jobs.kinds`` provides."""

    def __init__(self, name: object, known: list[str]) -> None:
        super().__init__(
            f"Job kind {name!r:.40} is unknown; the kinds are {', '.join(sorted(known))}."
        )
