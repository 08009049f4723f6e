"""Any result array as one 2-d image: for live previews, PNG downloads and the websocket.

1-d results become one row; ``nav + (k,)`` results (radial profiles, mask stacks) show the sum
over their last axis, i.e. the total intensity per scan position.
"""

from __future__ import annotations

import numpy as np


def preview_image(array: np.ndarray) -> np.ndarray:
    """``array`` as a 2-d float32 image (NaN stays NaN)."""
    arr = np.asarray(array)
    if arr.ndim == 0:
        arr = arr.reshape(1, 1)
    elif arr.ndim == 1:
        arr = arr.reshape(1, -1)
    elif arr.ndim > 2:
        arr = arr.reshape(*arr.shape[:2], -1).sum(axis=-1)
    return np.ascontiguousarray(arr, dtype=np.float32)


def image_bytes(image: np.ndarray) -> bytes:
    """Raw little-endian float32 bytes, as the browser's Float32Array reads them."""
    return np.ascontiguousarray(image, dtype="<f4").tobytes()
