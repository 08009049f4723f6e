"""Detector corrections: a dark frame, a gain map and excluded (hot / dead / masked) pixels.

A corrected frame is ``(A - dark) * gain`` with excluded pixels set to 0. Reductions (sum,
max, pick) apply this per tile (:meth:`Corrections.apply`); mask analyses fold it into the
masks instead, with no per-tile work (:meth:`Corrections.fold`)::

    ((A - dark) * gain) . B  =  A . (gain * B)  -  dark . (gain * B)

where ``gain * B`` has the excluded pixels' rows zeroed.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from apps.core.errors import DataSetError
from apps.core.npyfile import read_npy_header

if TYPE_CHECKING:
    from apps.core.io.references import Pins

FILE_PARAMS = ("dark", "gain", "excluded")
#: ``excluded_pixels``: ``[[y, x], ...]``; ``hot_pixels``: true or a threshold, detected on open.
PARAMS = (*FILE_PARAMS, "excluded_pixels", "hot_pixels")
DEFAULT_HOT_THRESHOLD = 20.0


class Corrections:
    """Per-pixel corrections of frames of ``sig_shape``; every map is flat ``(c,)``.

    ``dark`` and ``gain`` are float64 (or None); ``excluded`` is bool (or None).
    """

    def __init__(
        self,
        *,
        sig_shape: Sequence[int],
        dark: np.ndarray | None = None,
        gain: np.ndarray | None = None,
        excluded: np.ndarray | None = None,
    ) -> None:
        self.sig_shape = tuple(int(d) for d in sig_shape)
        c = math.prod(self.sig_shape)
        self.dark = None if dark is None else _flat(dark, c, np.float64, "dark")
        self.gain = None if gain is None else _flat(gain, c, np.float64, "gain")
        self.excluded = None if excluded is None else _flat(excluded, c, bool, "excluded")
        if self.excluded is not None and not self.excluded.any():
            self.excluded = None

    @property
    def empty(self) -> bool:
        return self.dark is None and self.gain is None and self.excluded is None

    @property
    def changes_values(self) -> bool:
        """True if dark or gain are given (the corrected data is then floating point)."""
        return self.dark is not None or self.gain is not None

    def dtype_for(self, data_dtype: Any) -> np.dtype:
        """The dtype of corrected data: native if only pixels are excluded, else float."""
        data_dtype = np.dtype(data_dtype)
        if not self.changes_values:
            return data_dtype
        return np.dtype(np.float64 if data_dtype == np.float64 else np.float32)

    def apply(self, tile: np.ndarray, dtype: Any) -> np.ndarray:
        """Corrected copy of ``tile`` ``(k, c)`` in ``dtype``."""
        out = np.array(tile, dtype=dtype)
        if self.dark is not None:
            out -= self.dark.astype(out.dtype)
        if self.gain is not None:
            out *= self.gain.astype(out.dtype)
        if self.excluded is not None:
            out[:, self.excluded] = 0
        return out

    def fold(self, masks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Fold the corrections into ``masks`` ``(m, c)``.

        Returns ``(folded, offsets)``: ``folded`` ``(m, c)`` like ``masks`` with the gain applied
        and excluded pixels zeroed, ``offsets`` ``(m,)`` float64 = ``dark . folded``, to be
        subtracted from each result row: ``corrected(A) . B == A . folded - offsets``.
        """
        folded = np.array(masks, copy=True)
        if self.gain is not None:
            folded *= self.gain.astype(folded.dtype)
        if self.excluded is not None:
            folded[:, self.excluded] = 0
        if self.dark is None:
            offsets = np.zeros(folded.shape[0])
        else:
            offsets = folded.astype(np.float64) @ self.dark
        return folded, offsets

    def describe(self) -> dict[str, Any]:
        excluded = 0 if self.excluded is None else int(self.excluded.sum())
        return {
            "dark": self.dark is not None,
            "gain": self.gain is not None,
            "excluded_pixels": excluded,
        }


def _flat(array: Any, c: int, dtype: Any, name: str) -> np.ndarray:
    a = np.asarray(array)
    if a.size != c:
        raise DataSetError(f"{name}: expected {c} pixels (the frame), got shape {list(a.shape)}.")
    if dtype is not bool and not np.all(np.isfinite(a)):
        raise DataSetError(f"{name}: the map has NaN or infinite values; give finite numbers.")
    return np.ascontiguousarray(a.reshape(c), dtype=dtype)


def detect_hot_pixels(
    sum_frame: np.ndarray, *, threshold: float = DEFAULT_HOT_THRESHOLD
) -> np.ndarray:
    """Pixels far above their neighbours in a sum frame ``(sy, sx)``; returns bool ``(sy, sx)``.

    A pixel is hot when it exceeds the median of its 8 neighbours by more than ``threshold``
    times the counting noise of that median (``sqrt(max(median, 1))``).
    """
    frame = np.asarray(sum_frame, dtype=np.float64)
    if frame.ndim != 2:
        raise ValueError(f"sum_frame must be 2-d (sy, sx), got shape {frame.shape}.")
    if not threshold > 0:
        raise ValueError(f"threshold must be positive, got {threshold}.")
    footprint = np.ones((3, 3), dtype=bool)
    footprint[1, 1] = False
    from scipy.ndimage import median_filter  # 0.2 s to import: only when hot pixels are sought

    median = median_filter(frame, footprint=footprint, mode="nearest")
    return np.asarray(frame - median > threshold * np.sqrt(np.maximum(median, 1.0)))


def load_corrections(
    params: Mapping[str, Any],
    *,
    folder: str,
    sig_shape: Sequence[int],
    pinned: Pins | None = None,
) -> Corrections | None:
    """Corrections from ``params`` (``dark``/``gain``/``excluded``: ``.npy`` paths).

    Relative paths are relative to ``folder`` (the dataset's). Returns None when none is given.
    ``pinned``: the files a check saw; a map file that is not one of them is refused.
    """
    maps: dict[str, np.ndarray] = {}
    for name in FILE_PARAMS:
        value = params.get(name)
        if value is None:
            continue
        if not isinstance(value, str):
            raise DataSetError(f"{name}: expected the path of an .npy file, got {value!r}.")
        maps[name] = _load_map(os.path.join(folder, value), name, tuple(sig_shape), pinned)
    pixels = params.get("excluded_pixels")
    if pixels is not None:
        listed = pixel_mask(pixels, sig_shape)
        maps["excluded"] = listed if "excluded" not in maps else (maps["excluded"] != 0) | listed
    if not maps:
        return None
    excluded = maps.get("excluded")
    return Corrections(
        sig_shape=sig_shape,
        dark=maps.get("dark"),
        gain=maps.get("gain"),
        excluded=None if excluded is None else excluded.astype(bool),
    )


def _load_map(path: str, name: str, sig_shape: tuple[int, ...], pinned: Pins | None) -> np.ndarray:
    """The ``.npy`` map at ``path``; its header's shape is checked before the data is read, so
    a header claiming a huge array costs nothing."""
    # Imported here: apps.core.io imports this module while it initialises.
    from apps.core.io.references import check_opened

    try:
        with open(path, "rb") as f:
            check_opened(f.fileno(), path, pinned)
            shape = read_npy_header(f)[0]
            if tuple(shape) != sig_shape:
                raise DataSetError(
                    f"{path}: the {name} map has shape {list(shape)}; expected the frame shape "
                    f"{list(sig_shape)}."
                )
            f.seek(0)
            return np.load(f, allow_pickle=False)
    except (OSError, ValueError) as exc:
        if isinstance(exc, DataSetError):
            raise
        raise DataSetError(f"{path}: cannot load the {name} map as .npy: {exc}.") from exc


def pixel_mask(pixels: Any, sig_shape: Sequence[int]) -> np.ndarray:
    """Bool ``sig_shape`` mask from ``[[y, x], ...]``; DataSetError naming a bad pixel."""
    mask = np.zeros(tuple(sig_shape), dtype=bool)
    if not isinstance(pixels, list | tuple):
        raise DataSetError(f"excluded_pixels: expected a list of [y, x] pairs, got {pixels!r:.60}.")
    for item in pixels:
        ok = isinstance(item, list | tuple) and len(item) == 2
        ok = ok and all(isinstance(v, int) and not isinstance(v, bool) for v in item)
        if not ok or not (0 <= item[0] < sig_shape[0] and 0 <= item[1] < sig_shape[1]):
            raise DataSetError(
                f"excluded_pixels: {item!r:.40} is not a [y, x] pixel of the "
                f"{sig_shape[0]} x {sig_shape[1]} frame."
            )
        mask[item[0], item[1]] = True
    return mask


def hot_pixel_threshold(value: Any) -> float | None:
    """The ``hot_pixels`` parameter as a threshold (True: the default), or None (off)."""
    if value is None or value is False:
        return None
    if value is True:
        return DEFAULT_HOT_THRESHOLD
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return float(value)
    raise DataSetError(f"hot_pixels: expected true or a positive threshold, got {value!r:.40}.")
