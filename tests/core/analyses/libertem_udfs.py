"""LiberTEM 0.16 UDFs run on the tests' arrays in the reference environment (the ``reference``
fixture of tests/conftest.py), with and without a scan ROI."""

from __future__ import annotations

import numpy as np

SNIPPET = """
from libertem.api import Context
from libertem.executor.inline import InlineJobExecutor
{imports}

ctx = Context(executor=InlineJobExecutor())
ds = ctx.load("memory", data=inputs["data"], sig_dims=2, num_partitions=3)
p = inputs["params"]
for suffix, roi in (("", None), ("_roi", inputs["roi"])):
    result = ctx.run_udf(dataset=ds, udf={udf}, roi=roi)
    for name in {names!r}:
        outputs[name + suffix] = result[name].data
"""


def run_udf(
    reference,
    *,
    imports: str,
    udf: str,
    names: tuple[str, ...],
    data: np.ndarray,
    roi: np.ndarray,
    params: tuple[float, ...] = (),
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """``udf`` (an expression; ``p`` holds ``params``) on ``data``: its results ``names``
    over the whole scan, and over ``roi``."""
    snippet = SNIPPET.format(imports=imports, udf=udf, names=names)
    got = reference.run(snippet, data=data, roi=roi, params=np.array(params, dtype=np.float64))
    return {n: got[n] for n in names}, {n: got[n + "_roi"] for n in names}
