"""``make bench-live``: frames per second received and analysed live, ours and LiberTEM-live's,
on the same Merlin replay (issue 24).

    python benchmarks/live.py                # 64 x 64 scan of 256 x 256 12-bit frames
    python benchmarks/live.py --scan 32 --runs 3

Writes a 12-bit (``U16``) Merlin acquisition once into ``BENCH_DATA`` (default
``.bench-data/``), starts LiberTEM-live's simulator on it (``libertem-live-mib-sim --cached
MEM --wait-trigger``: after the first acquisition it sends from memory as fast as the socket
takes it), then receives one acquisition with four live analyses
(bright-field disk, annular ring, centre of mass, sum frame) by the Core
(:func:`apps.core.live.session.receive` in this process) and by LiberTEM-live 0.3.0 (its
``LiveContext`` in the reference venv, the same four as UDFs), each arming the simulator over
its control port (each keeps its data connection between acquisitions, so each contestant's
rounds run in one block). Prints one JSON line per measurement (the median of the rounds) and the
ratio. The simulator, both receivers and the analyses share the machine's cores.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from apps.core.live.merlin import MerlinSource  # noqa: E402
from apps.core.live.session import receive  # noqa: E402

REFERENCE = ROOT / ".venv-reference" / "bin"
SIG = 256
ANALYSES = [
    ("virtual", {"shape": "disk", "cx": 128, "cy": 128, "r": 30}),
    ("virtual", {"shape": "ring", "cx": 128, "cy": 128, "ri": 40, "ro": 100}),
    ("com", {"cx": 128, "cy": 128, "r": 30}),
    ("sum", {}),
]
LIBERTEM_LIVE = """
import json, sys, threading, time
import numpy as np
from libertem.udf.masks import ApplyMasksUDF
from libertem.udf.com import CoMUDF
from libertem.udf.sum import SumUDF
from libertem.masks import circular, ring
from libertem_live.api import LiveContext
from libertem_live.detectors.merlin.control import MerlinControl

data_port, control_port, ny, nx = (int(a) for a in sys.argv[1:5])

def arm():
    with MerlinControl("127.0.0.1", control_port) as control:
        control.cmd("STARTACQUISITION")
        control.cmd("SOFTTRIGGER")

udfs = [
    ApplyMasksUDF(mask_factories=[lambda: circular(128, 128, 256, 256, 30)]),
    ApplyMasksUDF(mask_factories=[lambda: ring(128, 128, 256, 256, 100, 40)]),
    CoMUDF.with_params(cy=128, cx=128, r=30),
    SumUDF(),
]
with LiveContext() as ctx:
    # passive mode: the connection stays open between acquisitions, as ours does
    with ctx.make_connection("merlin").open(
        api_host="127.0.0.1", api_port=control_port, data_host="127.0.0.1", data_port=data_port
    ) as conn:
        for _ in sys.stdin:
            threading.Timer(0.2, arm).start()
            pending = conn.wait_for_acquisition(timeout=120)
            aq = ctx.make_acquisition(conn=conn, nav_shape=(ny, nx), pending_aq=pending)
            t0 = time.perf_counter()
            ctx.run_udf(dataset=aq, udf=udfs)
            secs = time.perf_counter() - t0
            print(json.dumps({"seconds": secs, "frames": ny * nx}), flush=True)
"""


def emit(record: dict[str, Any]) -> None:
    print(json.dumps(record), flush=True)


def write_acquisition(folder: Path, scan: int) -> Path:
    """A ``scan x scan`` 12-bit acquisition of diffraction-like frames (a bright disk, counts
    falling off outside it), as the Merlin software writes ``.mib`` + ``.hdr``."""
    hdr = folder / f"live-{scan}x{scan}-u16.hdr"
    mib = hdr.with_suffix(".mib")
    if mib.exists():
        return hdr
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(24)
    yy, xx = np.indices((SIG, SIG))
    r2 = (yy - 128.0) ** 2 + (xx - 128.0) ** 2
    mean = np.where(r2 <= 30**2, 200.0, 20.0 * np.exp(-r2 / 5000.0))
    header_bytes = 384
    with open(mib, "wb") as f:
        for row in range(scan):
            frames = rng.poisson(mean, size=(scan, SIG, SIG)).clip(0, 4095).astype(">u2")
            for x in range(scan):
                seq = row * scan + x + 1
                head = (
                    f"MQ1,{seq:06d},{header_bytes:05d},01,{SIG:04d},{SIG:04d},U16,   1x1,01,"
                    "2026-12-05 00:00:00.000000,0.001,0,0,0,1.0E+1,5.1E+2,3RX,MQ1A,"
                    "2026-12-05T00:00:00Z,1000ns,12,"
                ).encode()
                f.write(head.ljust(header_bytes, b"\0"))
                f.write(frames[x].tobytes())
    text = (
        "HDR,\t\nCounter Depth (number):\t12\n"
        f"Frames in Acquisition (Number):\t{scan * scan}\nFrames per Trigger (Number):\t{scan}\n"
        "End\t"
    )
    hdr.write_bytes(text.encode().ljust(2048, b" "))
    return hdr


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_simulator(hdr: Path, scan: int, log: Path) -> tuple[subprocess.Popen[bytes], int, int]:
    data, control, trigger = free_port(), free_port(), free_port()
    args = [
        str(REFERENCE / "libertem-live-mib-sim"),
        str(hdr),
        "--host=127.0.0.1",
        f"--data-port={data}",
        f"--control-port={control}",
        f"--trigger-port={trigger}",
        "--wait-trigger",
        "--cached=MEM",
        "--nav-shape",
        str(scan),
        str(scan),
    ]
    with open(log, "wb") as out:
        sim = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 300
    while "DataSocketServer listening" not in log.read_text(errors="replace"):
        if sim.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"the simulator did not start:\n{log.read_text()[-2000:]}")
        time.sleep(0.3)
    return sim, data, control


def ours(source: MerlinSource) -> dict[str, Any]:
    result = receive(source, ANALYSES, keep_open=True)
    assert result.report["state"] == "complete", result.report
    return {"seconds": result.seconds, "frames": result.report["frames_received"]}


class Theirs:
    """LiberTEM-live in the reference venv, one acquisition per line written to it (one
    process, one connection, as ours: the warm-up pays its start)."""

    def __init__(self, data: int, control: int, scan: int, snippet: str | None = None) -> None:
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}
        code = snippet or textwrap.dedent(LIBERTEM_LIVE)
        self.process = subprocess.Popen(
            [str(REFERENCE / "python"), "-c", code, str(data),
             str(control), str(scan), str(scan)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
        )  # fmt: skip

    def run(self) -> dict[str, Any]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write("go\n")
        self.process.stdin.flush()
        while True:
            line = self.process.stdout.readline()
            if not line:
                raise SystemExit("LiberTEM-live ended early (see its output above)")
            if line.startswith("{"):
                return json.loads(line)

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scan", type=int, default=64, help="scan side (default 64)")
    parser.add_argument("--runs", type=int, default=5, help="measured rounds after the warm-up")
    parser.add_argument("--data", default=os.environ.get("BENCH_DATA", str(ROOT / ".bench-data")))
    args = parser.parse_args()
    hdr = write_acquisition(Path(args.data), args.scan)
    sim, data, control = start_simulator(hdr, args.scan, Path(args.data) / "live-sim.log")
    samples: dict[str, list[float]] = {"core": [], "libertem-live": []}
    # The simulator serves one data connection at a time and each receiver keeps its own:
    # each contestant runs its warm-up and rounds in one block.
    source = MerlinSource(
        host="127.0.0.1", data_port=data, control_port=control, nav_shape=(args.scan,) * 2
    )
    try:
        for k in range(args.runs + 1):
            run = ours(source)
            if k:  # the first is the warm-up: fills the simulator's cache, compiles
                samples["core"].append(run["frames"] / run["seconds"])
        source.close()
        time.sleep(1)  # the simulator notices the closed connection
        theirs = Theirs(data, control, args.scan)
        for k in range(args.runs + 1):
            run = theirs.run()
            if k:
                samples["libertem-live"].append(run["frames"] / run["seconds"])
        theirs.close()
    finally:
        sim.terminate()
        sim.wait(timeout=30)
    frame_mb = SIG * SIG * 2 / 1e6
    for name, fps in samples.items():
        median = statistics.median(fps)
        emit(
            {
                "bench": "live",
                "contestant": name,
                "detector": "merlin",
                "frames": args.scan**2,
                "frame": f"{SIG}x{SIG} 12-bit (U16)",
                "analyses": [a for a, _ in ANALYSES],
                "frames_per_second": round(median, 1),
                "MBps": round(median * frame_mb, 1),
                "rounds": [round(x, 1) for x in fps],
            }
        )
    core, ref = (statistics.median(samples[k]) for k in ("core", "libertem-live"))
    emit({"bench": "live", "ratio_core_to_libertem_live": round(core / ref, 2)})


if __name__ == "__main__":
    main()
