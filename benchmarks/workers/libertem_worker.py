"""LiberTEM on the benchmark data, run inside its own virtual environment.

Same protocol as ``core_worker.py``: ``{"ready": ...}``, then one JSON answer per JSON command
line ``{"op": "run", "ds": {...}, "analysis": ..., "params": {...}}``. Never imports the project.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np


def blas_info():
    from threadpoolctl import threadpool_info

    keys = ("internal_api", "version", "architecture", "num_threads", "filepath")
    return [{k: i.get(k) for k in keys} for i in threadpool_info()]


def load(ctx, spec, cache):
    key = (spec["path"], spec.get("io_backend"))
    if key not in cache:
        if spec["format"] == "raw":
            backend = {}
            if spec.get("io_backend") == "direct":  # O_DIRECT reads (benchmarks/cold.py)
                from libertem.io.dataset.base import DirectBackend

                backend = {"io_backend": DirectBackend()}
            cache[key] = ctx.load(
                "raw",
                path=spec["path"],
                nav_shape=tuple(spec["nav_shape"]),
                sig_shape=tuple(spec["sig_shape"]),
                dtype=spec["dtype"],
                **backend,
            )
        elif spec["format"] == "raw_csr":  # the TOML descriptor names its files and shapes
            cache[key] = ctx.load("raw_csr", path=spec["path"])
        else:
            cache[key] = ctx.load("hdf5", path=spec["path"], ds_path="/data")
    return cache[key]


def run(ctx, ds, analysis, params):
    from libertem.udf.FEM import FEMUDF
    from libertem.udf.masks import ApplyMasksUDF
    from libertem.udf.stddev import StdDevUDF
    from libertem.udf.sum import SumUDF

    if analysis == "sum":
        return ctx.run_udf(dataset=ds, udf=SumUDF())
    if analysis == "virtual":
        a = ctx.create_ring_analysis(
            dataset=ds, cx=params["cx"], cy=params["cy"], ri=params["ri"], ro=params["ro"]
        )
        return ctx.run(a)
    if analysis == "com":
        a = ctx.create_com_analysis(
            dataset=ds, cx=params["cx"], cy=params["cy"], mask_radius=params["r"]
        )
        return ctx.run(a)
    if analysis == "masks":
        path = params["masks_npy"]  # the factory loads the file: small to send to workers
        return ctx.run_udf(dataset=ds, udf=ApplyMasksUDF(mask_factories=lambda: np.load(path)))
    if analysis == "stddev":
        return ctx.run_udf(dataset=ds, udf=StdDevUDF())
    if analysis == "fem":  # FEMUDF's centre is (row, column); it has no V(k) bins
        udf = FEMUDF(center=(params["cy"], params["cx"]), rad_in=params["ri"], rad_out=params["ro"])
        return ctx.run_udf(dataset=ds, udf=udf)
    raise ValueError(f"unknown analysis {analysis}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--executor", choices=("inline", "threads", "dask"), required=True)
    args = parser.parse_args()
    import libertem
    import libertem.api as lt

    cpus = os.cpu_count() or 1
    # The bitshuffle/LZ4 filters for h5py in this process and in the dask workers it starts.
    try:
        import hdf5plugin

        os.environ["HDF5_PLUGIN_PATH"] = hdf5plugin.PLUGIN_PATH
    except ImportError:
        pass
    if args.executor == "inline":
        ctx = lt.Context.make_with("inline")
    else:
        ctx = lt.Context.make_with(args.executor, cpus=cpus)
    cache = {}
    info = {"ready": True, "pid": os.getpid(), "libertem": libertem.__version__}
    print(json.dumps({**info, "blas": blas_info()}), flush=True)
    for line in sys.stdin:
        cmd = json.loads(line)
        try:
            ds = load(ctx, cmd["ds"], cache)
            started = time.perf_counter()
            run(ctx, ds, cmd["analysis"], cmd.get("params") or {})
            seconds = time.perf_counter() - started
            out = {
                "seconds": seconds,
                "bytes": int(np.prod(ds.shape)) * np.dtype(ds.dtype).itemsize,
            }
        except Exception as exc:  # reported, the benchmark goes on
            out = {"error": f"{type(exc).__name__}: {exc}"}
        print(json.dumps(out), flush=True)
    ctx.close()


if __name__ == "__main__":
    main()
