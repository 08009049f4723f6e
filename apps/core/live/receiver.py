"""The receiver process of a live session: ``python -m apps.core.live.receiver``.

The live session's job (``apps.live.receiver``) starts this process on the node where jobs run
(near the detector), never in the web process. It reads its configuration from stdin, arms the
detector, receives, records and analyses the scan with :func:`~apps.core.live.session.receive`
and reports through stdout (:mod:`apps.core.live.pipe`):

* ``{"type": "started", "info": StreamInfo}`` once the detector announced the acquisition;
* ``{"type": "partial", "frames", "total", "arrived", "images"}`` every interval: ``arrived``
  the ``(start, stop)`` runs of frames recorded, ``images`` per analysis a dict of its 2-d
  results as float32, computed once here for every viewer;
* ``{"type": "scan", "report", "results", "sidecar", "seconds"}`` when the scan ended (also
  broken off or stopped), with the full results of every analysis.

On stdin, after the configuration, the job sends ``{"op": "stop"}`` (the operator's stop) and
``{"op": "analyses", "changes": [(index, (name, params)), ...]}`` (an analysis added or
changed: it is computed over the recording so far, then continues live). Closing stdin stops
the run too: a job that died leaves no receiver behind.
"""

from __future__ import annotations

import os
import sys
import threading
from typing import IO, Any

import numpy as np

from apps.core.errors import CoreError
from apps.core.io.base import roi_runs
from apps.core.live import pipe
from apps.core.live.dectris import DectrisSource
from apps.core.live.merlin import MerlinSource
from apps.core.live.session import AnalysisSpec, receive
from apps.core.live.stream import DetectorSource, FrameLedger, StreamInfo


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


def run(config: dict[str, Any], commands: Commands, out: IO[bytes]) -> None:
    source = make_source(config)
    ledger: list[FrameLedger] = []

    def changes(current: FrameLedger) -> list[tuple[int, AnalysisSpec]]:
        if not ledger:
            ledger.append(current)
        return commands.take_changes()

    def on_start(info: StreamInfo) -> None:
        pipe.send(out, {"type": "started", "info": info})

    def on_partial(done: int, total: int, results: list[dict[str, np.ndarray]]) -> None:
        arrived = roi_runs(ledger[0].arrived) if ledger else []
        message = {"frames": done, "total": total, "arrived": arrived, "images": images(results)}
        pipe.send(out, {"type": "partial", **message})

    specs = [(a["analysis"], a["params"]) for a in config["analyses"]]
    result = receive(
        source,
        specs,
        record=config["record"],
        on_partial=on_partial,
        interval=config.get("interval", 0.25),
        should_stop=commands.stopped.is_set,
        changes=changes,
        on_start=on_start,
    )
    pipe.send(
        out,
        {
            "type": "scan",
            "info": result.info,
            "report": result.report,
            "results": result.results,
            "analyses": [a.name for a in result.analyses],
            "sidecar": result.recording,
            "seconds": result.seconds,
        },
    )


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
