"""The live kind: a live session (``apps.acquisition``). Its body runs the receiver process for the
session's detector (``apps.acquisition.receiver``) and waits for the scan to end; its finish registers
the recording as the session's dataset (origin ``live``) and stores the analyses' results as
the job's results.

How a session ends:

* the scan complete, incomplete (frames lost) or stopped by the operator: the job finishes,
  the recording is registered with its ledger report, the results are stored;
* the stream broke off or the receiver process died: what was recorded is registered all the
  same (lost and missing frames listed in its metadata), and the job fails with a sentence
  saying what happened and where the frames are;
* the detector could not be armed: the job fails, the dataset is marked as an error.
"""

from __future__ import annotations

import logging
import shutil
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from apps.acquisition.models import LiveSession
from apps.acquisition.receiver import Reception, run_receiver
from apps.acquisition.serializers import live_json, session_message
from apps.core.analyses.plugins import BUILTIN
from apps.core.errors import CoreError
from apps.core.live.recording import write_recording_sidecar
from apps.core.live.stream import FrameLedger
from apps.datasets.models import Dataset
from apps.datasets.services import dataset_recorded
from apps.jobs.dbretry import with_db_retry
from apps.jobs.kinds.base import Ending, JobKind, JobRun, Outcome
from apps.jobs.models import Job
from apps.live.events import publish
from apps.results.models import Result
from apps.results.store import results_replace

logger = logging.getLogger(__name__)


def live_body(run: JobRun) -> Outcome:
    job = run.job
    session = with_db_retry(
        lambda: LiveSession.objects.select_related("detector").filter(job_id=job.pk).first(),
        what=f"job {job.pk}: live session",
    )
    if session is None:
        raise CoreError(f"Job {job.pk} is of the kind live but has no live session to run.")
    reception = run_receiver(job, session, run.should_stop)
    scan = _kept_scan(reception)
    if scan is None or (reception.building and not session.continuous):
        _receiver_died(job, session, reception)
    _use_folder(job, scan)
    report = scan["report"]
    last = reception.scans[-1]["report"]
    if reception.building or last["state"] == LiveSession.State.FAILED:
        dataset = _register(job, report)
        why = _why(reception) if reception.building else last["error"]
        raise CoreError(
            f"The detector's stream broke off: {why} The latest scan received "
            f"({report['frames_received']} of {report['frames_expected']} frames) is recorded "
            f"as dataset {dataset}."
        )
    if session.continuous:
        # repeated scans end only when stopped (or broken off, above)
        report = {**report, "state": LiveSession.State.STOPPED}
    results = _named_results(scan["analyses"], scan["results"])
    return Outcome(
        frames=report["frames_received"],
        nbytes=report["frames_received"] * scan["info"].frame_size * scan["info"].dtype.itemsize,
        payload=(results, report),
        provenance={
            **BUILTIN.as_json(),
            "live": {
                "detector": session.detector.name,
                "analyses": session.analyses,
                "scans": len(reception.scans),
                "seconds": scan["seconds"],
            },
        },
    )


def _kept_scan(reception: Reception) -> dict[str, Any] | None:
    """The scan to register: the last one, unless it broke off or was stopped after an
    earlier scan reached its end (continuous mode: the latest complete scan is what is kept;
    the broken one's folder is removed)."""
    scans = reception.scans
    ended = [s for s in scans if s["report"]["state"] in ("complete", "incomplete")]
    if not scans:
        return None
    if ended and (reception.building or ended[-1] is not scans[-1]):
        for dropped in scans[scans.index(ended[-1]) + 1 :]:
            shutil.rmtree(dropped["folder"], ignore_errors=True)
        if reception.building and reception.folder is not None:
            shutil.rmtree(reception.folder, ignore_errors=True)
        return ended[-1]
    return scans[-1]


def _use_folder(job: Job, scan: dict[str, Any]) -> None:
    """Point the session's dataset at the recording of ``scan`` (continuous mode: a scan's
    own folder)."""
    if scan["sidecar"] is not None:
        Dataset.objects.filter(pk=job.dataset_id).update(path=scan["sidecar"])


def _why(reception: Reception) -> str:
    return (
        reception.error
        or f"the receiver process ended unexpectedly (exit code {reception.returncode})"
    )


def _receiver_died(job: Job, session: LiveSession, reception: Reception) -> None:
    """The receiver ended without reporting the scan's end: keep what it recorded."""
    why = _why(reception)
    if reception.info is None or reception.folder is None:
        raise CoreError(f"The detector {session.detector.name} could not be armed: {why}.")
    ledger = FrameLedger(reception.info.n_frames)
    for start, stop in reception.arrived:
        ledger.arrived[start:stop] = True
    report = ledger.report(error=why)
    sidecar = write_recording_sidecar(reception.folder, reception.info, report)
    Dataset.objects.filter(pk=job.dataset_id).update(path=str(sidecar))
    dataset = _register(job, report)
    raise CoreError(
        f"The live session broke off: {why}. The {report['frames_received']} frames reported "
        f"before are recorded as dataset {dataset}."
    )


def _named_results(names: list[str], results: list[dict[str, Any]]) -> dict[str, Any]:
    """One result per analysis and name: ``<index>-<analysis>-<result>`` (e.g.
    ``0-virtual-intensity``), so two analyses of the same kind never collide."""
    return {
        f"{i}-{analysis}-{name}": array
        for i, (analysis, arrays) in enumerate(zip(names, results, strict=True))
        for name, array in arrays.items()
    }


def _register(job: Job, report: dict[str, Any]) -> int:
    """The recording becomes a ready dataset (its own transaction, for a failing job whose
    finish stores nothing); the session records the ledger's report. The dataset's id."""
    with transaction.atomic():
        _register_in(job, report)
    return job.dataset_id


def _register_in(job: Job, report: dict[str, Any]) -> None:
    dataset = Dataset.objects.select_for_update().get(pk=job.dataset_id)
    if dataset.status == Dataset.Status.RECORDING:
        try:
            dataset_recorded(dataset=dataset)
        except ValidationError as exc:
            Dataset.objects.filter(pk=dataset.pk).update(
                status=Dataset.Status.ERROR, error=" ".join(exc.messages)
            )
    session = LiveSession.objects.get(job_id=job.pk)
    session.state = report["state"]
    session.report = report
    session.frames = report["frames_received"]
    session.lost_frames = report["lost_frames"]
    session.save(update_fields=["state", "report", "frames", "lost_frames"])
    transaction.on_commit(lambda: publish(session_message(session)))


def live_finish(job: Job, ending: Ending) -> list[Result]:
    if ending.outcome is not None:
        results, report = ending.outcome.payload
        _register_in(job, report)
        if ending.status == Job.Status.FINISHED:
            return results_replace(job=job, results=results)
        return []
    Dataset.objects.filter(pk=job.dataset_id, status=Dataset.Status.RECORDING).update(
        status=Dataset.Status.ERROR, error=ending.error
    )
    LiveSession.objects.filter(job_id=job.pk).exclude(state__in=_ENDED).update(
        state=LiveSession.State.FAILED
    )
    return []


_ENDED = (LiveSession.State.FAILED, LiveSession.State.STOPPED)

KIND = JobKind(
    name=Job.Kind.LIVE,
    body=live_body,
    finish=live_finish,
    describe=lambda job: {"live": live_json(job.live)},
    no_rerun="a live session is never run again (the detector's frames cannot be received "
    "twice). The frames recorded stay in the session's folder; arm the detector for a new "
    "session.",
)
