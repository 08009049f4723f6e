"""The job's side of a live session's receiver process (``apps.core.live.receiver``).

The live kind's body starts the receiver as a child process (reception never runs in the web
process, nor in the job runner's own interpreter: a crash of the detector code, or a kill of
the receiver, cannot take the job runner with it). This module feeds it the configuration,
relays the operator's stop and analysis changes to it (a thread polling the session's row),
and turns what it reports into websocket messages and rows: partial images are published once
per interval for every viewer (the receiver computed them once), progress is written to the
job, the session's state and counters to its row.
"""

from __future__ import annotations

import contextlib
import logging
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import close_old_connections, connection
from django.utils import timezone

from apps.acquisition.models import LiveSession
from apps.acquisition.serializers import session_message
from apps.core.live import pipe
from apps.core.live.session import PARTIAL_INTERVAL
from apps.core.live.stream import StreamInfo
from apps.jobs.dbretry import with_db_retry
from apps.jobs.models import Job
from apps.jobs.progress import running_job
from apps.live.events import partial_message, progress_message, publish
from apps.results.preview import image_bytes

logger = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parent.parent.parent
#: Seconds the receiver has to end after its stdin closed, before it is killed.
RECEIVER_GRACE = 30


@dataclass
class Reception:
    """What the receiver reported: the scan building up (its acquisition, folder and the frames
    recorded so far) and every scan that ended (``scans``: the receiver's ``scan`` messages;
    the building one is missing if the receiver died)."""

    info: StreamInfo | None = None
    folder: str | None = None
    frames: int = 0
    arrived: list[tuple[int, int]] = field(default_factory=list)
    scans: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    returncode: int | None = None

    @property
    def building(self) -> bool:
        """A scan had started that did not report its end."""
        return self.info is not None and (not self.scans or self.scans[-1]["folder"] != self.folder)


def receiver_command() -> list[str]:
    return [sys.executable, "-m", "apps.core.live.receiver"]


def run_receiver(job: Job, session: LiveSession, should_stop: Any) -> Reception:
    """Run the receiver process for ``session`` until its scan ends; ``should_stop()`` is the
    job's cancel check (a cancel stops the reception like the operator's stop)."""
    detector = session.detector
    config = {
        "kind": detector.kind,
        "host": detector.host,
        "data_port": detector.data_port,
        "control_port": detector.control_port,
        "trigger_mode": detector.trigger_mode,
        "nav_shape": list(session.nav_shape),
        "sig_shape": list(detector.sig_shape),
        "analyses": session.analyses,
        "record": session.record_path,
        "continuous": session.continuous,
        "interval": PARTIAL_INTERVAL,
        "timeout": settings.LIVE_STREAM_TIMEOUT,
        "first_timeout": settings.LIVE_FIRST_FRAME_TIMEOUT,
    }
    child = subprocess.Popen(
        receiver_command(), cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    logger.info("live session %s: receiver process %s", job.pk, child.pid)
    assert child.stdin is not None and child.stdout is not None
    relay = Relay(job, session, child.stdin, should_stop)
    reception = Reception()
    try:
        pipe.send(child.stdin, config)
        relay.start()
        _read(job, session, child.stdout, reception)
    except BrokenPipeError:
        pass  # the receiver died at once; its exit code tells
    finally:
        relay.stop()
        reception.returncode = _reap(child)
    return reception


def _read(job: Job, session: LiveSession, stream: Any, reception: Reception) -> None:
    total = session.nav_shape[0] * session.nav_shape[1]
    while True:
        try:
            message = pipe.recv(stream)
        except EOFError:
            return
        kind = message["type"]
        if kind == "started":
            reception.info, reception.folder = message["info"], message["folder"]
            reception.frames, reception.arrived = 0, []
            _session_update(
                session, state=LiveSession.State.RECEIVING, scan=message["scan"], frames=0
            )
        elif kind == "partial":
            reception.frames, reception.arrived = message["frames"], message["arrived"]
            _partial(job, session, message, total)
        elif kind == "scan":
            reception.scans.append(message)
            if session.continuous:
                # the next scan starts building; viewers keep this one as the latest complete
                report = message["report"]
                _session_update(
                    session,
                    scan=message["scan"] + 1,
                    report=report,
                    lost_frames=report["lost_frames"],
                )
        elif kind == "error":
            reception.error = message["error"]


def _partial(job: Job, session: LiveSession, message: dict[str, Any], total: int) -> None:
    done = message["frames"]
    updated = with_db_retry(
        lambda: running_job(job).update(frames_done=done, heartbeat=timezone.now()),
        what=f"job {job.pk}: progress",
    )
    if updated:
        LiveSession.objects.filter(pk=session.pk).update(frames=done)
    publish(progress_message(job.pk, job.kind, done=done, total=total))
    for index, results in enumerate(message["images"]):
        for name, image in results.items():
            publish(
                partial_message(
                    job.pk,
                    job.kind,
                    name=name,
                    shape=image.shape,
                    done=done,
                    total=total,
                    analysis=index,
                    scan=message["scan"],
                ),
                image_bytes(image),
            )


def _session_update(session: LiveSession, **fields: Any) -> None:
    for name, value in fields.items():
        setattr(session, name, value)
    with_db_retry(
        lambda: LiveSession.objects.filter(pk=session.pk).update(**fields),
        what=f"live session {session.job_id}: {', '.join(fields)}",
    )
    publish(session_message(session))


def _reap(child: subprocess.Popen[bytes]) -> int:
    try:
        return child.wait(timeout=RECEIVER_GRACE)
    except subprocess.TimeoutExpired:
        logger.warning("receiver process %s did not end; killing it", child.pid)
        child.kill()
        return child.wait()


class Relay:
    """A thread that hands the operator's stop, a cancel and analysis changes to the receiver,
    polling the session's row every interval (the web process only writes rows)."""

    def __init__(self, job: Job, session: LiveSession, stdin: Any, should_stop: Any) -> None:
        self.job = job
        self.session = session
        self.stdin = stdin
        self.should_stop = should_stop
        self.analyses = [dict(a) for a in session.analyses]
        self.revision = session.revision
        self._done = threading.Event()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name=f"live-relay-{job.pk}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._done.set()
        self._thread.join(timeout=5)
        with contextlib.suppress(OSError):
            self.stdin.close()  # the receiver ends a run it is still in

    def _run(self) -> None:
        try:
            while not self._done.wait(PARTIAL_INTERVAL):
                try:
                    self._poll()
                except (BrokenPipeError, ValueError):
                    return  # the receiver is gone, or its pipe closed
                except Exception:
                    logger.warning("live session %s: relay", self.job.pk, exc_info=True)
                    close_old_connections()
        finally:
            connection.close()

    def _poll(self) -> None:
        row = (
            LiveSession.objects.filter(pk=self.session.pk)
            .values("stop_requested", "revision", "analyses")
            .first()
        )
        if row is None:
            return
        if not self._stopped and (row["stop_requested"] or self.should_stop()):
            self._stopped = True
            pipe.send(self.stdin, {"op": "stop"})
        if row["revision"] != self.revision:
            changes = [
                (i, (a["analysis"], a["params"]))
                for i, a in enumerate(row["analyses"])
                if i >= len(self.analyses) or a != self.analyses[i]
            ]
            self.analyses, self.revision = row["analyses"], row["revision"]
            self.session.analyses, self.session.revision = row["analyses"], row["revision"]
            if changes:
                pipe.send(self.stdin, {"op": "analyses", "changes": changes})
