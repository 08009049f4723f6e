"""``manage.py analyze``: run one analysis on a data file, offline, and save the results.

    python manage.py analyze data/scan.h5:/entry/data --analysis virtual \
        --param shape=ring --param cx=64 --param cy=64 --param ri=20 --param ro=50 --out ring.npz

Prints one JSON line on stdout; a progress bar goes to stderr (not with ``--quiet``).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.core.analyses import ANALYSES, analysis_origin, make_analysis
from apps.core.errors import CoreError, ParameterError
from apps.core.executor import DaskExecutor, Executor, InlineExecutor
from apps.core.io import open_dataset
from apps.datasets.calibration import calibrated_values
from apps.datasets.paths import node_roots_for
from apps.web.api import JsonNestingError, check_json_depth


def parse_param(text: str) -> tuple[str, Any]:
    """``KEY=VALUE`` with VALUE as JSON, or as a plain string when it is not JSON."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise CommandError(f"--param {text!r}: expected KEY=VALUE, e.g. --param cx=63.5")
    try:
        check_json_depth(value)  # the parser would recurse until Python gives up
        parsed = json.loads(value, parse_constant=lambda c: float(c))
    except JsonNestingError as exc:
        raise CommandError(f"--param {key.strip()}: the value {exc.sentence}") from None
    except json.JSONDecodeError:
        parsed = value
    return key.strip(), parsed


def load_npy(path: str, *, what: str) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise CommandError(f"{what} {path}: cannot read it as an .npy array ({exc}).") from None


def make_executor(spec: str) -> Executor:
    if spec == "inline":
        return InlineExecutor()
    if spec == "local":
        return DaskExecutor(None)
    if spec.startswith(("tcp://", "tls://")):
        return DaskExecutor(spec)
    raise CommandError(f"--executor {spec!r}: expected inline, local or tcp://HOST:PORT.")


class ProgressBar:
    """A one-line progress bar on stderr with frames and throughput."""

    def __init__(self, frame_bytes: int, stream: Any) -> None:
        self.frame_bytes = frame_bytes
        self.stream = stream
        self.started = time.perf_counter()

    def __call__(self, done: int, total: int, _partial: Any = None) -> None:
        frac = done / total if total else 1.0
        secs = max(time.perf_counter() - self.started, 1e-9)
        rate = done * self.frame_bytes / secs / 1e9
        bar = "#" * int(frac * 30)
        self.stream.write(
            f"\r[{bar:<30}] {frac:6.1%}  {done}/{total} frames  {rate:6.2f} GB/s", ending=""
        )
        self.stream.flush()

    def close(self) -> None:
        self.stream.write("")


class Command(BaseCommand):
    help = "Run an analysis on a dataset file and write its results to an .npz file."
    # Offline: no database, no URLs. Django's checks would import every view (0.1-0.2 s of a
    # batch run per file); ``manage.py check`` and ``serve`` still run them.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "path", help="sidecar .json, HDF5 file (optionally file.h5:/path) or .npy"
        )
        parser.add_argument(
            "--analysis", required=True, help=f"one of {', '.join(ANALYSES)} (with plugins)"
        )
        parser.add_argument(
            "--param",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="analysis parameter; VALUE is JSON or a plain word",
        )
        parser.add_argument("--roi", help="boolean .npy of the scan shape")
        parser.add_argument(
            "--executor", default="inline", help="inline, local, or tcp://HOST:PORT"
        )
        parser.add_argument(
            "--partitions",
            type=int,
            help="split the data into this many partitions (a portal job's provenance records "
            "its partitions: the same partitions give the same bits)",
        )
        parser.add_argument("--out", help="output .npz (default: <name>-<analysis>.npz)")
        parser.add_argument("--quiet", action="store_true", help="no progress bar")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            self._run(options)
        except (CoreError, ValueError) as exc:
            raise CommandError(str(exc)) from None

    def _run(self, options: dict[str, Any]) -> None:
        # The operator may read any file; an ingested sidecar finds its partitions on the
        # storage roots of DATA_NODES.
        node_roots = node_roots_for(options["path"])
        dataset = open_dataset(options["path"], node_roots=node_roots)
        params = dict(parse_param(p) for p in options["param"])
        if options["analysis"] == "masks" and isinstance(params.get("masks"), str):
            params["masks"] = load_npy(params["masks"], what="--param masks=")
        analysis = make_analysis(
            options["analysis"],
            self._with_file_calibration(options["analysis"], params, dataset),
            nav_shape=dataset.nav_shape,
            sig_shape=dataset.sig_shape,
            dtype=dataset.dtype,
        )
        roi = self._roi(options["roi"], dataset.nav_shape)
        out = Path(
            options["out"] or f"{Path(dataset.path.split(':/')[0]).stem}-{analysis.name}.npz"
        )
        executor = make_executor(options["executor"])
        bar = None if options["quiet"] else ProgressBar(dataset.frame_bytes, self.stderr)
        count = options.get("partitions")
        if count is not None and count < 1:
            raise CommandError(f"--partitions must be 1 or more, got {count}.")
        parts = (
            None
            if count is None
            else dataset.partitions(count=count, target_bytes=executor.partition_bytes)
        )
        try:
            run = executor.run(dataset, analysis, roi=roi, on_progress=bar, partitions=parts)
        finally:
            if bar is not None:
                bar.close()
            executor.close()
        np.savez(out, **run.results)
        self.stdout.write(
            json.dumps(
                {
                    "analysis": analysis.name,
                    "path": dataset.path,
                    "executor": options["executor"],
                    "seconds": round(run.seconds, 6),
                    "bytes": run.nbytes,
                    # Four significant digits: a slow first run (kernels compiled) on small data is
                    # still a throughput, not 0.0.
                    "GBps": float(f"{run.nbytes / run.seconds / 1e9:.4g}") if run.seconds else None,
                    "results": {name: list(arr.shape) for name, arr in run.results.items()},
                    "out": str(out),
                    "provenance": analysis_origin(analysis.name).as_json(),
                    "partitions": [[int(a), int(b)] for a, b in run.ranges],
                }
            )
        )

    def _with_file_calibration(self, name: str, params: dict[str, Any], dataset: Any) -> Any:
        """``params`` with a scan step or detector pixel size left out taken from the file's own
        calibration (a NeXus file's axes); the beam is given with --param."""
        cls = ANALYSES.get(name)
        if cls is None:
            return params  # make_analysis names the analyses there are
        known = calibrated_values(
            calibration=getattr(dataset, "calibration", []),
            nav_shape=list(dataset.nav_shape),
            sig_shape=list(dataset.sig_shape),
            beam_energy=None,
            convergence_angle=None,
        )
        return cls.declaration.with_calibration(params, known)

    def _roi(self, path: str | None, nav_shape: tuple[int, ...]) -> np.ndarray | None:
        if path is None:
            return None
        roi = load_npy(path, what="--roi")
        if roi.dtype != bool:
            if roi.dtype.kind not in "iu" or not np.isin(roi, (0, 1)).all():
                raise ParameterError("roi", f"{path} must hold booleans (or 0/1), got {roi.dtype}.")
            roi = roi.astype(bool)
        if roi.shape != tuple(nav_shape):
            raise ParameterError(
                "roi",
                f"{path} has shape {list(roi.shape)}, expected the scan shape {list(nav_shape)}.",
            )
        return roi
