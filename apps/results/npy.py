"""Arrays to and from .npy bytes, the storage format of results and masks.

Loading never unpickles: stored and uploaded bytes are data, not code.
"""

from __future__ import annotations

import io

import numpy as np

NPY_MAGIC = b"\x93NUMPY"


def npy_dumps(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.ascontiguousarray(array), allow_pickle=False)
    return buf.getvalue()


def npy_loads(data: bytes | memoryview) -> np.ndarray:
    """The array in ``data``; ValueError if it is not a plain (non-object) .npy array."""
    raw = bytes(data)
    if not raw.startswith(NPY_MAGIC):
        raise ValueError("not an .npy file (it does not start with the .npy magic bytes).")
    return np.lib.format.read_array(io.BytesIO(raw), allow_pickle=False)
