"""A viridis-like perceptual colour map for PNG previews, without matplotlib.

Nine anchor colours sampled from viridis at 0, 1/8, ..., 1, linearly interpolated to 256.
"""

from __future__ import annotations

import numpy as np

ANCHORS = np.array(
    [
        (68, 1, 84),
        (71, 44, 122),
        (59, 81, 139),
        (44, 113, 142),
        (33, 144, 141),
        (39, 173, 129),
        (92, 200, 99),
        (170, 220, 50),
        (253, 231, 37),
    ],
    dtype=np.float64,
)


def _lut(n: int = 256) -> np.ndarray:
    positions = np.linspace(0, 1, len(ANCHORS))
    t = np.linspace(0, 1, n)
    channels = [np.interp(t, positions, ANCHORS[:, c]) for c in range(3)]
    return np.round(np.stack(channels, axis=1)).astype(np.uint8)


LUT = _lut()


def colorize(image: np.ndarray) -> np.ndarray:
    """A 2-d array as ``(h, w, 4)`` uint8 RGBA: min..max over the viridis map, NaN transparent."""
    data = np.asarray(image, dtype=np.float64)
    finite = np.isfinite(data)
    rgba = np.zeros((*data.shape, 4), dtype=np.uint8)
    if not finite.any():
        return rgba
    lo, hi = float(data[finite].min()), float(data[finite].max())
    scale = (hi - lo) or 1.0
    index = np.zeros(data.shape, dtype=np.intp)
    index[finite] = np.clip((data[finite] - lo) / scale * 255, 0, 255).astype(np.intp)
    rgba[..., :3] = LUT[index]
    rgba[..., 3] = np.where(finite, 255, 0)
    return rgba
