"""The portal's Core in process (inline or dask executor), and the physical limits.

Run by ``benchmarks/run.py`` with the project's interpreter. Prints ``{"ready": ...}`` once set
up, then answers one JSON command per stdin line with one JSON line: ``{"op": "run",
"path": ..., "analysis": ..., "params": {...}}``, ``{"op": "limit", "kind": ...}`` (``memory``,
``file``, or ``decode``: the compressed HDF5 limit) or ``{"op": "evict", "paths": [...]}`` (drop
the files from the page cache and from this process's memory maps, whose mapped pages no other
process can evict).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from apps.core import kernels
from apps.core.analyses import make_analysis
from apps.core.executor import DaskExecutor, Executor, InlineExecutor
from apps.core.io import open_dataset, pagecache
from apps.core.ops import aligned_empty


def blas_info() -> list[dict[str, Any]]:
    from threadpoolctl import threadpool_info

    keys = ("internal_api", "version", "architecture", "num_threads", "filepath")
    return [{k: i.get(k) for k in keys} for i in threadpool_info()]


def run_analysis(executor: Executor, cmd: dict[str, Any]) -> dict[str, Any]:
    dataset = open_dataset(cmd["path"])
    params = dict(cmd.get("params") or {})
    if "masks_npy" in params:
        params["masks"] = np.load(params.pop("masks_npy"))
    analysis = make_analysis(
        cmd["analysis"],
        params,
        nav_shape=dataset.nav_shape,
        sig_shape=dataset.sig_shape,
        dtype=dataset.dtype,
    )
    cpu = process_cpu()
    started = time.perf_counter()
    run = executor.run(dataset, analysis)
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "bytes": dataset.nbytes,
        "core_seconds": run.seconds,
        "cpu_seconds": process_cpu() - cpu,  # this process only (not dask's workers)
    }


def process_cpu() -> float:
    """CPU seconds (user + system) of every thread of this process so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


_RAM: dict[int, np.ndarray] = {}


def timed_sum(words: np.ndarray, threads: int) -> dict[str, Any]:
    """``numpy.sum`` over ``words`` split in ``threads`` parts, one thread each (the calling
    thread alone for one)."""
    parts = np.array_split(words, threads)
    started = time.perf_counter()
    if threads == 1:
        parts[0].sum()
    else:
        workers = [threading.Thread(target=np.sum, args=(p,)) for p in parts]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
    return {"seconds": time.perf_counter() - started, "bytes": words.nbytes}


def memory_read(threads: int, nbytes: int) -> dict[str, Any]:
    """``numpy.sum`` over an in-RAM float32 array, split over ``threads`` threads."""
    arr = _RAM.get(nbytes)
    if arr is None:
        arr = _RAM.setdefault(nbytes, np.ones(nbytes // 4, dtype=np.float32))
    return timed_sum(arr, threads)


_MAPS: dict[str, np.ndarray] = {}


def mapped_read(path: str, threads: int) -> dict[str, Any]:
    """``numpy.sum`` over the file's own memory map (float32 words), split over ``threads``
    threads: what the Core's sum reads through, so the limit its sum is held to. The mapping
    is made once and reused, as the Core's reader keeps its maps (the faster of the two)."""
    words = _MAPS.get(path)
    if words is None:
        words = _MAPS.setdefault(path, np.memmap(path, dtype=np.float32, mode="r"))
    return timed_sum(words, threads)


def file_read(path: str, threads: int, block: int = 4 * 2**20) -> dict[str, Any]:
    """Page-cached ``readinto`` of the whole file into page-aligned blocks."""
    size = os.path.getsize(path)
    edges = [size * i // threads for i in range(threads + 1)]

    def read_range(lo: int, hi: int) -> None:
        buf = memoryview(aligned_empty((block,), np.dtype(np.uint8)))
        with open(path, "rb", buffering=0) as f:
            f.seek(lo)
            left = hi - lo
            while left > 0:
                got = f.readinto(buf[: min(block, left)])
                if not got:
                    break
                left -= got

    started = time.perf_counter()
    workers = [threading.Thread(target=read_range, args=edges[i : i + 2]) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return {"seconds": time.perf_counter() - started, "bytes": size}


def decode_limit(path: str, threads: int, via: str) -> dict[str, Any]:
    """Every chunk of ``path``'s ``/data`` decoded by the Core's decoder on ``threads``
    threads, no analysis: the stored bytes read by ``read_direct_chunk`` (h5py, one call per
    chunk, serialised by h5py's lock) into a reused buffer per thread (``via="direct"``), or
    taken straight from a memory map of the file as the Core's reader does (``via="map"``)."""
    import h5py

    from apps.core.io.h5codecs import ChunkDecoder
    from apps.core.io.h5compressed import aligned_bytes, compressed_chunks
    from apps.core.io.mapping import file_map

    with h5py.File(path, "r") as f:
        dset = f["data"]
        index = compressed_chunks(dset)
        if index is None:
            raise ValueError(f"{path}: /data is not chunked the way the Core decodes")
        nav = dset.shape[:-2]
        raw_bytes = index.frames * math.prod(dset.shape[-2:]) * dset.dtype.itemsize
        src = file_map(path)
        edges = [len(index.first) * i // threads for i in range(threads + 1)]
        lock = threading.Lock()

        def decode(t: int) -> None:
            out = aligned_bytes(raw_bytes)
            stored = aligned_bytes(int(index.size.max()))
            decoder = ChunkDecoder(index.codec, raw_bytes)
            for i in range(edges[t], edges[t + 1]):
                size = int(index.size[i])
                if via == "map":
                    failed = decoder(src, int(index.offset[i]), size, out.ctypes.data)
                else:
                    at = (*np.unravel_index(int(index.first[i]), nav), 0, 0)
                    with lock:
                        dset.id.read_direct_chunk(tuple(int(a) for a in at), out=stored)
                    failed = decoder(stored, 0, size, out.ctypes.data)
                if failed:
                    raise ValueError(failed)

        cpu = process_cpu()
        started = time.perf_counter()
        with ThreadPoolExecutor(threads) as pool:
            for future in [pool.submit(decode, t) for t in range(threads)]:
                future.result()
        seconds = time.perf_counter() - started
        return {
            "seconds": seconds,
            "bytes": math.prod(dset.shape) * dset.dtype.itemsize,
            "cpu_seconds": process_cpu() - cpu,
        }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--executor", choices=("inline", "dask", "limits"), required=True)
    args = parser.parse_args()
    executor: Executor | None = None
    if args.executor == "inline":
        # A long-lived process, warmed up as the portal's dask workers are (WarmUp): the
        # compiled loops from the first run (a fresh process folds with numpy first).
        kernels.warm_up()
        executor = InlineExecutor()
    elif args.executor == "dask":
        executor = DaskExecutor(None, n_workers=os.cpu_count() or 1)
    print(json.dumps({"ready": True, "pid": os.getpid(), "blas": blas_info()}), flush=True)
    for line in sys.stdin:
        cmd = json.loads(line)
        try:
            if cmd["op"] == "run":
                assert executor is not None
                out = run_analysis(executor, cmd)
            elif cmd["op"] == "evict":
                pagecache.evict(cmd["paths"])
                out = {"evicted": cmd["paths"]}
            elif cmd["kind"] == "decode":
                out = decode_limit(cmd["path"], cmd["threads"], cmd["via"])
            elif cmd["kind"] == "memory":
                out = memory_read(cmd["threads"], cmd["nbytes"])
            elif cmd["kind"] == "mapped":
                out = mapped_read(cmd["path"], cmd["threads"])
            else:
                out = file_read(cmd["path"], cmd["threads"])
        except Exception as exc:  # reported, the benchmark goes on
            out = {"error": f"{type(exc).__name__}: {exc}"}
        print(json.dumps(out), flush=True)
    if executor is not None:
        executor.close()


if __name__ == "__main__":
    main()
