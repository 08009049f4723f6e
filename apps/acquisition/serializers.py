"""The live part of a live session's job JSON (``job_json`` adds it as ``"live"``)."""

from __future__ import annotations

from typing import Any

from apps.acquisition.models import LiveSession
from apps.live.events import Message, live_message
from apps.web.apidoc import ID, STRING, array, nullable, obj

LIVE = obj(
    "LiveSession",
    detector=ID,
    detector_name=STRING,
    sig_shape=array({"type": "integer"}, minItems=2, maxItems=2)
    | {"description": "The detector's frame shape [height, width] (the live page's frame)."},
    nav_shape=array({"type": "integer"}, minItems=2, maxItems=2),
    analyses=array(obj(analysis=STRING, params={"type": "object"})),
    revision={"type": "integer", "description": "Changes of the analyses so far."},
    continuous={"type": "boolean"},
    folder=ID,
    name=STRING,
    state={"type": "string", "enum": list(LiveSession.State.values)},
    stop_requested={"type": "boolean"},
    scan={"type": "integer", "description": "Scans completed (continuous mode)."},
    frames={"type": "integer", "description": "Frames received of the scan building up."},
    lost_frames={"type": "integer"},
    report={"type": "object", "description": "The frame ledger's report of the last scan."},
    dataset=nullable(ID) | {"description": "The recording's dataset once registered."},
)


def live_json(session: LiveSession) -> dict[str, Any]:
    registered = session.job.dataset.status == "ready"
    return {
        "detector": session.detector_id,
        "detector_name": session.detector.name,
        "sig_shape": list(session.detector.sig_shape),
        "nav_shape": list(session.nav_shape),
        "analyses": session.analyses,
        "revision": session.revision,
        "continuous": session.continuous,
        "folder": session.folder_id,
        "name": session.name,
        "state": session.state,
        "stop_requested": session.stop_requested,
        "scan": session.scan,
        "frames": session.frames,
        "lost_frames": session.lost_frames,
        "report": session.report,
        "dataset": session.job.dataset_id if registered else None,
    }


def session_message(session: LiveSession) -> Message:
    """The ``live`` websocket message of ``session`` as its row is now."""
    return live_message(
        session.job_id,
        "live",
        state=session.state,
        scan=session.scan,
        frames=session.frames,
        total=session.nav_shape[0] * session.nav_shape[1],
        lost_frames=session.lost_frames,
        analyses=session.analyses,
        revision=session.revision,
    )
