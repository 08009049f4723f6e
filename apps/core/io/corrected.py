"""Any dataset seen through :class:`~apps.core.corrections.Corrections`.

``CorrectedDataSet`` wraps a format's dataset: same shapes and partitions, with every tile
corrected (dark, gain, excluded pixels) on read. Mask analyses skip the per-tile work:
:meth:`CorrectedPartition.apply_masks` folds the corrections into the masks and reads the
uncorrected partition.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from apps.core.corrections import Corrections, detect_hot_pixels
from apps.core.io.base import DataSet, Partition
from apps.core.io.references import Pins
from apps.core.masks import MaskStack

if TYPE_CHECKING:
    from apps.core.ops import StopCheck

#: Hot pixels stand out in the sum of a few hundred frames; reading more only costs time.
HOT_PIXEL_FRAMES = 1024


class CorrectedPartition(Partition):
    """The frames of ``inner`` with ``corrections`` applied; dtype float unless only excluded."""

    def __init__(self, inner: Partition, corrections: Corrections) -> None:
        super().__init__(**{**inner.frames(), "dtype": corrections.dtype_for(inner.dtype)})
        self.inner = inner
        self.corrections = corrections

    def read(self, start: int, stop: int) -> np.ndarray:
        """Corrected frames ``[start, stop)`` as a new ``(k, c)`` array of ``self.dtype``."""
        return self.corrections.apply(self.inner.read(start, stop), self.dtype)

    def close(self) -> None:
        self.inner.close()

    def pin(self, pinned: Pins | None) -> Partition:
        self.inner.pin(pinned)
        return super().pin(pinned)

    def describe(self) -> dict[str, Any]:
        return self.inner.describe()

    def apply_masks(
        self,
        masks: MaskStack,
        *,
        roi: np.ndarray | None = None,
        should_stop: StopCheck | None = None,
    ) -> np.ndarray:
        """Corrected ``A . B`` ``(n_frames, m)``: folded masks on the raw frames, minus offsets."""
        flat = masks.masks().reshape(masks.count, -1)
        folded, offsets = self.corrections.fold(flat)
        folded_stack = MaskStack(folded.reshape(masks.count, *self.sig_shape))
        # Imported here: apps.core.ops imports the io package, which imports this module.
        from apps.core.ops import apply_masks

        rows = apply_masks(self.inner, folded_stack, roi=roi, should_stop=should_stop)
        rows -= offsets.astype(rows.dtype)
        return rows


class CorrectedDataSet(DataSet):
    """``inner`` with ``corrections``; ``params`` adds ``correction_params`` to inner's."""

    def __init__(
        self, inner: DataSet, corrections: Corrections, correction_params: dict[str, Any]
    ) -> None:
        super().__init__(
            path=inner.path,
            nav_shape=inner.nav_shape,
            sig_shape=inner.sig_shape,
            dtype=corrections.dtype_for(inner.dtype),
        )
        self.inner = inner
        self.corrections = corrections
        self.correction_params = correction_params
        self.format = inner.format  # type: ignore[misc]
        self.pinned = inner.pinned
        self.checked = inner.checked

    def params(self) -> dict[str, Any]:
        return {**self.inner.params(), **self.correction_params}

    def describe(self) -> dict[str, Any]:
        return {
            **self.inner.describe(),
            "dtype": self.dtype.str,
            "params": self.params(),
            "corrections": self.corrections.describe(),
        }

    def partitions(self, **sizing: Any) -> list[Partition]:
        """The inner dataset's partitions (split as :meth:`DataSet.partitions`), corrected."""
        return [CorrectedPartition(p, self.corrections) for p in self.inner.partitions(**sizing)]


def find_hot_pixels(
    ds: DataSet, *, threshold: float, max_frames: int = HOT_PIXEL_FRAMES
) -> list[list[int]]:
    """``[[y, x], ...]`` of the hot pixels in the sum of the first ``max_frames`` frames."""
    total = np.zeros(ds.frame_size, dtype=np.float64)
    left = max_frames
    for part in ds.partitions():
        for _, tile in part.tiles(tile_frames=64):
            total += tile[:left].sum(axis=0, dtype=np.float64)
            left -= min(left, tile.shape[0])
            if left == 0:
                break
        part.close()
        if left == 0:
            break
    hot = detect_hot_pixels(total.reshape(ds.sig_shape), threshold=threshold)
    return [[int(y), int(x)] for y, x in zip(*np.nonzero(hot), strict=True)]
