"""Small PNG previews of results, for the history strip and the job list.

A thumbnail is the result's preview image (``preview.preview_image``: the sum over a last axis
of channels) shrunk to at most ``THUMBNAIL_PIXELS`` on its longer side by averaging blocks of
pixels, then coloured min..max. Averaging the values before colouring keeps a thin bright
feature visible as a dimmer one instead of dropping it, which picking every n-th pixel would.
"""

from __future__ import annotations

import io
import math

import numpy as np
from PIL import Image

from apps.results.colormap import colorize
from apps.results.preview import preview_image

THUMBNAIL_PIXELS = 128


def thumbnail_png(
    array: np.ndarray, *, size: int = THUMBNAIL_PIXELS, nav_shape: tuple[int, ...] = ()
) -> bytes:
    """``array``'s preview image (for the dataset's ``nav_shape``) as a PNG at most ``size``
    pixels wide and high."""
    image = shrink(preview_image(array, nav_shape), size)
    buf = io.BytesIO()
    Image.fromarray(colorize(image)).save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def shrink(image: np.ndarray, size: int) -> np.ndarray:
    """A 2-d float image reduced by a whole factor so that neither side exceeds ``size``: each
    output pixel is the mean of the finite values of its block (NaN where there are none)."""
    if size < 1:
        raise ValueError(f"size must be at least 1 pixel, got {size}.")
    h, w = image.shape
    factor = math.ceil(max(h, w) / size)
    if factor <= 1:
        return image
    out_h, out_w = math.ceil(h / factor), math.ceil(w / factor)
    padded = np.full((out_h * factor, out_w * factor), np.nan, dtype=np.float64)
    padded[:h, :w] = image
    blocks = padded.reshape(out_h, factor, out_w, factor)
    finite = np.isfinite(blocks)
    counts = finite.sum(axis=(1, 3))
    sums = np.where(finite, blocks, 0.0).sum(axis=(1, 3))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / counts, np.nan).astype(np.float32)
