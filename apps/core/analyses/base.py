"""The analysis interface: what runs per partition, how results merge, what comes out.

An :class:`Analysis` is built on the driver from validated parameters. Its :meth:`task`
is a small picklable callable sent once to every worker and called per partition; the driver
merges each partition's result into a state with :meth:`merge` in partition order, and
:meth:`results` turns the state (also a partial one) into named arrays.

The built-in analyses and installed plugins alike subclass one of :class:`FrameRowsAnalysis`
(values per frame), :class:`MaskAnalysis` (products with masks) and :class:`ReduceAnalysis`
(one value over all frames); these classes, with ``declaration.py``, are the interface plugin
authors write against, and ``docs/plugins.md`` its contract.
"""

from __future__ import annotations

import functools
import math
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from apps.core.analyses import mask_recipe
from apps.core.analyses.declaration import AnalysisDeclaration, Extent
from apps.core.errors import JobCancelled
from apps.core.io.base import Partition, tile_frames_for
from apps.core.masks import MaskStack
from apps.core.ops import StopCheck, apply_masks, compute_dtype


class Analysis(ABC):
    """Base class: subclasses set ``declaration`` and implement the per-partition work.

    The parameters are read against the declaration (types, bounds, defaults), then
    :meth:`check` adds what a declaration cannot say (relations, coverage of the detector).
    """

    declaration: ClassVar[AnalysisDeclaration]
    #: How many passes over the frames the analysis needs (see :meth:`next_pass`).
    passes: ClassVar[int] = 1
    #: Whether partitions must be merged in partition order for the result to have the same
    #: bits on every executor (floating-point sums do). A merge that only places values
    #: (:class:`FrameRowsAnalysis`) is exact in any order: its partitions are merged as they
    #: arrive, so the live image never waits for a slow partition ahead of the others.
    merge_in_order: ClassVar[bool] = True

    def __init__(
        self,
        params: Mapping[str, Any],
        *,
        nav_shape: Sequence[int],
        sig_shape: Sequence[int],
        dtype: Any,
    ) -> None:
        self.nav_shape = tuple(int(d) for d in nav_shape)
        self.sig_shape = tuple(int(d) for d in sig_shape)
        self.dtype = np.dtype(dtype)
        self.extent = Extent(self.nav_shape, self.sig_shape)
        declared = self.declaration.read(params, self.extent, defaults=self.defaults())
        self.params = self.check(declared)

    @property
    def name(self) -> str:
        return self.declaration.name

    @property
    def result_names(self) -> tuple[str, ...]:
        return self.declaration.result_names

    @property
    def preview(self) -> str:
        """The result shown as the live image while the job runs."""
        return self.declaration.preview

    @property
    def n_frames(self) -> int:
        return math.prod(self.nav_shape)

    def defaults(self) -> dict[str, Any]:
        """Defaults that depend on the dataset (none unless an analysis says otherwise)."""
        return {}

    def check(self, params: dict[str, Any]) -> dict[str, Any]:
        """Check the declared-valid ``params`` against each other and the dataset; return the
        normalised parameters (as they are by default)."""
        return params

    @abstractmethod
    def task(self) -> PartitionTask:
        """The per-partition work, picklable."""

    @abstractmethod
    def new_state(self) -> Any:
        """An empty accumulator."""

    @abstractmethod
    def merge(self, state: Any, partition: Partition, result: Any) -> Any:
        """Fold one partition's result into ``state``; return the new state."""

    @abstractmethod
    def results(self, state: Any) -> dict[str, np.ndarray]:
        """Named result arrays from a (possibly partial) state."""

    def next_pass(self, results: dict[str, np.ndarray]) -> Analysis:
        """The analysis of the next pass over the same frames (and ROI), built from this pass's
        final ``results``; only called for an analysis of :attr:`passes` > 1.

        For what one pass cannot give: k-means labels exist only once every frame's features
        are in, and the mean frame of each cluster needs them.
        """
        raise NotImplementedError(f"{self.name} makes one pass over the frames")

    def wants(self, partition: Partition, roi: np.ndarray | None) -> bool:
        """Whether ``partition`` has work to do (``roi`` is the partition's slice)."""
        return roi is None or bool(roi.any())


class PartitionTask(ABC):
    """Work on one partition; instances travel to dask workers, so keep them small."""

    @abstractmethod
    def __call__(
        self, partition: Partition, roi: np.ndarray | None, should_stop: StopCheck | None
    ) -> Any: ...


class MaskTask(PartitionTask):
    """``apply_masks`` with a fixed mask stack.

    With a ``recipe`` (the analysis that builds the stack, pickled: see
    :mod:`apps.core.analyses.mask_recipe`) the task pickles as the recipe alone, and a dask
    worker builds the stack from it once per process instead of receiving it with every
    partition.
    """

    def __init__(self, masks: MaskStack | None, recipe: bytes | None = None) -> None:
        if masks is None and recipe is None:
            raise ValueError("a MaskTask needs its masks or the recipe that builds them")
        self._masks = masks
        self.recipe = recipe

    @property
    def masks(self) -> MaskStack:
        if self._masks is None:
            self._masks = mask_recipe.stack_for(self.recipe)  # type: ignore[arg-type]
        return self._masks

    def __reduce__(self) -> tuple[Any, ...]:
        if self.recipe is not None:
            return (MaskTask, (None, self.recipe))
        return (MaskTask, (self._masks,))

    def __call__(
        self, partition: Partition, roi: np.ndarray | None, should_stop: StopCheck | None
    ) -> np.ndarray:
        # A corrected partition folds its corrections into the masks: no per-tile work.
        folded = getattr(partition, "apply_masks", None)
        if folded is not None:
            return folded(self.masks, roi=roi, should_stop=should_stop)
        return apply_masks(partition, self.masks, roi=roi, should_stop=should_stop)


class FrameTask(PartitionTask):
    """A per-frame reduction: :meth:`reduce` maps tiles ``(k, c)`` in :attr:`work_dtype`
    (float64 unless a task says otherwise) to rows ``(k, width)``.

    Returns the partition's ``(n_frames, width)`` float64 rows, NaN for frames outside the
    scan ROI (they are not read). ``should_stop`` is checked before every tile.
    """

    width = 1
    #: The dtype the tiles are converted to before :meth:`reduce` (and sized for).
    work_dtype: np.dtype[Any] = np.dtype(np.float64)

    @abstractmethod
    def reduce(self, tile: np.ndarray) -> np.ndarray:
        """Rows ``(k, width)`` from ``k`` frames ``(k, c)`` in :attr:`work_dtype`."""

    def __call__(
        self, partition: Partition, roi: np.ndarray | None, should_stop: StopCheck | None
    ) -> np.ndarray:
        rows = np.full((partition.n_frames, self.width), np.nan)
        tile_frames = tile_frames_for(partition.frame_size * self.work_dtype.itemsize)
        for first, tile in partition.tiles(tile_frames=tile_frames, roi=roi):
            if should_stop is not None and should_stop():
                raise JobCancelled()
            lo = first - partition.start
            rows[lo : lo + tile.shape[0]] = self.reduce(self.convert(tile))
        return rows

    def convert(self, tile: np.ndarray) -> np.ndarray:
        """``tile`` as :meth:`reduce` takes it: a copy in :attr:`work_dtype` (which
        :meth:`reduce` may change in place)."""
        return tile.astype(self.work_dtype)


class FrameRowsAnalysis(Analysis):
    """An analysis whose partitions each return ``width`` values per frame, then cheap
    post-processing.

    The state is the ``(n_frames, width)`` matrix of ``row_dtype``, NaN where no partition has
    delivered (and outside the scan ROI).
    """

    @property
    @abstractmethod
    def row_dtype(self) -> np.dtype:
        """The dtype of the rows the task returns."""

    @property
    @abstractmethod
    def row_width(self) -> int:
        """How many values each frame gives."""

    @abstractmethod
    def post(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        """Results from ``rows`` of shape ``nav_shape + (width,)``."""

    merge_in_order = False  # each partition's rows go to their own place

    def new_state(self) -> np.ndarray:
        return np.full((self.n_frames, self.row_width), np.nan, dtype=self.row_dtype)

    def merge(self, state: np.ndarray, partition: Partition, result: np.ndarray) -> np.ndarray:
        state[partition.start : partition.stop] = result
        return state

    def results(self, state: np.ndarray) -> dict[str, np.ndarray]:
        return self.post(state.reshape((*self.nav_shape, state.shape[1])))


class MaskAnalysis(FrameRowsAnalysis):
    """An analysis that is the product with a mask stack (one row of ``m`` values per frame),
    then cheap post-processing."""

    @abstractmethod
    def mask_stack(self) -> MaskStack:
        """The masks ``(m, sy, sx)`` built from the parameters."""

    @functools.cached_property
    def masks(self) -> MaskStack:
        return self.mask_stack()

    @property
    def row_dtype(self) -> np.dtype:
        return compute_dtype(self.dtype, self.masks.dtype)

    @property
    def row_width(self) -> int:
        return self.masks.count

    def task(self) -> PartitionTask:
        return MaskTask(self.masks, mask_recipe.recipe_of(self, self.masks))


class TileReduction(PartitionTask):
    """A partition reduced tile by tile into one value (any picklable object, often a tuple of
    arrays): :meth:`start` gives the empty value, :meth:`add` folds in a tile of frames
    ``(k, c)`` in the data's dtype. Frames outside the scan ROI are not read; ``should_stop``
    is checked before every tile.
    """

    #: The bytes of one tile after any conversion the reduction makes (float64 by default).
    work_itemsize = np.dtype(np.float64).itemsize

    @abstractmethod
    def start(self, partition: Partition) -> Any:
        """The reduction of no frames of ``partition``."""

    @abstractmethod
    def add(self, value: Any, first: int, tile: np.ndarray) -> Any:
        """``value`` with frames ``[first, first + k)`` (``tile``, shape ``(k, c)``) folded in."""

    def __call__(
        self, partition: Partition, roi: np.ndarray | None, should_stop: StopCheck | None
    ) -> Any:
        value = self.start(partition)
        tile_frames = tile_frames_for(partition.frame_size * self.work_itemsize)
        for first, tile in partition.tiles(tile_frames=tile_frames, roi=roi):
            if should_stop is not None and should_stop():
                raise JobCancelled()
            value = self.add(value, first, tile)
        return value


class ReduceAnalysis(Analysis):
    """An analysis whose partitions each give one value (a :class:`TileReduction`), merged
    pairwise by an associative :meth:`combine`, then :meth:`finish`\\ ed into results.

    ``combine(a, combine(b, c)) == combine(combine(a, b), c)`` (up to rounding) is the
    contract: partitions finish in any order, and a partial state gives the partial results.
    The state is None until the first partition arrives.
    """

    @abstractmethod
    def task(self) -> TileReduction:
        """The per-partition reduction, picklable."""

    @abstractmethod
    def combine(self, a: Any, b: Any) -> Any:
        """The reduction of the frames of ``a`` and of ``b`` together (associative)."""

    @abstractmethod
    def finish(self, value: Any | None) -> dict[str, np.ndarray]:
        """Named results from the merged value (None: no frame yet; give the empty results)."""

    def new_state(self) -> Any:
        return None

    def merge(self, state: Any, partition: Partition, result: Any) -> Any:
        return result if state is None else self.combine(state, result)

    def results(self, state: Any) -> dict[str, np.ndarray]:
        return self.finish(state)
