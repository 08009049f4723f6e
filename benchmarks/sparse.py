"""``make bench``, the sparse group: electron-counted data, the Core against LiberTEM 0.16.

    python benchmarks/sparse.py                  # 256 x 256 scan of 256 x 256 frames
    python benchmarks/sparse.py --runs 5 --libertem-python .venv-reference/bin/python

Two ``raw_csr`` datasets (:mod:`sparse_data`: 0.01 and 0.1 electrons per pixel, made once in
``BENCH_DATA``) are read by both from the same files: ``sum`` (without the maximum, as
LiberTEM's SumUDF; the Core's ``sum with max`` beside it), a ``virtual`` ring, ``com`` and 16
dense ``masks``, every contestant once per round, in shuffled order, as in ``run.py``. Prints a
JSON line per measurement, then the table and the issue's target (ours / LiberTEM's best
executor >= 3) for each. Throughput is given for the dense frames the events stand for (uint8,
as both count them) and in events per second.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

import datagen
import run
from run import HERE, SUM_WITH_MAX, Bench, Worker, emit, log
from sparse_data import ensure_sparse

DENSITIES = (0.01, 0.1)
ANALYSES = ("sum", SUM_WITH_MAX, "virtual", "com", "masks")
#: issue #26: ours / LiberTEM's best executor, on the same raw_csr files
TARGET = 3.0
CORE = ("core-inline", "core-dask", "core-cli")
LIBERTEM = ("libertem-inline", "libertem-threads", "libertem-dask")


class SparseBench(Bench):
    def run(self) -> None:
        args = self.args
        emit({"setup": "environment", "removed_for_all_contestants": self.removed})
        sets = {
            f"csr-{d:g}": ensure_sparse(self.data, args.scan, args.sig, d, log=log)
            for d in (float(x) for x in args.densities.split(","))
        }
        masks_npy = str(datagen.bench_masks(self.data, args.sig).resolve())
        workers = self.start_workers()
        for key, info in sets.items():
            for analysis in ANALYSES:
                if not args.only or analysis.split()[0] in args.only.split(","):
                    self.analysis_round(workers, info, key, analysis, masks_npy)
        for name in self.memory.roots:
            emit({"memory": name, **self.memory.report(name)})
        for w in workers.values():
            w.close()
        self.sparse_table(sets)

    def start_workers(self) -> dict[str, Worker]:
        python = str(Path(sys.executable))
        script = str(HERE / "workers" / "core_worker.py")
        workers = {
            f"core-{ex}": Worker(
                f"core-{ex}", [python, script, "--executor", ex], self.env, self.memory
            )
            for ex in ("inline", "dask")
        }
        if not self.args.skip_libertem:
            lt_python = self.args.libertem_python or run.libertem_python(self.data, self.env)
            lt_script = str(HERE / "workers" / "libertem_worker.py")
            for ex in self.args.libertem_executors.split(","):
                argv = [lt_python, lt_script, "--executor", ex]
                workers[f"libertem-{ex}"] = Worker(f"libertem-{ex}", argv, self.env, self.memory)
        for name, w in workers.items():
            emit({"setup": "contestant", "contestant": name, **w.ready})
        return workers

    def best(self, names: tuple[str, ...], key: str, analysis: str) -> tuple[str | None, float]:
        """The fastest of ``names`` on ``key`` / ``analysis``: its name and GB/s (0: none)."""
        rates = {n: self.results.get((n, key, analysis), {}).get("GBps") or 0.0 for n in names}
        name = max(rates, key=lambda n: rates[n])
        return (name, rates[name]) if rates[name] else (None, 0.0)

    def sparse_table(self, sets: dict[str, dict[str, Any]]) -> None:
        print(
            "\n| data | analysis | ours GB/s (executor) | ours M events/s | LiberTEM best GB/s "
            "(executor) | ours / LiberTEM | target |"
        )
        print("|---|---|---|---|---|---|---|")
        for key, info in sets.items():
            for analysis in ANALYSES:
                ours_is, ours = self.best(CORE, key, analysis)
                if ours_is is None:
                    continue
                lt_is, lt = self.best(LIBERTEM, key, analysis)
                events = round(ours * 1e9 / info["nbytes"] * info["events"] / 1e6)
                ratio = round(ours / lt, 2) if lt else None
                verdict = (
                    ""
                    if analysis == SUM_WITH_MAX
                    else f">= {TARGET}: "
                    + ("?" if ratio is None else ("met" if ratio >= TARGET else "missed"))
                )
                print(
                    f"| {key} ({info['events'] / 1e6:.0f} M events) | {analysis} | {ours} "
                    f"({ours_is}) | {events} | {lt or '-'} ({lt_is or '-'}) | {ratio} | "
                    f"{verdict} |"
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scan", type=int, default=256, help="scan side (default 256)")
    parser.add_argument("--sig", type=int, default=256, help="frame side (default 256)")
    parser.add_argument("--runs", type=int, default=3, help="measured rounds after the warm-up")
    parser.add_argument(
        "--data", default=os.environ.get("BENCH_DATA", str(run.ROOT / ".bench-data"))
    )
    parser.add_argument(
        "--densities",
        default=",".join(f"{d:g}" for d in DENSITIES),
        help="electrons per pixel of the datasets (default 0.01,0.1)",
    )
    parser.add_argument("--only", help="comma-separated analyses (sum, virtual, com, masks)")
    parser.add_argument("--skip-libertem", action="store_true")
    parser.add_argument("--skip-cli", action="store_true")
    parser.add_argument(
        "--libertem-executors",
        default="inline,threads,dask",
        help="LiberTEM's executors to time (default all three)",
    )
    parser.add_argument(
        "--libertem-python",
        help="a python with libertem 0.16.0 (default: the bench's own venv in BENCH_DATA)",
    )
    SparseBench(parser.parse_args()).run()


if __name__ == "__main__":
    main()
