"""Writes of live sessions: arming one, stopping it, adding or changing an analysis while it runs.

A session is a job of the kind ``live`` with a ``LiveSession`` row, and a dataset created at
arming with the status ``recording`` (origin ``live``) that the recording becomes when the scan
ends: the job's visibility is the usual one (owner, the groups the dataset is shared with when
the job is shared, staff), so viewers are whoever the operator shared the session with.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from apps.acquisition.detectors import usable_detectors
from apps.acquisition.models import Detector, LiveSession
from apps.acquisition.serializers import session_message
from apps.core.analyses import make_analysis
from apps.core.errors import ParameterError
from apps.core.live.recording import SIDECAR_NAME
from apps.datasets.access import can_change
from apps.datasets.models import DataFolder, Dataset
from apps.datasets.paths import user_folders
from apps.datasets.services import _groups_for
from apps.jobs import queue
from apps.jobs.limits import check_queue_room
from apps.jobs.models import Job
from apps.jobs.quotas import quota_check
from apps.jobs.services import JobEnded, job_cancel
from apps.live.events import publish

logger = logging.getLogger(__name__)

#: Analyses one session runs at most (each costs reception time on the acquisition node).
MAX_ANALYSES = 8
#: The largest scan side a session accepts.
MAX_SCAN_SIDE = 16384
#: The nominal frame dtype parameters are checked with before the detector says its own.
NOMINAL_DTYPE = "uint16"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


def session_create(
    *,
    user: Any,
    detector: Detector,
    nav_shape: Any,
    analyses: Any,
    continuous: Any = False,
    folder: DataFolder | None = None,
    name: Any = None,
    share_with_groups: Any = (),
) -> Job:
    """Arm ``detector`` for a scan of ``nav_shape``: validate, save the job, its session and the
    recording's dataset, and enqueue the job; returns at once.

    ParameterError names the field (``nav_shape``, ``analyses[1].params.ri``, ``folder``,
    ``name``, ``share_with_groups``); PermissionDenied if ``user`` may not operate ``detector``.
    """
    if not usable_detectors(user).filter(pk=detector.pk).exists():
        raise PermissionDenied(f"You may not operate the detector {detector.name}.")
    nav = clean_nav_shape(nav_shape)
    specs = [
        clean_analysis(detector, nav, item, f"analyses[{i}]")
        for i, item in enumerate(_analysis_list(analyses))
    ]
    if not isinstance(continuous, bool):
        raise ParameterError("continuous", f"must be true or false, got {continuous!r:.40}.")
    folder = _recording_folder(user, detector, folder)
    name = _recording_name(name, detector)
    record = Path(folder.path) / name
    if record.exists():
        raise ParameterError("name", f"{record} exists already; choose another name.")
    try:
        groups = _groups_for(user, share_with_groups or ())
    except ValidationError as exc:
        raise ParameterError("share_with_groups", exc.message_dict["groups"][0]) from None
    quota_check(user)
    frames = nav[0] * nav[1]
    with transaction.atomic():
        check_queue_room(user.pk)
        dataset = Dataset.objects.create(
            owner=user,
            name=name,
            format="raw",
            path=str(record / SIDECAR_NAME),
            nav_shape=list(nav),
            sig_shape=list(detector.sig_shape),
            dtype="",
            status=Dataset.Status.RECORDING,
            origin=Dataset.Origin.LIVE,
        )
        dataset.groups.set(groups)
        job = Job.objects.create(
            owner=user,
            dataset=dataset,
            kind=Job.Kind.LIVE,
            frames_total=frames,
            shared=bool(groups),
        )
        LiveSession.objects.create(
            job=job,
            detector=detector,
            nav_shape=list(nav),
            analyses=specs,
            continuous=continuous,
            folder=folder,
            name=name,
            record_path=str(record),
        )
        transaction.on_commit(lambda: queue.enqueue(job.pk))
    return job


def clean_nav_shape(value: Any) -> tuple[int, int]:
    ok = (
        isinstance(value, list)
        and len(value) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
        and all(1 <= v <= MAX_SCAN_SIDE for v in value)
    )
    if not ok:
        raise ParameterError(
            "nav_shape",
            f"must be [ny, nx], two whole numbers from 1 to {MAX_SCAN_SIDE}, got {value!r:.60}.",
        )
    return value[0], value[1]


def _analysis_list(value: Any) -> list[Any]:
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_ANALYSES:
        raise ParameterError(
            "analyses",
            f"must be a list of 1 to {MAX_ANALYSES} analyses "
            '[{"analysis": name, "params": {...}}, ...].',
        )
    return value


def clean_analysis(
    detector: Detector, nav: tuple[int, int], item: Any, where: str
) -> dict[str, Any]:
    """``item`` ({analysis, params}) checked by the analysis's own declaration against the
    detector's frames; ParameterError naming ``where`` and the parameter."""
    if not isinstance(item, dict) or set(item) - {"analysis", "params"} or "analysis" not in item:
        raise ParameterError(where or "params", 'must be {"analysis": name, "params": {...}}.')
    params = item.get("params") or {}
    try:
        built = make_analysis(
            item["analysis"],
            params,
            nav_shape=nav,
            sig_shape=tuple(detector.sig_shape),
            dtype=NOMINAL_DTYPE,
        )
    except ParameterError as exc:
        field = exc.field if exc.field in ("analysis", "params") else f"params.{exc.field}"
        raise ParameterError(f"{where}.{field}" if where else field, exc.message) from None
    if built.passes > 1:
        raise ParameterError(
            f"{where}.analysis" if where else "analysis",
            f"{built.name} needs {built.passes} passes over the frames; a live session makes "
            "one (run it on the recording afterwards).",
        )
    return {"analysis": built.name, "params": dict(params)}


def _recording_folder(user: Any, detector: Detector, folder: DataFolder | None) -> DataFolder:
    """The named folder, else the detector's; the operator must be allowed to use it (the
    recording becomes a dataset of theirs, read from that folder)."""
    folder = folder or detector.folder
    if not user_folders(user).allows(Path(folder.path)):
        raise ParameterError(
            "folder",
            f"you may not use the data folder {folder.path}; name a folder you may use (staff "
            "can open it to your group).",
        )
    return folder


def _recording_name(name: Any, detector: Detector) -> str:
    if name is None or name == "":
        stamp = timezone.now().strftime("%Y%m%d-%H%M%S-%f")
        return f"{detector.name}-{stamp}".replace(" ", "_")[:100]
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ParameterError(
            "name",
            "must be a folder name of 1 to 100 letters, digits, '.', '_' or '-' (not starting "
            f"with '.', '_' or '-'), got {name!r:.60}.",
        )
    return name


def session_stop(*, user: Any, job: Job) -> Job:
    """Ask the session to stop: a running one ends ``stopped`` with what arrived kept and
    registered; a queued one is cancelled. PermissionDenied unless owner or staff; JobEnded if
    it has ended."""
    if not can_change(user, job):
        raise PermissionDenied("Only the session's operator (or staff) can stop it.")
    if job.status == Job.Status.QUEUED:
        job = job_cancel(user=user, job=job)
        if job.status == Job.Status.CANCELLED:
            Dataset.objects.filter(pk=job.dataset_id, status=Dataset.Status.RECORDING).update(
                status=Dataset.Status.ERROR, error="The live session was stopped before it began."
            )
        return job
    if job.is_terminal:
        raise JobEnded(job)
    LiveSession.objects.filter(job=job).update(stop_requested=True)
    logger.info("live session %s: stop requested by %s", job.pk, user)
    job.refresh_from_db()
    return job


def analysis_add(*, user: Any, job: Job, item: Any) -> tuple[int, dict[str, Any]]:
    """Add the analysis ``item`` ({analysis, params}) to the running session; its index and
    the analysis as stored."""
    with transaction.atomic():
        session = _changeable(user, job)
        if len(session.analyses) >= MAX_ANALYSES:
            raise ParameterError("analysis", f"a session runs at most {MAX_ANALYSES} analyses.")
        spec = clean_analysis(session.detector, tuple(session.nav_shape), item, "")
        session.analyses = [*session.analyses, spec]
        session.revision += 1
        session.save(update_fields=["analyses", "revision"])
    return len(session.analyses) - 1, spec


def analysis_change(*, user: Any, job: Job, index: int, params: Any) -> dict[str, Any]:
    """Give analysis ``index`` of the running session new ``params`` (e.g. move a ring)."""
    with transaction.atomic():
        session = _changeable(user, job)
        if not 0 <= index < len(session.analyses):
            raise ParameterError(
                "index", f"the session has analyses 0 to {len(session.analyses) - 1}, not {index}."
            )
        item = {"analysis": session.analyses[index]["analysis"], "params": params}
        spec = clean_analysis(session.detector, tuple(session.nav_shape), item, "")
        analyses = list(session.analyses)
        analyses[index] = spec
        session.analyses = analyses
        session.revision += 1
        session.save(update_fields=["analyses", "revision"])
    return spec


def _changeable(user: Any, job: Job) -> LiveSession:
    if not can_change(user, job):
        raise PermissionDenied("Only the session's operator (or staff) can change its analyses.")
    session = (
        LiveSession.objects.select_for_update(of=("self",))
        .select_related("detector", "job")
        .get(job=job)
    )
    if session.job.is_terminal:
        raise JobEnded(session.job)
    return session


def session_cancel_dataset(job: Job, error: str) -> None:
    """A session that recorded nothing: its dataset says why instead of staying ``recording``."""
    Dataset.objects.filter(pk=job.dataset_id, status=Dataset.Status.RECORDING).update(
        status=Dataset.Status.ERROR, error=error
    )


def session_publish(job_id: int) -> None:
    """Tell the session's viewers its state and analyses as they are now (after commit)."""

    def send() -> None:
        session = LiveSession.objects.select_related("job").filter(job_id=job_id).first()
        if session is not None:
            publish(session_message(session))

    transaction.on_commit(send)
