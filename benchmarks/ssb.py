"""SSB ptychography: the portal's Core side by side with ptychography40 0.1.0's ``SSB_UDF``
(LiberTEM 0.16, the reference environment ``.venv-reference``) on the same file:
``python benchmarks/ssb.py [--scan 128] [--sig 256] [--runs 3]`` (``make bench-ssb``).

The data: a uint16 ``.npy`` scan (written once into ``BENCH_DATA``, default ``.bench-data/``)
of a bright-field disk of 32 px radius whose intensity and centre vary over the scan, with
Poisson noise; 300 keV, 20 mrad, 0.625 mrad per pixel, a 0.025 nm step (every frequency of a
128 x 128 scan has its trotters). The Core runs as the portal runs it (the inline executor on
this machine's cores, the image of every merged partition computed for the live view);
ptychography40 runs with LiberTEM's inline executor (its multi-threaded numba loop) and with its
dask executor (one worker per core), float32, each timed as the fastest of ``--runs`` runs after
a warm-up (``--runs 0``: the one run); its best run is the target. Every run of either builds
its masks. Prints one JSON
line per contestant, the ratio, and the largest difference of the two phase images.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from apps.core.analyses import make_analysis, ssb  # noqa: E402
from apps.core.executor import InlineExecutor  # noqa: E402
from apps.core.io import open_dataset  # noqa: E402

REFERENCE_PYTHON = ROOT / ".venv-reference" / "bin" / "python"
RADIUS = 32.0
PARAMS = {
    "beam_energy": 300.0,
    "convergence_angle": 20.0,
    "detector_pixel": 20.0 / RADIUS,
    "scan_step": 0.025,
}

SNIPPET = """
import json, sys, time
import numpy as np
from libertem.api import Context
from ptychography40.reconstruction.common import wavelength
from ptychography40.reconstruction.ssb import SSB_UDF


def main():
    path, executor, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
    params = json.loads(sys.argv[4])
    if executor == "inline":
        ctx = Context.make_with("inline")
    else:
        ctx = Context.make_with("dask", cpus=%(cores)d)
    ds = ctx.load("npy", path=path)
    udf = SSB_UDF(
        lamb=wavelength(params["beam_energy"]), dpix=params["scan_step"] * 1e-9,
        semiconv=params["convergence_angle"] * 1e-3,
        semiconv_pix=params["convergence_angle"] / params["detector_pixel"],
        dtype=np.float32, cy=params["cy"], cx=params["cx"],
    )
    seconds = []
    for _ in range(runs + 1):  # the first run compiles numba's loop (cached on disk after)
        started = time.perf_counter()
        result = ctx.run_udf(dataset=ds, udf=udf)
        seconds.append(time.perf_counter() - started)
    np.save(sys.argv[5], result["phase"].data)
    ctx.close()
    print(json.dumps({"seconds": min(seconds[1:] or seconds), "runs": seconds}))


if __name__ == "__main__":  # dask's workers import this file
    main()
"""


def scan_file(scan: int, sig: int) -> Path:
    folder = Path(os.environ.get("BENCH_DATA", ROOT / ".bench-data"))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"ssb-{scan}x{scan}x{sig}x{sig}-u16.npy"
    if not path.exists():
        rng = np.random.default_rng(0)
        out = np.lib.format.open_memmap(path, "w+", np.uint16, (scan, scan, sig, sig))
        yy, xx = np.indices((sig, sig), dtype=np.float32)
        for row in range(scan):
            cy = sig / 2 + rng.normal(0, 0.5, size=(scan, 1, 1)).astype(np.float32)
            cx = sig / 2 + rng.normal(0, 0.5, size=(scan, 1, 1)).astype(np.float32)
            level = 200 * (1 + 0.1 * rng.standard_normal((scan, 1, 1)).astype(np.float32))
            disk = np.clip(RADIUS + 0.5 - np.hypot(yy - cy, xx - cx), 0, 1)
            out[row] = rng.poisson(level * disk + 1)
        out.flush()
    return path


def ours(path: Path, params: dict, runs: int) -> tuple[float, np.ndarray]:
    ds = open_dataset(str(path))
    analysis = make_analysis(
        "ssb", params, nav_shape=ds.nav_shape, sig_shape=ds.sig_shape, dtype=ds.dtype
    )
    seconds = []
    for _ in range(runs + 1):
        ssb.masks_for.cache_clear()  # every run builds its masks, as ptychography40's does
        started = time.perf_counter()
        # the live view: the image of every merged partition, as the portal shows it
        run = InlineExecutor().run(ds, analysis, on_progress=lambda d, t, p: None)
        seconds.append(time.perf_counter() - started)
    return min(seconds[1:] or seconds), run.results["phase"]


def reference(path: Path, executor: str, params: dict, runs: int) -> tuple[float, np.ndarray]:
    with tempfile.TemporaryDirectory() as folder:
        code, phase = Path(folder) / "ssb.py", Path(folder) / "phase.npy"
        code.write_text(SNIPPET % {"cores": os.cpu_count() or 1}, encoding="utf-8")
        argv = [str(REFERENCE_PYTHON), str(code), str(path), executor, str(runs)]
        done = subprocess.run(
            [*argv, json.dumps(params), str(phase)],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise SystemExit(f"ptychography40 ({executor}) failed:\n{done.stderr[-3000:]}")
        return json.loads(done.stdout.strip().splitlines()[-1])["seconds"], np.load(phase)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scan", type=int, default=128)
    parser.add_argument("--sig", type=int, default=256)
    parser.add_argument("--runs", type=int, default=3, help="timed runs after a warm-up (0: one)")
    parser.add_argument("--executors", default="inline,dask", help="ptychography40's executors")
    parser.add_argument("--skip-reference", action="store_true")
    args = parser.parse_args()
    path = scan_file(args.scan, args.sig)
    nbytes = path.stat().st_size
    params = {**PARAMS, "cy": args.sig / 2, "cx": args.sig / 2}
    shape = [args.scan, args.scan, args.sig, args.sig]
    seconds, phase = ours(path, params, args.runs)
    print(
        json.dumps(
            {
                "contestant": "core",
                "shape": shape,
                "seconds": round(seconds, 3),
                "GBps": round(nbytes / seconds / 1e9, 3),
            }
        )
    )
    if args.skip_reference or not REFERENCE_PYTHON.exists():
        return
    best = None
    for executor in args.executors.split(","):
        theirs, their_phase = reference(path, executor, params, args.runs)
        print(
            json.dumps(
                {
                    "contestant": f"ptychography40-{executor}",
                    "shape": shape,
                    "seconds": round(theirs, 3),
                    "GBps": round(nbytes / theirs / 1e9, 3),
                }
            )
        )
        if best is None or theirs < best[0]:
            best = (theirs, their_phase, executor)
    theirs, their_phase, executor = best
    print(
        json.dumps(
            {
                "ratio": round(theirs / seconds, 2),
                "meaning": f"ptychography40's best ({executor}) seconds / the Core's seconds",
                "max_phase_difference_rad": float(np.abs(phase - their_phase).max()),
            }
        )
    )


if __name__ == "__main__":
    main()
