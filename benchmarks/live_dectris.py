"""``make bench-live``, DECTRIS part: frames per second received, decompressed and analysed
live, ours and LiberTEM-live's, on the same bitshuffle-LZ4 replay (issue 24).

    python benchmarks/live_dectris.py --scan 64 --runs 5

Writes a ``scan x scan`` series of 192 x 192 uint32 Arina-like frames (a bright disk on a
dim background, Poisson counts), compressed by bitshuffle + LZ4 as a DCU sends them, into a
recorded zmq stream in ``BENCH_DATA``; replays it with ``libertem-live-dectris-sim``; receives
it with four live analyses by the Core (:class:`apps.core.live.dectris.DectrisSource`) and by
LiberTEM-live 0.3.0 (passive mode, the same four as UDFs), each arming over SIMPLON, each
contestant's warm-up first, then their rounds alternating (ours, theirs, ours, ...), each
round on a connection of its own (the zmq stream has one receiver at a time).
"""

from __future__ import annotations

import argparse
import os
import re
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
sys.path.insert(0, str(ROOT / "benchmarks"))

from live import REFERENCE, Theirs, emit  # noqa: E402

from apps.core.live.dectris import DectrisSource  # noqa: E402
from apps.core.live.session import receive  # noqa: E402
from tests.dectris_capture import bslz4_chunks, write_capture  # noqa: E402

SIG = 192
ANALYSES = [
    ("virtual", {"shape": "disk", "cx": 96, "cy": 96, "r": 20}),
    ("virtual", {"shape": "ring", "cx": 96, "cy": 96, "ri": 30, "ro": 80}),
    ("com", {"cx": 96, "cy": 96, "r": 20}),
    ("sum", {}),
]
LIBERTEM_LIVE = """
import json, sys, threading, time, urllib.request
from libertem.udf.masks import ApplyMasksUDF
from libertem.udf.com import CoMUDF
from libertem.udf.sum import SumUDF
from libertem.masks import circular, ring
from libertem_live.api import LiveContext

data_port, api_port, ny, nx = (int(a) for a in sys.argv[1:5])

def arm():
    url = f"http://127.0.0.1:{api_port}/detector/api/1.8.0/command/arm"
    urllib.request.urlopen(urllib.request.Request(url, method="PUT"), timeout=10).read()

udfs = [
    ApplyMasksUDF(mask_factories=[lambda: circular(96, 96, 192, 192, 20)]),
    ApplyMasksUDF(mask_factories=[lambda: ring(96, 96, 192, 192, 80, 30)]),
    CoMUDF.with_params(cy=96, cx=96, r=20),
    SumUDF(),
]
with LiveContext() as ctx:
    for _ in sys.stdin:
        # a connection per round: the stream has one receiver at a time, ours runs between
        with ctx.make_connection("dectris").open(
            api_host="127.0.0.1", api_port=api_port, data_host="127.0.0.1", data_port=data_port
        ) as conn:
            threading.Timer(0.2, arm).start()
            pending = conn.wait_for_acquisition(timeout=120)
            aq = ctx.make_acquisition(conn=conn, nav_shape=(ny, nx), pending_aq=pending)
            t0 = time.perf_counter()
            ctx.run_udf(dataset=aq, udf=udfs)
            secs = time.perf_counter() - t0
        print(json.dumps({"seconds": secs, "frames": ny * nx}), flush=True)
"""


def capture(folder: Path, scan: int) -> Path:
    path = folder / f"live-{scan}x{scan}-bslz4.capture"
    if path.exists():
        return path
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(24)
    yy, xx = np.indices((SIG, SIG))
    r2 = (yy - 96.0) ** 2 + (xx - 96.0) ** 2
    mean = np.where(r2 <= 20**2, 50.0, 0.2 * np.exp(-r2 / 3000.0))
    chunks: list[bytes] = []
    for _ in range(scan):
        frames = rng.poisson(mean, size=(scan, SIG, SIG)).astype("<u4")
        chunks += bslz4_chunks(frames, folder)
    return write_capture(path, chunks, sig_shape=(SIG, SIG), dtype="<u4")


def start_simulator(path: Path, log: Path) -> tuple[subprocess.Popen[bytes], int, int]:
    args = [str(REFERENCE / "libertem-live-dectris-sim"), str(path), "--port=0", "--zmqport=0"]
    with open(log, "wb") as out:
        sim = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 300
    while True:
        text = log.read_text(errors="replace")
        zmq_port = re.search(r"RustedReplay listening on tcp://[\d.]+:(\d+)", text)
        api_port = re.search(r"API server listening on \('[\d.]+', (\d+)\)", text)
        if zmq_port and api_port:
            return sim, int(zmq_port.group(1)), int(api_port.group(1))
        if sim.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"the simulator did not start:\n{text[-2000:]}")
        time.sleep(0.3)


def ours(zmq_port: int, api_port: int, scan: int) -> dict[str, Any]:
    source = DectrisSource(
        host="127.0.0.1", api_port=api_port, zmq_port=zmq_port, nav_shape=(scan, scan)
    )
    result = receive(source, ANALYSES)
    assert result.report["state"] == "complete", result.report
    return {"seconds": result.seconds, "frames": result.report["frames_received"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scan", type=int, default=64, help="scan side (default 64)")
    parser.add_argument("--runs", type=int, default=5, help="measured rounds after the warm-up")
    parser.add_argument("--data", default=os.environ.get("BENCH_DATA", str(ROOT / ".bench-data")))
    args = parser.parse_args()
    path = capture(Path(args.data), args.scan)
    sim, zmq_port, api_port = start_simulator(path, Path(args.data) / "live-dectris-sim.log")
    samples: dict[str, list[float]] = {"core": [], "libertem-live": []}
    theirs = Theirs(zmq_port, api_port, args.scan, textwrap.dedent(LIBERTEM_LIVE))
    try:
        for k in range(args.runs + 1):  # round 0 warms both up
            run = ours(zmq_port, api_port, args.scan)
            if k:
                samples["core"].append(run["frames"] / run["seconds"])
            run = theirs.run()
            if k:
                samples["libertem-live"].append(run["frames"] / run["seconds"])
    finally:
        theirs.close()
        os.killpg(sim.pid, 15)
        sim.wait(timeout=60)
    for name, fps in samples.items():
        median = statistics.median(fps)
        emit(
            {
                "bench": "live",
                "contestant": name,
                "detector": "dectris",
                "frames": args.scan**2,
                "frame": f"{SIG}x{SIG} uint32 bitshuffle-LZ4",
                "analyses": [a for a, _ in ANALYSES],
                "frames_per_second": round(median, 1),
                "rounds": [round(x, 1) for x in fps],
            }
        )
    core, ref = (statistics.median(samples[k]) for k in ("core", "libertem-live"))
    emit(
        {
            "bench": "live",
            "detector": "dectris",
            "ratio_core_to_libertem_live": round(core / ref, 2),
        }
    )


if __name__ == "__main__":
    main()
