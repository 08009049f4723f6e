"""Run a snippet in the reference environment (``.venv-reference``) on arrays from the tests.

``python references/run.py SNIPPET.py IN.npz OUT.npz``: the snippet sees the input arrays as
the dict ``inputs`` and puts the arrays it computes into the dict ``outputs``, which is saved
to OUT.npz. Only numpy is assumed here; the snippet imports what it compares against.
"""

import runpy
import sys

import numpy as np


def main(snippet: str, inputs_path: str, outputs_path: str) -> None:
    with np.load(inputs_path) as stored:
        inputs = {name: stored[name] for name in stored.files}
    outputs: dict = {}
    runpy.run_path(snippet, init_globals={"inputs": inputs, "outputs": outputs, "np": np})
    np.savez(outputs_path, **{k: np.asarray(v) for k, v in outputs.items()})


if __name__ == "__main__":
    main(*sys.argv[1:4])
