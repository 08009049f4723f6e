"""``make bench``: the Core, LiberTEM 0.16.0 and the physical limits on the same data, one run.

    python benchmarks/run.py                 # the issue's sizes: 128 x 128 scan of 256 x 256
    python benchmarks/run.py --scan 64       # a quick run (1 GiB float32)
    BENCH_DATA=/fast/disk python benchmarks/run.py

Generates the datasets once (``BENCH_DATA``, default ``.bench-data/``), installs LiberTEM into
its own virtual environment there, then measures every contestant in rounds (a warm-up round,
then ``--runs`` rounds; each round runs every contestant once, in turn) and prints one JSON
line per measurement (the median of the rounds), then a table of ratios. Every contestant runs
with the same environment: OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE are removed for all of
them (PERFORMANCE.md: a current numpy picks its kernel itself; an old forced core is slower).
See docs/performance.md for how to read the output.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(1, str(ROOT))

import datagen  # noqa: E402
from portal import Portal  # noqa: E402

from apps.core.executor import QUIET_CLUSTER  # noqa: E402

LIBERTEM = "libertem==0.16.0"
BLAS_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
#: Every contestant's dask cluster is as quiet as the portal's own (QUIET_CLUSTER, as dask's
#: environment variables): an idle cluster at dask's defaults took 6 % of a core, on the cores
#: the other contestants are being timed on.
QUIET_DASK = {
    "DASK_" + key.upper().replace(".", "__").replace("-", "_"): str(value)
    for key, value in QUIET_CLUSTER.items()
}
#: issues #9, #23 and #26: (dataset, analysis, ours / LiberTEM-best needed). The Core's ``sum``
#: runs without the maximum here (``max = false``), the work of LiberTEM's SumUDF; ``sum with
#: max`` (the portal's default) is timed beside it, the Core alone.
TARGETS = [
    ("f32", "sum", 1.3),
    ("f32", "virtual", 1.0),
    ("f32", "com", 1.8),
    ("f32", "masks", 2.0),
    ("u16", "sum", 2.5),
    ("u16", "virtual", 2.5),
    ("u16", "com", 2.5),
    ("h5", "sum", 2.0),
    ("h5", "virtual", 2.0),
    # issue #23
    ("f32", "stddev", 2.0),
    ("u16", "stddev", 2.0),
    ("f32", "fem", 2.0),
    ("u16", "fem", 2.0),
]
#: The Core's sum with the maximum (``max = true``, the portal's default), timed beside ``sum``.
SUM_WITH_MAX = "sum with max"
#: :meth:`Bench.settle`: the window in which the contestants must be idle, and the longest wait.
SETTLE_WINDOW, SETTLE_MAX = 0.05, 2.0
RING = {"cx": 128.0, "cy": 128.0, "ri": 30.0, "ro": 60.0}
#: The Core's dask ring, run in turn with the portal's jobs: the denominator of the portal target.
BESIDE_PORTAL = ("core-dask", "f32", "virtual beside the portal")
#: The portal's rounds per ``--runs``: its jobs are short and noisy, and cheap to repeat.
PORTAL_ROUNDS = 3
COM = {"cx": 128.0, "cy": 128.0, "r": 60.0}
#: FEM's ring is the virtual ring; LiberTEM's FEMUDF has no V(k) bins (ours computes them too).
FEM = {**RING, "bins": 16}


def emit(record: dict[str, Any]) -> None:
    print(json.dumps(record), flush=True)


def log(text: str) -> None:
    print(f"# {text}", file=sys.stderr, flush=True)


def rss_anon(pid: int) -> int:
    """RssAnon of ``pid`` in bytes (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def proc_stat(pid: int | str) -> list[str]:
    """The fields of ``/proc/<pid>/stat`` after the command name (empty when it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return []


def children_map() -> dict[int, list[int]]:
    """Parent pid -> child pids, from /proc/*/stat."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = proc_stat(entry)
            if len(fields) > 1:
                parents.setdefault(int(fields[1]), []).append(int(entry))
    return parents


def tree(pid: int, parents: dict[int, list[int]] | None = None) -> list[int]:
    """``pid`` and its descendants."""
    parents = children_map() if parents is None else parents
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(parents.get(p, []))
    return out


class MemoryWatch:
    """Samples RssAnon of every process under the watched roots every 100 ms.

    The process tree (a read of every ``/proc/<pid>/stat``, 2 ms of a core) is refreshed once a
    second only: the watch runs beside the contestants and must not slow them.
    """

    TREE_SECONDS = 1.0

    def __init__(self) -> None:
        self.roots: dict[str, int] = {}
        self.idle: dict[str, dict[int, int]] = {}
        self.peak: dict[str, dict[int, int]] = {}
        self._lock = threading.Lock()
        threading.Thread(target=self._loop, daemon=True).start()

    def watch(self, name: str, pid: int) -> None:
        """Start watching ``name``; its processes' RssAnon now is their idle level."""
        idle = {p: rss_anon(p) for p in tree(pid)}
        with self._lock:
            self.roots[name] = pid
            self.idle[name] = idle
            self.peak.setdefault(name, {}).update(idle)

    def _loop(self) -> None:
        members: dict[str, list[int]] = {}
        refreshed = 0.0
        while True:
            with self._lock:
                roots = dict(self.roots)
            if time.monotonic() - refreshed >= self.TREE_SECONDS or roots.keys() != members.keys():
                parents = children_map()
                members = {name: tree(pid, parents) for name, pid in roots.items()}
                refreshed = time.monotonic()
            for name, pids in members.items():
                for p in pids:
                    value = rss_anon(p)
                    with self._lock:
                        peaks = self.peak.setdefault(name, {})
                        peaks[p] = max(peaks.get(p, 0), value)
            time.sleep(0.1)

    def report(self, name: str) -> dict[str, Any]:
        with self._lock:
            peaks = dict(self.peak.get(name, {}))
            idle = dict(self.idle.get(name, {}))
        above = {p: v - idle.get(p, 0) for p, v in peaks.items()}
        return {
            "processes": len(peaks),
            "peak_rss_anon_mib": round(max(peaks.values(), default=0) / 2**20, 1),
            "peak_above_idle_mib": round(max(above.values(), default=0) / 2**20, 1),
        }


class Worker:
    """A contestant process answering one JSON command per line."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], memory: MemoryWatch):
        self.name = name
        self.proc = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        self.ready = self._answer()
        memory.watch(name, self.proc.pid)

    def _answer(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        while True:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError(f"{self.name} exited (code {self.proc.wait()})")
            if line.startswith("{"):
                return json.loads(line)

    def ask(self, cmd: dict[str, Any]) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()
        return self._answer()

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def clean_env() -> tuple[dict[str, str], dict[str, str]]:
    """The environment for every contestant, and the OpenBLAS variables removed from it."""
    env = dict(os.environ)
    removed = {k: env.pop(k) for k in BLAS_VARS if k in env}
    env.pop("PYTHONPATH", None)
    env.update(QUIET_DASK)
    env.setdefault("DJANGO_SETTINGS_MODULE", "libertem_site.settings")
    return env, removed


def libertem_python(data: Path, env: dict[str, str]) -> str:
    """The LiberTEM venv's python, created and installed on first use (never the project's)."""
    venv = data / "libertem-venv"
    python = venv / "bin" / "python"
    check = [
        str(python),
        "-c",
        "import hdf5plugin, libertem; assert libertem.__version__ == '0.16.0'",
    ]
    if python.exists() and subprocess.run(check, env=env, capture_output=True).returncode == 0:
        return str(python)
    log(f"installing {LIBERTEM} into {venv} ...")
    subprocess.run(["python3.11", "-m", "venv", str(venv)], check=True, env=env)
    subprocess.run(
        # hdf5plugin: LiberTEM reads DECTRIS's bitshuffle/LZ4 HDF5 through its filters
        [str(venv / "bin" / "pip"), "install", "-q", LIBERTEM, "threadpoolctl", "hdf5plugin"],
        check=True,
        env=env,
    )
    return str(python)


def median_of(worker: Worker, cmd: dict[str, Any], runs: int) -> list[dict[str, Any]]:
    return [worker.ask(cmd) for _ in range(runs)]


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.data = Path(args.data)
        self.env, self.removed = clean_env()
        self.memory = MemoryWatch()
        self.results: dict[tuple[str, str, str], dict[str, Any]] = {}

    def record(self, contestant: str, dataset: str, what: str, samples: list[dict[str, Any]]):
        errors = [s["error"] for s in samples if "error" in s]
        rec: dict[str, Any] = {"contestant": contestant, "dataset": dataset, "what": what}
        if errors:
            rec["error"] = errors[0]
        else:
            seconds = [s["seconds"] for s in samples]
            med = statistics.median(seconds)
            nbytes = samples[0]["bytes"]
            rec.update(
                seconds=round(med, 4),
                runs=len(seconds),
                min_s=round(min(seconds), 4),
                max_s=round(max(seconds), 4),
                bytes=nbytes,
                GBps=round(nbytes / med / 1e9, 3),
            )
            if "first_partial" in samples[0]:
                rec["first_partial_s"] = round(
                    statistics.median(s["first_partial"] for s in samples), 4
                )
        self.results[(contestant, dataset, what)] = rec
        emit(rec)

    def rounds(self, jobs: list[tuple[str, str, str, Any]], runs: int | None = None) -> None:
        """Run every job (contestant, dataset, what, callable) once per round, alternating;
        ``runs`` measured rounds (default ``--runs``) after a warm-up round.

        Each round runs the jobs in another (seeded) order, so no contestant always runs right
        after the same other one; and each job starts only once every contestant's processes
        are idle again (see :meth:`settle`).
        """
        samples: dict[int, list[dict[str, Any]]] = {i: [] for i in range(len(jobs))}
        for r in range((runs or self.args.runs) + 1):
            order = list(range(len(jobs)))
            random.Random(r).shuffle(order)
            for i in order:
                self.settle()
                out = jobs[i][3]()
                if r > 0 or "error" in out:  # round 0 is the warm-up
                    samples[i].append(out)
        for i, (c, d, w, _call) in enumerate(jobs):
            self.record(c, d, w, samples[i])

    def settle(self) -> None:
        """Wait until the contestants' processes together use at most one clock tick (10 ms)
        of CPU in :data:`SETTLE_WINDOW` seconds, for at most :data:`SETTLE_MAX` seconds.

        A process does not stop computing when it answers: OpenBLAS's threads spin for about
        0.1 s after a product (LiberTEM's inline and threads executors: a whole core), which
        slowed the next contestant's masks run by 10-15 %.
        """
        deadline = time.monotonic() + SETTLE_MAX
        before = self.cpu_ticks()
        while time.monotonic() < deadline:
            time.sleep(SETTLE_WINDOW)
            now = self.cpu_ticks()
            if now - before <= 1:
                return
            before = now

    def cpu_ticks(self) -> int:
        """User and system clock ticks used so far by every watched process tree."""
        parents = children_map()
        total = 0
        for pid in list(self.memory.roots.values()):
            for p in tree(pid, parents):
                fields = proc_stat(p)
                if len(fields) > 12:
                    total += int(fields[11]) + int(fields[12])
        return total

    def run(self) -> None:
        args = self.args
        scan, sig = args.scan, args.sig
        emit(
            {
                "setup": "environment",
                "removed_for_all_contestants": self.removed,
                "note": "OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset for every contestant",
            }
        )
        sets = datagen.ensure(self.data, scan, sig, log=log)
        masks_npy = str(datagen.bench_masks(self.data, sig).resolve())
        python = str(Path(sys.executable))
        core_script = str(HERE / "workers" / "core_worker.py")
        workers: dict[str, Worker] = {}
        for ex in ("limits", "inline", "dask"):
            name = "limits" if ex == "limits" else f"core-{ex}"
            workers[name] = Worker(
                name, [python, core_script, "--executor", ex], self.env, self.memory
            )
        if not args.skip_libertem:
            lt_python = libertem_python(self.data, self.env)
            lt_script = str(HERE / "workers" / "libertem_worker.py")
            for ex in ("inline", "threads", "dask"):
                name = f"libertem-{ex}"
                workers[name] = Worker(
                    name, [lt_python, lt_script, "--executor", ex], self.env, self.memory
                )
        for name, w in workers.items():
            emit({"setup": "contestant", "contestant": name, **w.ready})

        self.limits(workers["limits"], sets)
        plan = [("f32", a) for a in ("sum", SUM_WITH_MAX, "virtual", "com", "masks")]
        plan += [("f32", a) for a in ("stddev", "fem")]
        plan += [("u16", a) for a in ("sum", "virtual", "com", "masks", "stddev", "fem")]
        plan += [("h5", a) for a in ("sum", "virtual")]
        if args.only:
            plan = [
                (d, a)
                for d, a in plan
                if a.split()[0] in args.only.split(",") or d in args.only.split(",")
            ]
        for key, analysis in plan:
            self.analysis_round(workers, sets[key], key, analysis, masks_npy)
        if not args.skip_portal:
            self.portal(python, sets["f32"], workers.get("core-dask"))
        for name in self.memory.roots:
            emit({"memory": name, **self.memory.report(name)})
        for w in workers.values():
            w.close()
        self.table(sets)

    def limits(self, worker: Worker, sets: dict[str, dict[str, Any]]) -> None:
        jobs: list[tuple[str, str, str, Any]] = []
        for t in (1, 2):
            cmd = {"op": "limit", "kind": "memory", "threads": t, "nbytes": 2**30}
            jobs.append(("limit", "ram", f"memory read {t} thread", lambda c=cmd: worker.ask(c)))
        for key, info in sets.items():
            for t in (1, 2):
                cmd = {"op": "limit", "kind": "file", "path": info["file"], "threads": t}
                jobs.append(
                    ("limit", key, f"page-cached read {t} thread", lambda c=cmd: worker.ask(c))
                )
        if "f32" in sets:  # the float32 sum's own limit: numpy.sum over the file's memory map
            for t in (1, 2):
                cmd = {"op": "limit", "kind": "mapped", "path": sets["f32"]["file"], "threads": t}
                jobs.append(("limit", "f32", f"mapped sum {t} thread", lambda c=cmd: worker.ask(c)))
        self.rounds(jobs)

    def analysis_round(self, workers, info, key, analysis, masks_npy) -> None:
        params: dict[str, Any] = {}
        core_path = info.get("sidecar", info["file"])
        core_analysis = "sum" if analysis == SUM_WITH_MAX else analysis
        if analysis == "sum":
            params = {"max": False}  # LiberTEM's SumUDF sums only
        elif analysis == "virtual":
            params = {"shape": "ring", **RING}
        elif analysis == "com":
            params = dict(COM)
        elif analysis == "masks":
            params = {"masks_npy": masks_npy}
        elif analysis == "fem":
            params = dict(FEM)
        jobs: list[tuple[str, str, str, Any]] = []
        for name, w in workers.items():
            if name == "limits":
                continue
            if name.startswith("core-"):
                cmd = {"op": "run", "path": core_path, "analysis": core_analysis, "params": params}
            elif analysis == SUM_WITH_MAX:
                continue  # the Core's own variant: nothing to compare with
            else:
                ds = {
                    "format": info["format"],
                    "path": info["file"],
                    "dtype": info["dtype"],
                    "nav_shape": [self.args.scan] * 2,
                    "sig_shape": [self.args.sig] * 2,
                }
                cmd = {"op": "run", "ds": ds, "analysis": analysis, "params": params}
            jobs.append((name, key, analysis, lambda w=w, c=cmd: w.ask(c)))
        if not self.args.skip_cli:
            jobs.append(
                (
                    "core-cli",
                    key,
                    analysis,
                    lambda: self.cli(core_path, core_analysis, params, info["nbytes"]),
                )
            )
        self.rounds(jobs)

    def cli(self, path: str, analysis: str, params: dict[str, Any], nbytes: int) -> dict[str, Any]:
        """``manage.py analyze`` (inline executor) as a fresh process."""
        argv = [
            sys.executable,
            "manage.py",
            "analyze",
            path,
            "--analysis",
            analysis,
            "--quiet",
            "--out",
            str(self.data / "cli-out.npz"),
        ]
        for k, v in params.items():
            value = json.dumps(v) if isinstance(v, bool) else v  # the command reads true/false
            argv += ["--param", f"{'masks' if k == 'masks_npy' else k}={value}"]
        started = time.perf_counter()
        proc = subprocess.Popen(argv, cwd=ROOT, env=self.env, stdout=subprocess.PIPE, text=True)
        self.memory.watch("core-cli", proc.pid)
        out, _ = proc.communicate()
        wall = time.perf_counter() - started
        if proc.returncode != 0:
            return {"error": f"manage.py analyze exited with {proc.returncode}"}
        line = json.loads(out.strip().splitlines()[-1])
        return {"seconds": line["seconds"], "bytes": nbytes, "wall_seconds": wall}

    def portal(self, python: str, info: dict[str, Any], core_dask: Worker | None) -> None:
        """Portal jobs through the API, alternating with the same ring run by the Core on its
        dask executor (``core_dask``), so both are timed beside the same other processes."""
        portal = Portal(python, self.env, self.data)
        try:
            pid = portal.start()
            self.memory.watch("portal", pid)
            big = portal.register("bench f32", str(Path(info["sidecar"]).resolve()))
            demo = portal.dataset_id("Demo")
            ring = {"shape": "ring", **RING}
            demo_ring = {"shape": "ring", "cx": 64.0, "cy": 64.0, "ri": 15.0, "ro": 30.0}
            demo_bytes = portal.api("GET", f"/api/datasets/{demo}/")["nbytes"]

            def job(ds: int, params: dict[str, Any], nbytes: int) -> dict[str, Any]:
                try:
                    return {**portal.job(ds, "virtual", params), "bytes": nbytes}
                except Exception as exc:  # reported, the benchmark goes on
                    return {"error": f"{type(exc).__name__}: {exc}"}

            jobs = [
                ("portal-api", "f32", "virtual", lambda: job(big, ring, info["nbytes"])),
                ("portal-api", "demo", "virtual", lambda: job(demo, demo_ring, demo_bytes)),
            ]
            if core_dask is not None:
                cmd = {
                    "op": "run",
                    "path": info.get("sidecar", info["file"]),
                    "analysis": "virtual",
                    "params": ring,
                }
                jobs.append((*BESIDE_PORTAL, lambda: core_dask.ask(cmd)))
            # A job takes a fifth of a second, and its fixed cost moves with every thread
            # hand-off in the web process: five rounds gave ratios 0.76-0.87 within minutes.
            self.rounds(jobs, runs=PORTAL_ROUNDS * self.args.runs)
        finally:
            portal.stop()

    def table(self, sets: dict[str, dict[str, Any]]) -> None:
        res = self.results

        def gbps(c: str, d: str, w: str) -> float | None:
            return res.get((c, d, w), {}).get("GBps")

        limit_mem = gbps("limit", "ram", "memory read 2 thread")
        rows = []
        for (c, d, w), _rec in sorted(res.items()):
            if c != "core-inline":
                continue
            ours = {k: gbps(k, d, w) for k in ("core-inline", "core-dask", "core-cli")}
            best_ours_name = max((k for k in ours if ours[k]), key=lambda k: ours[k], default=None)
            if best_ours_name is None:
                continue
            best_ours = ours[best_ours_name]
            lts = {
                k: gbps(k, d, w) for k in ("libertem-inline", "libertem-threads", "libertem-dask")
            }
            lt_best = max((v for v in lts.values() if v), default=None)
            file_limit = gbps("limit", d, "page-cached read 2 thread")
            rows.append(
                {
                    "dataset": d,
                    "analysis": w,
                    "ours_GBps": best_ours,
                    "ours_is": best_ours_name,
                    "libertem_best_GBps": lt_best,
                    "ours/libertem": round(best_ours / lt_best, 2) if lt_best else None,
                    "ours/memory2t": round(best_ours / limit_mem, 2) if limit_mem else None,
                    "ours/file2t": round(best_ours / file_limit, 2) if file_limit else None,
                }
            )
        portal = res.get(("portal-api", "f32", "virtual"), {}).get("GBps")
        core = max((gbps(k, "f32", "virtual") or 0) for k in ("core-inline", "core-dask"))
        # the executor the portal runs on, timed in the portal's rounds (else in its own)
        same = gbps(*BESIDE_PORTAL) or gbps("core-dask", "f32", "virtual") or 0
        demo = res.get(("portal-api", "demo", "virtual"), {})
        print(
            "\n| dataset | analysis | ours GB/s (executor) | LiberTEM best GB/s | ours / LiberTEM "
            "| ours / 2-thread memory read | ours / 2-thread file read |"
        )
        print("|---|---|---|---|---|---|---|")
        for r in rows:
            print(
                f"| {r['dataset']} | {r['analysis']} | {r['ours_GBps']} ({r['ours_is']}) | "
                f"{r['libertem_best_GBps']} | {r['ours/libertem']} | {r['ours/memory2t']} | "
                f"{r['ours/file2t']} |"
            )
        if portal and core and same:
            print(
                f"\nportal job via API, f32 ring: {portal} GB/s = {portal / same:.2f} of the "
                f"Core on the same (dask) executor, timed in turn with it ({same} GB/s), "
                f"{portal / core:.2f} of the Core's best in-process figure ({core} GB/s)"
            )
        if demo.get("first_partial_s") is not None:
            print(f"first partial image after submit (demo dataset): {demo['first_partial_s']} s")
        self.targets({(r["dataset"], r["analysis"]): r for r in rows}, portal, same, demo)
        print(f"\n(OpenBLAS variables removed for all contestants: {self.removed or 'none set'})")

    def targets(self, rows: dict, portal: float | None, core: float, demo: dict) -> None:
        """The issues' targets, each with its measured value: met or missed."""
        checks: list[tuple[str, float | None, float]] = []
        for d, w, need in TARGETS:
            checks.append(
                (f"{d} {w} ours / LiberTEM-best", rows.get((d, w), {}).get("ours/libertem"), need)
            )
        for w in ("sum", "virtual"):
            checks.append(
                (
                    f"f32 {w} ours / 2-thread memory read",
                    rows.get(("f32", w), {}).get("ours/memory2t"),
                    0.8,
                )
            )
        mapped = self.results.get(("limit", "f32", "mapped sum 2 thread"), {}).get("GBps")
        ours_sum = rows.get(("f32", "sum"), {}).get("ours_GBps")
        checks.append(
            (
                "f32 sum ours / 2-thread numpy.sum over the file's memory map",
                round(ours_sum / mapped, 2) if ours_sum and mapped else None,
                0.8,
            )
        )
        checks.append(
            (
                "portal job f32 ring / Core on dask",
                round(portal / core, 2) if portal and core else None,
                0.85,
            )
        )
        print("\n| target | measured | needed | |\n|---|---|---|---|")
        for name, value, need in checks:
            verdict = "?" if value is None else ("met" if value >= need else "missed")
            print(f"| {name} | {value} | >= {need} | {verdict} |")
        first = demo.get("first_partial_s")
        verdict = "?" if first is None else ("met" if first <= 0.3 else "missed")
        print(f"| first partial image (demo) s | {first} | <= 0.3 | {verdict} |")
        peaks = [
            self.memory.report(n)["peak_above_idle_mib"]
            for n in self.memory.roots
            if n.startswith(("core", "portal"))
        ]
        worst = max(peaks, default=None)
        verdict = "?" if worst is None else ("met" if worst <= 512 else "missed")
        print(
            f"| peak RssAnon above idle, any Core/portal process, MiB | {worst} | <= 512 | {verdict} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--scan",
        type=int,
        default=int(os.environ.get("BENCH_SCAN", 128)),
        help="scan side (default 128: 128 x 128 frames)",
    )
    parser.add_argument("--sig", type=int, default=256, help="frame side (default 256)")
    parser.add_argument("--runs", type=int, default=5, help="measured rounds after the warm-up")
    parser.add_argument("--data", default=os.environ.get("BENCH_DATA", str(ROOT / ".bench-data")))
    parser.add_argument("--only", help="comma-separated analyses or datasets (f32, u16, h5)")
    parser.add_argument("--skip-libertem", action="store_true")
    parser.add_argument("--skip-portal", action="store_true")
    parser.add_argument("--skip-cli", action="store_true")
    args = parser.parse_args()
    if args.runs < 3:
        log("fewer than 3 runs: medians are not comparable with the documented figures")
    Bench(args).run()


if __name__ == "__main__":
    main()
