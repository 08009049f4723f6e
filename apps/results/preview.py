"""Any result array as one 2-d image: for live previews, PNG downloads and the websocket.

1-d results become one row; ``nav + (k,)`` results (radial profiles, mask stacks) show the sum
over their last axis, i.e. the total intensity per scan position (``nav + (bins, orders)``: over
both); complex results show their magnitude. On a scan of more than two axes, a result that
starts with the scan shape shows its 2-d slices (over the last two scan axes) one under the
other, ``(slices * ny, nx)``: the browser shows one slice of that image at a time.
"""

from __future__ import annotations

import numpy as np


def preview_image(array: np.ndarray, nav_shape: tuple[int, ...] = ()) -> np.ndarray:
    """``array`` as a 2-d float32 image (NaN stays NaN); ``nav_shape`` is the dataset's."""
    arr = np.asarray(array)
    if arr.dtype.kind == "c":
        arr = np.abs(arr)
    nav = tuple(nav_shape)
    if len(nav) > 2 and arr.shape[: len(nav)] == nav:
        if arr.ndim > len(nav):  # the sum over the extra axes, as below
            arr = arr.reshape(*nav, -1).sum(axis=-1)
        arr = arr.reshape(-1, nav[-1])  # slices one under the other
    elif arr.ndim == 0:
        arr = arr.reshape(1, 1)
    elif arr.ndim == 1:
        arr = arr.reshape(1, -1)
    elif arr.ndim > 2:
        arr = arr.reshape(*arr.shape[:2], -1).sum(axis=-1)
    return np.ascontiguousarray(arr, dtype=np.float32)


def image_bytes(image: np.ndarray) -> bytes:
    """Raw little-endian float32 bytes, as the browser's Float32Array reads them."""
    return np.ascontiguousarray(image, dtype="<f4").tobytes()
