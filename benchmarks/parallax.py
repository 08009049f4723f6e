"""Tilt-corrected bright field: the Core's ``parallax`` against libertem-parallax 0.1.2's
``ParallaxUDF`` (in ``.venv-reference``, ``make reference-venv``) on the same file:
``python benchmarks/parallax.py [--scan 64] [--sig 128] [--runs 5]``.

Writes a float32 ``.npy`` scan once into ``BENCH_DATA`` (default ``.bench-data/``): a bright
disk of ``sig/8 + 0.3`` pixels whose pixels see a smooth image moved by ``d = D u`` (``D`` = 0.43
scan pixels per detector pixel, i.e. defocus 860 nm with 1 nm steps and 0.5 mrad pixels).
Measures, in alternating rounds after a warm-up, ours with the defocus shifts (as the final
result only, and as the portal runs it: the results of every merged partition computed, for
the live image), ours with measured shifts (live), and theirs with the same defocus on their
inline executor and on their default dask context (all cores). Prints one JSON line per
contestant (median seconds, GB/s of the file) and the agreement of the images (ours is their
sum over the disk's pixels divided by the count).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from apps.core.analyses import make_analysis  # noqa: E402
from apps.core.executor import InlineExecutor  # noqa: E402
from apps.core.io import open_dataset  # noqa: E402
from apps.core.parallax import bright_field_pixels  # noqa: E402

REFERENCE_PYTHON = ROOT / ".venv-reference" / "bin" / "python"
PER_PX, STEP_NM, PIXEL_MRAD = 0.43, 1.0, 0.5  # no shift a half pixel: rounding ties


def radius(sig: int) -> float:
    """The disk's radius in pixels: no pixel centre lies on its edge, where the two sides'
    rounding would choose differently."""
    return sig / 8 + 0.3


DEFOCUS_NM = PER_PX * STEP_NM / (PIXEL_MRAD * 1e-3)

THEIRS = """
import json, sys, time
import numpy as np
from libertem.api import Context
from libertem.executor.inline import InlineJobExecutor
from libertem_parallax import ParallaxUDF

path, runs, kind, out = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
ctx = Context(executor=InlineJobExecutor()) if kind == "inline" else Context()
ds = ctx.load("npy", path=path)
step, mrad, defocus_a = {step_a}, {mrad}, {defocus_a}
times = []
for k in range(runs + 1):
    udf = ParallaxUDF.from_parameters(
        shape=tuple(ds.shape), scan_sampling=(step, step), energy=200e3,
        semiangle_cutoff={semiangle}, angular_sampling=(mrad, mrad),
        aberration_coefs={{"C10": -defocus_a}},
    )
    started = time.perf_counter()
    result = ctx.run_udf(dataset=ds, udf=udf)["reconstruction"].data
    times.append(time.perf_counter() - started)
np.save(out, result / len(udf.preprocessed_geometry.bf_flat_inds))
print(json.dumps(times[1:]))
"""


def scan_file(scan: int, sig: int) -> Path:
    folder = Path(os.environ.get("BENCH_DATA", ROOT / ".bench-data"))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"parallax-{scan}x{scan}x{sig}x{sig}-f32.npy"
    if path.exists():
        return path
    rng = np.random.default_rng(0)
    qy, qx = np.meshgrid(np.fft.fftfreq(scan), np.fft.fftfreq(scan), indexing="ij")
    blur = np.exp(-(qy**2 + qx**2) / (2 * 0.1**2))
    image = np.fft.ifft2(np.fft.fft2(rng.normal(size=(scan, scan))) * blur).real
    image /= image.std()
    out = np.lib.format.open_memmap(path, "w+", np.float32, (scan, scan, sig, sig))
    out[:] = 0.01
    pixels, offsets = bright_field_pixels((sig, sig), cy=sig / 2, cx=sig / 2, r=radius(sig))
    flat = out.reshape(scan, scan, sig * sig)
    for pixel, (dy, dx) in zip(pixels, np.rint(offsets * PER_PX).astype(int), strict=True):
        flat[:, :, pixel] = 1 + 0.2 * np.roll(image, (dy, dx), axis=(0, 1))
    out.flush()
    return path


def ours(path: Path, params: dict, live: bool) -> tuple[float, np.ndarray]:
    ds = open_dataset(str(path))
    analysis = make_analysis(
        "parallax", params, nav_shape=ds.nav_shape, sig_shape=ds.sig_shape, dtype=ds.dtype
    )
    # live: as the portal runs it, the results of every merged partition computed
    progress = (lambda done, total, partial: None) if live else None
    started = time.perf_counter()
    run = InlineExecutor().run(ds, analysis, on_progress=progress)
    return time.perf_counter() - started, run.results["image"]


def theirs(path: Path, sig: int, runs: int, kind: str, out: Path) -> list[float]:
    snippet = THEIRS.format(
        step_a=STEP_NM * 10,
        mrad=PIXEL_MRAD,
        defocus_a=DEFOCUS_NM * 10,
        semiangle=radius(sig) * PIXEL_MRAD,
    )
    done = subprocess.run(
        [str(REFERENCE_PYTHON), "-c", snippet, str(path), str(runs), kind, str(out)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scan", type=int, default=64)
    parser.add_argument("--sig", type=int, default=128)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    path = scan_file(args.scan, args.sig)
    centre = args.sig / 2
    disk = {"cx": centre, "cy": centre, "r": radius(args.sig)}
    defocus = {
        "shifts": "defocus",
        **disk,
        "defocus": DEFOCUS_NM,
        "scan_step": STEP_NM,
        "detector_pixel": PIXEL_MRAD,
    }
    variants = {
        "ours defocus (final only)": (defocus, False),
        "ours defocus (live)": (defocus, True),
        "ours measured (live)": ({"shifts": "measured", **disk}, True),
    }
    images = {name: ours(path, *v)[1] for name, v in variants.items()}  # warm-up
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(args.runs):
        for name, variant in variants.items():
            times[name].append(ours(path, *variant)[0])
    out = Path(os.environ.get("BENCH_DATA", ROOT / ".bench-data")) / "parallax-theirs.npy"
    for kind in ("inline", "dask"):
        times[f"libertem-parallax ({kind})"] = theirs(path, args.sig, args.runs, kind, out)
    size = path.stat().st_size
    for name, samples in times.items():
        seconds = statistics.median(samples)
        record = {"contestant": name, "scan": args.scan, "sig": args.sig, "seconds": seconds}
        print(json.dumps({**record, "GBps": size / seconds / 1e9}))
    want = np.load(out)
    for name, image in images.items():
        error = float(np.abs(image - want).max() / np.abs(want).max())
        print(json.dumps({"agreement": name, "max_error_relative": error}))


if __name__ == "__main__":
    main()
