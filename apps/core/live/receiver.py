"""The receiver process of a live session: ``python -m apps.core.live.receiver``.

The live session's job (``apps.acquisition.receiver``) starts this process on the node where jobs run
(near the detector), never in the web process. It reads its configuration from stdin, arms the
detector, receives, records and analyses the scan with :func:`~apps.core.live.session.receive`
and reports through stdout (:mod:`apps.core.live.pipe`):

* ``{"type": "started", "info": StreamInfo, "scan", "folder"}`` once the detector announced
  the acquisition;
* ``{"type": "partial", "scan", "frames", "total", "arrived", "images"}`` every interval:
  ``arrived``
  the ``(start, stop)`` runs of frames recorded, ``images`` per analysis a dict of its 2-d
  results as float32, computed once here for every viewer;
* ``{"type": "scan", "scan", "folder", "report", "results", "sidecar", "seconds"}`` when a
  scan ended (also broken off or stopped), with the full results of every analysis.

With ``continuous`` in the configuration it takes scan after scan, each into its own folder
``scan-0000``, ``scan-0001``, ... of the session's folder, until stopped or broken off; only the
latest scan that reached its end stays on disk beside the one building up.

On stdin, after the configuration, the job sends ``{"op": "stop"}`` (the operator's stop) and
``{"op": "analyses", "changes": [(index, (name, params)), ...]}`` (an analysis added or
changed: it is computed over the recording so far, then continues live). Closing stdin stops
the run too: a job that died leaves no receiver behind.
"""

from __future__ import annotations

import os
import shutil
import sys
import threading
from pathlib import Path
from typing import IO, Any

import numpy as np

from apps.core import kernels
from apps.core.errors import CoreError
from apps.core.io.base import roi_runs
from apps.core.live import pipe
from apps.core.live.dectris import DectrisSource
from apps.core.live.merlin import MerlinSource
from apps.core.live.session import AnalysisSpec, LiveRun, build_analyses, receive
from apps.core.live.stream import DetectorSource, FrameBlock, FrameLedger, StreamInfo


def make_source(config: dict[str, Any]) -> DetectorSource:
    """The detector source of ``config``: ``kind`` (merlin, dectris), ``host``, ``data_port``
    (Merlin's data port, DECTRIS's zmq port), ``control_port`` (Merlin's control port or None,
    DECTRIS's SIMPLON API port), ``trigger_mode``, ``nav_shape``, optionally ``timeout``,
    ``first_timeout`` and ``configure`` (DECTRIS: False only arms)."""
    common = {
        "host": config["host"],
        "nav_shape": config["nav_shape"],
        "timeout": config.get("timeout", 10.0),
        "first_timeout": config.get("first_timeout", 60.0),
    }
    if config["kind"] == "merlin":
        return MerlinSource(
            data_port=config["data_port"],
            control_port=config["control_port"],
            trigger=config["trigger_mode"],
            **common,
        )
    return DectrisSource(
        api_port=config["control_port"],
        zmq_port=config["data_port"],
        trigger_mode=config["trigger_mode"],
        configure=config.get("configure", True),
        **common,
    )


class Commands:
    """What the job asked for on stdin, read by a thread of its own."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.stopped = threading.Event()
        self._changes: list[tuple[int, AnalysisSpec]] = []
        self._lock = threading.Lock()
        self._stream = stream
        threading.Thread(target=self._read, name="live-commands", daemon=True).start()

    def _read(self) -> None:
        try:
            while True:
                command = pipe.recv(self._stream)
                if command["op"] == "stop":
                    self.stopped.set()
                elif command["op"] == "analyses":
                    with self._lock:
                        self._changes.extend(command["changes"])
        except EOFError:
            self.stopped.set()  # the job is gone: end the run with what arrived

    def take_changes(self) -> list[tuple[int, AnalysisSpec]]:
        with self._lock:
            taken, self._changes = self._changes, []
        return taken


def images(results: list[dict[str, np.ndarray]]) -> list[dict[str, np.ndarray]]:
    """Per analysis, its 2-d results as float32: what viewers display."""
    return [
        {name: np.asarray(a, dtype=np.float32) for name, a in r.items() if np.ndim(a) == 2}
        for r in results
    ]


def warm_up(specs: list[AnalysisSpec], config: dict[str, Any]) -> None:
    """Load (or compile) the analyses' kernels before the detector is armed: a fresh process
    otherwise spends its first seconds on them while the frames pile up, and the first images
    come late and in a burst."""
    kernels.warm_up()
    sig = config.get("sig_shape")
    if not sig:
        return
    info = StreamInfo(
        detector="warm-up", nav_shape=(1,), sig_shape=tuple(sig), dtype=np.dtype("<u2")
    )
    frames = np.zeros((1, info.frame_size), dtype=info.dtype)
    LiveRun(build_analyses(specs, info), info).feed(FrameBlock(0, frames))


def scan_folder(record: str, scan: int, continuous: bool) -> str:
    """Where scan ``scan`` is recorded: the session's folder, or in continuous mode a folder
    ``scan-0000``, ``scan-0001``, ... inside it."""
    return str(Path(record) / f"scan-{scan:04d}") if continuous else record


def run(config: dict[str, Any], commands: Commands, out: IO[bytes]) -> None:
    """One scan, or in continuous mode scans until stopped or broken off. In continuous mode
    only the latest scan that reached its end is kept on disk (and the one building up)."""
    specs: list[AnalysisSpec] = [(a["analysis"], a["params"]) for a in config["analyses"]]
    continuous = bool(config.get("continuous"))
    warm_up(specs, config)
    # one source for every scan: a detector's data connection is meant to stay open
    source = make_source(config)
    kept: str | None = None
    scan = 0
    try:
        while True:
            folder = scan_folder(config["record"], scan, continuous)
            report = receive_scan(config, source, specs, scan, folder, commands, out)
            ended = report["state"] in ("complete", "incomplete")
            if continuous and ended:
                if kept is not None:
                    shutil.rmtree(kept, ignore_errors=True)
                kept = folder
            if not (continuous and ended) or commands.stopped.is_set():
                return
            scan += 1
    finally:
        source.close()


def receive_scan(
    config: dict[str, Any],
    source: DetectorSource,
    specs: list[AnalysisSpec],
    scan: int,
    folder: str,
    commands: Commands,
    out: IO[bytes],
) -> dict[str, Any]:
    """Receive scan number ``scan`` into ``folder``; ``specs`` follows the job's changes (the
    next scan runs the analyses as they are then). The ledger's report."""
    ledger: list[FrameLedger] = []

    def changes(current: FrameLedger) -> list[tuple[int, AnalysisSpec]]:
        if not ledger:
            ledger.append(current)
        taken = commands.take_changes()
        for index, spec in taken:
            specs[index : index + 1] = [spec]
        return taken

    def on_start(info: StreamInfo) -> None:
        pipe.send(out, {"type": "started", "info": info, "scan": scan, "folder": folder})

    def on_partial(done: int, total: int, results: list[dict[str, np.ndarray]]) -> None:
        arrived = roi_runs(ledger[0].arrived) if ledger else []
        message = {"frames": done, "total": total, "arrived": arrived, "images": images(results)}
        pipe.send(out, {"type": "partial", "scan": scan, **message})

    result = receive(
        source,
        list(specs),
        record=folder,
        on_partial=on_partial,
        interval=config.get("interval", 0.25),
        should_stop=commands.stopped.is_set,
        changes=changes,
        on_start=on_start,
        keep_open=bool(config.get("continuous")),
    )
    pipe.send(
        out,
        {
            "type": "scan",
            "scan": scan,
            "folder": folder,
            "info": result.info,
            "report": result.report,
            "results": result.results,
            "analyses": [a.name for a in result.analyses],
            "sidecar": result.recording,
            "seconds": result.seconds,
        },
    )
    return result.report


def main() -> int:
    # stdout carries the messages only: anything else printed goes to stderr.
    out = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    stdin = sys.stdin.buffer
    config = pipe.recv(stdin)
    try:
        run(config, Commands(stdin), out)
    except CoreError as exc:
        pipe.send(out, {"type": "error", "error": str(exc)})
        return 1
    finally:
        out.close()
    return 0


if __name__ == "__main__":
    code = main()
    sys.stderr.flush()
    # Not sys.exit: the command thread may be blocked reading stdin, and an interpreter
    # shutting down aborts on a buffered reader another thread holds.
    os._exit(code)
