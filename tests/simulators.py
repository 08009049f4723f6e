"""LiberTEM-live's detector simulators as real processes (from ``.venv-reference``).

``libertem-live-mib-sim`` replays a Merlin ``.hdr``/``.mib`` acquisition over the Merlin TCP
protocol (data, control and trigger ports); ``libertem-live-dectris-sim`` replays a recorded
DECTRIS zmq stream behind a SIMPLON REST API. Each runs on free ports, is waited for until it
listens, and is stopped (terminated, then killed) when the test is done. Locally without the
reference environment the tests skip; CI requires it (``TEST_REQUIRE_REFERENCE=1``).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import REFERENCE_PYTHON, require_or_skip
from tests.processes import free_port

SIM_BIN = REFERENCE_PYTHON.parent
#: seconds a simulator may take to listen (it imports LiberTEM and compiles numba code)
START_SECONDS = 180


@dataclass
class Simulator:
    process: subprocess.Popen[bytes]
    log: Path
    ports: dict[str, int]

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def kill(self) -> None:
        """Kill the simulator and the processes it started (the DECTRIS API server is one)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)

    def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.kill()
            self.process.wait(timeout=10)
        self.kill()  # what is left of its group


class Simulators:
    """Starts simulators for one test and stops them all afterwards."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.started: list[Simulator] = []

    def merlin(
        self, hdr: Path, *, nav_shape: Sequence[int], dwelltime_us: int | None = None
    ) -> Simulator:
        """``hdr`` replayed once per ``STARTACQUISITION`` + ``SOFTTRIGGER`` on the control port."""
        ports = {"data": free_port(), "control": free_port(), "trigger": free_port()}
        args = [
            str(SIM_BIN / "libertem-live-mib-sim"),
            str(hdr),
            "--host=127.0.0.1",
            f"--data-port={ports['data']}",
            f"--control-port={ports['control']}",
            f"--trigger-port={ports['trigger']}",
            "--wait-trigger",
            "--nav-shape",  # two dimensions: a line scan is one column
            *(str(d) for d in (*nav_shape, 1)[:2]),
        ]
        if dwelltime_us is not None:
            args.append(f"--dwelltime={dwelltime_us}")
        sim = self._start(args, ports, "merlin")
        # the data port listens once the acquisition is loaded; the log says so (a probe
        # connection would race with the test's own for the first STARTACQUISITION)
        self._wait(sim, lambda: "DataSocketServer listening" in sim.output())
        return sim

    def dectris(self, capture: Path, *, dwelltime_us: int | None = None) -> Simulator:
        """The zmq stream recorded in ``capture`` replayed after each ``arm``. Both ports are
        chosen by the simulator (read from its log): no race with other processes for them."""
        args = [str(SIM_BIN / "libertem-live-dectris-sim"), str(capture), "--port=0", "--zmqport=0"]
        if dwelltime_us is not None:
            args.append(f"--dwelltime={dwelltime_us}")
        sim = self._start(args, {}, "dectris")

        def listening() -> bool:
            log = sim.output()
            zmq_port = re.search(r"RustedReplay listening on tcp://[\d.]+:(\d+)", log)
            api_port = re.search(r"API server listening on \('[\d.]+', (\d+)\)", log)
            if zmq_port and api_port:
                sim.ports.update(zmq=int(zmq_port.group(1)), api=int(api_port.group(1)))
            return bool(zmq_port and api_port)

        self._wait(sim, listening)
        return sim

    def _start(self, args: list[str], ports: dict[str, int], name: str) -> Simulator:
        log = self.workdir / f"{name}-sim-{len(self.started)}.log"
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}
        env.update(OMP_NUM_THREADS="1", NUMBA_NUM_THREADS="1")
        with open(log, "wb") as out:
            # a session of its own: stopping it stops the processes it started too
            process = subprocess.Popen(
                args, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )
        sim = Simulator(process, log, ports)
        self.started.append(sim)
        return sim

    def _wait(self, sim: Simulator, ready: object) -> None:
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            if sim.process.poll() is not None:
                raise AssertionError(f"the simulator exited:\n{sim.output()[-3000:]}")
            if ready():  # type: ignore[operator]
                return
            time.sleep(0.3)
        raise AssertionError(f"the simulator did not listen in time:\n{sim.output()[-3000:]}")

    def stop(self) -> None:
        for sim in self.started:
            sim.stop()


@pytest.fixture
def simulators(tmp_path: Path) -> Iterator[Simulators]:
    """LiberTEM-live's simulators as real processes; skips locally without the reference venv."""
    if not (SIM_BIN / "libertem-live-mib-sim").exists():
        require_or_skip(
            "REFERENCE",
            f"{SIM_BIN / 'libertem-live-mib-sim'} is not there; 'make reference-venv' installs "
            "libertem-live",
        )
    sims = Simulators(tmp_path)
    try:
        yield sims
    finally:
        sims.stop()
