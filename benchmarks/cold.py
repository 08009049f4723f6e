"""``make bench-cold``: float32 raw files read from disk, not from the page cache.

    python benchmarks/cold.py                    # 1, 4 and 16 GiB files, 3 rounds each
    python benchmarks/cold.py --sizes 1,4 --runs 5
    BENCH_DATA=/fast/disk python benchmarks/cold.py

Before every run, every file of the benchmark is evicted from the page cache
(``apps.core.io.pagecache.evict``: ``fsync`` and ``POSIX_FADV_DONTNEED``, in this process and
in the Core's workers, whose memory maps would otherwise keep their pages), and the share of
the file still cached is checked and reported (``cached_before``). Contestants, each run once
per round in a shuffled order (a warm-up round first, on the smallest file):

* ``limit-buffered``: sequential 16 MiB ``read`` calls into a page-aligned buffer (``dd``-like);
* ``limit-direct`` / ``limit-direct-2``: sequential 32 MiB ``O_DIRECT`` reads into page-aligned
  buffers, one at a time / two in flight (two threads);
* ``core-inline`` / ``core-dask``: the Core's ``sum`` (cold partitions read by
  ``apps.core.io.direct``), and ``core-inline-map``: the same with ``CORE_DIRECT_READS=0``
  (through the memory map, as before);
* ``libertem-inline`` / ``libertem-inline-direct``: LiberTEM 0.16's ``SumUDF`` with its default
  (memory-mapped) I/O backend and with its ``DirectBackend``.

Then the same ``sum`` warm (page-cached, not evicted) by ``core-inline`` and
``core-inline-map``, to show the warm path did not get slower. Files of more than 8 GiB are
deleted at the end unless ``--keep``. Prints one JSON line per measurement and the targets:
ours >= 0.9 of the fastest limit, the seconds per GiB of every size within 10 % of the
smallest's (linear cost), ours against LiberTEM's best cold. See docs/performance.md.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(1, str(HERE.parent))

from run import ROOT, MemoryWatch, Worker, clean_env, emit, libertem_python, log  # noqa: E402

from apps.core.io import pagecache  # noqa: E402
from apps.core.io.raw import write_sidecar  # noqa: E402
from apps.core.ops import aligned_empty  # noqa: E402

SIG = 256
GIB = 2**30
#: Files larger than this are deleted after the benchmark unless ``--keep`` (disk space).
KEEP_AT_MOST = 8 * GIB
#: Runs of each contestant in the warm rounds (at least; more if ``--runs`` asks for more).
WARM_RUNS = 11


def make_file(folder: Path, gib: int) -> tuple[Path, Path]:
    """A float32 raw file of ``gib`` GiB (frames of 256 x 256, a scan of 64 * gib x 64) and
    its sidecar; the frames repeat one 64 MiB block of random numbers (the content does not
    change a read's speed)."""
    raw = folder / f"cold-f32-{gib}g.raw"
    sidecar = raw.with_suffix(".json")
    if not raw.exists() or raw.stat().st_size != gib * GIB:
        log(f"writing {raw} ({gib} GiB) ...")
        block = np.random.default_rng(gib).random(16 * 2**20, dtype=np.float32)
        tmp = raw.with_name(raw.name + ".tmp")
        with open(tmp, "wb") as f:
            for _ in range(gib * GIB // block.nbytes):
                f.write(block.data)
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(raw)
    write_sidecar(
        sidecar,
        {
            "path": raw.name,
            "nav_shape": [64 * gib, 64],
            "sig_shape": [SIG, SIG],
            "dtype": "float32",
        },
    )
    return raw, sidecar


def read_limit(path: Path, direct: bool, threads: int = 1) -> dict[str, Any]:
    """Seconds to read ``path`` start to end: 16 MiB buffered reads on one thread, or 32 MiB
    ``O_DIRECT`` reads on ``threads`` threads (block ``i`` by thread ``i mod threads``: that
    many reads in flight), into page-aligned buffers."""
    block = (32 if direct else 16) * 2**20
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECT if direct else 0))
    size = os.fstat(fd).st_size

    def lane(first: int) -> None:
        buf = memoryview(aligned_empty((block,), np.dtype(np.uint8)))
        for at in range(first * block, size, threads * block):
            os.preadv(fd, [buf], at)

    started = time.perf_counter()
    try:
        lanes = [threading.Thread(target=lane, args=(i,)) for i in range(threads)]
        for t in lanes:
            t.start()
        for t in lanes:
            t.join()
    finally:
        os.close(fd)
    return {"seconds": time.perf_counter() - started, "bytes": size}


class ColdBench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.data = Path(args.data)
        self.env, _removed = clean_env()
        self.memory = MemoryWatch()
        self.workers: dict[str, Worker] = {}
        self.results: dict[tuple[str, int, str], dict[str, Any]] = {}
        self.files: list[Path] = []

    def start(self) -> None:
        python, core = sys.executable, str(HERE / "workers" / "core_worker.py")
        self.workers["core-inline"] = Worker(
            "core-inline", [python, core, "--executor", "inline"], self.env, self.memory
        )
        self.workers["core-inline-map"] = Worker(
            "core-inline-map",
            [python, core, "--executor", "inline"],
            {**self.env, "CORE_DIRECT_READS": "0"},
            self.memory,
        )
        if not self.args.skip_dask:
            self.workers["core-dask"] = Worker(
                "core-dask", [python, core, "--executor", "dask"], self.env, self.memory
            )
        if not self.args.skip_libertem:
            lt_python = libertem_python(self.data, self.env)
            lt = str(HERE / "workers" / "libertem_worker.py")
            self.workers["libertem-inline"] = Worker(
                "libertem-inline", [lt_python, lt, "--executor", "inline"], self.env, self.memory
            )
        for name, w in self.workers.items():
            emit({"setup": "contestant", "contestant": name, **w.ready})

    def evict(self) -> float:
        """Every benchmark file out of the page cache; the largest share still cached after."""
        paths = [str(p) for p in self.files]
        pagecache.evict(paths)
        for name, w in self.workers.items():
            if name.startswith("core-"):
                out = w.ask({"op": "evict", "paths": paths})
                if "error" in out:
                    raise RuntimeError(f"{name}: {out['error']}")
        return max(pagecache.file_cached_fraction(p) for p in paths)

    def jobs(self, raw: Path, sidecar: Path, gib: int, analysis: str) -> list[tuple[str, Any]]:
        spec = {
            "format": "raw",
            "path": str(raw),
            "nav_shape": [64 * gib, 64],
            "sig_shape": [SIG, SIG],
            "dtype": "float32",
        }
        run = {"op": "run", "path": str(sidecar), "analysis": analysis, "params": {}}
        out: list[tuple[str, Any]] = [
            ("limit-buffered", lambda: read_limit(raw, direct=False)),
            ("limit-direct", lambda: read_limit(raw, direct=True)),
            ("limit-direct-2", lambda: read_limit(raw, direct=True, threads=2)),
        ]
        for name in ("core-inline", "core-inline-map", "core-dask"):
            if name in self.workers:
                out.append((name, lambda w=self.workers[name]: w.ask(run)))
        lt = self.workers.get("libertem-inline")
        if lt is not None:
            for backend, label in ((None, "libertem-inline"), ("direct", "libertem-inline-direct")):
                cmd = {"ds": {**spec, "io_backend": backend}, "analysis": analysis}
                out.append((label, lambda c=cmd: lt.ask(c)))
        return out

    def rounds(
        self, gib: int, what: str, jobs: list[tuple[str, Any]], *, cold: bool, runs: int = 0
    ) -> None:
        samples: dict[str, list[dict[str, Any]]] = {name: [] for name, _ in jobs}
        warm_up = not self.results  # the first measurement: JIT caches, LiberTEM's context
        for r in range(max(runs, self.args.runs) + int(warm_up or not cold)):
            order = list(range(len(jobs)))
            random.Random(r + gib).shuffle(order)
            for i in order:
                name, call = jobs[i]
                cached = self.evict() if cold else None
                out = call()
                if cached is not None:
                    out["cached_before"] = cached
                if r > 0 or not (warm_up or not cold) or "error" in out:
                    samples[name].append(out)
        for name, got in samples.items():
            self.record(name, gib, what, got)

    def record(self, name: str, gib: int, what: str, got: list[dict[str, Any]]) -> None:
        rec: dict[str, Any] = {"contestant": name, "gib": gib, "what": what}
        errors = [s["error"] for s in got if "error" in s]
        if errors or not got:
            rec["error"] = errors[0] if errors else "no runs"
        else:
            seconds = [s["seconds"] for s in got]
            med = statistics.median(seconds)
            rec.update(
                seconds=round(med, 4),
                runs=len(seconds),
                min_s=round(min(seconds), 4),
                max_s=round(max(seconds), 4),
                GBps=round(got[0]["bytes"] / med / 1e9, 3),
                GBps_range=[
                    round(got[0]["bytes"] / max(seconds) / 1e9, 3),
                    round(got[0]["bytes"] / min(seconds) / 1e9, 3),
                ],
                s_per_GiB=round(med / (got[0]["bytes"] / GIB), 4),
            )
            if "cached_before" in got[0]:
                rec["cached_before_max"] = round(max(s["cached_before"] for s in got), 4)
        self.results[(name, gib, what)] = rec
        emit(rec)

    def run(self) -> None:
        self.data.mkdir(parents=True, exist_ok=True)
        sizes = sorted(int(s) for s in self.args.sizes.split(","))
        made = [make_file(self.data, gib) for gib in sizes]
        self.files = [raw for raw, _sidecar in made]
        self.start()
        try:
            for gib, (raw, sidecar) in zip(sizes, made, strict=True):
                self.rounds(gib, "sum cold", self.jobs(raw, sidecar, gib, "sum"), cold=True)
            raw, sidecar = made[0]
            warm = [
                (n, c)
                for n, c in self.jobs(raw, sidecar, sizes[0], "sum")
                if n in ("core-inline", "core-inline-map")
            ]
            # a warm 1 GiB sum takes 30 ms, and three such runs swing by a sixth
            self.rounds(sizes[0], "sum warm", warm, cold=False, runs=WARM_RUNS)
        finally:
            for w in self.workers.values():
                w.close()
            if not self.args.keep:
                for raw, sidecar in made:
                    if raw.stat().st_size > KEEP_AT_MOST:
                        log(f"deleting {raw}")
                        raw.unlink()
                        sidecar.unlink(missing_ok=True)
        for name in self.memory.roots:
            emit({"memory": name, **self.memory.report(name)})
        self.targets(sizes)

    def gbps(self, name: str, gib: int, what: str = "sum cold") -> float | None:
        return self.results.get((name, gib, what), {}).get("GBps")

    def targets(self, sizes: list[int]) -> None:
        print("\n| target | needed | measured | met |\n|---|---|---|---|")
        core = ("core-inline", "core-dask")
        first_cost = None
        for gib in sizes:
            ours = max((self.gbps(c, gib) or 0.0) for c in core)
            limit = max(
                (self.gbps(c, gib) or 0.0)
                for c in ("limit-buffered", "limit-direct", "limit-direct-2")
            )
            lt = max(
                (self.gbps(c, gib) or 0.0) for c in ("libertem-inline", "libertem-inline-direct")
            )
            _row(f"{gib} GiB cold sum / fastest read limit", 0.9, ours / limit if limit else None)
            if lt:
                _row(f"{gib} GiB cold sum / LiberTEM best cold", 1.0, ours / lt)
            cost = 1 / ours if ours else None
            if first_cost is None:
                first_cost = cost
            elif cost and first_cost:
                _row(f"{gib} GiB s/GiB / {sizes[0]} GiB s/GiB", 1.1, cost / first_cost, most=True)
        warm_new = self.gbps("core-inline", sizes[0], "sum warm")
        warm_old = self.gbps("core-inline-map", sizes[0], "sum warm")
        if warm_new and warm_old:
            _row(f"{sizes[0]} GiB warm sum / without direct reads", 0.95, warm_new / warm_old)


def _row(what: str, needed: float, value: float | None, *, most: bool = False) -> None:
    if value is None:
        print(f"| {what} | {'<=' if most else '>='} {needed} | n/a | no |")
        return
    met = value <= needed if most else value >= needed
    print(
        f"| {what} | {'<=' if most else '>='} {needed} | {value:.2f} | {'yes' if met else 'no'} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,4,16", help="file sizes in GiB (default 1,4,16)")
    parser.add_argument("--runs", type=int, default=3, help="measured rounds per size")
    parser.add_argument("--data", default=os.environ.get("BENCH_DATA", str(ROOT / ".bench-data")))
    parser.add_argument("--keep", action="store_true", help="keep files larger than 8 GiB")
    parser.add_argument("--skip-libertem", action="store_true")
    parser.add_argument("--skip-dask", action="store_true")
    ColdBench(parser.parse_args()).run()


if __name__ == "__main__":
    main()
