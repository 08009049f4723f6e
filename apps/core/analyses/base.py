"""The analysis interface: what runs per partition, how results merge, what comes out.

An :class:`Analysis` is built on the driver from validated parameters. Its :meth:`task`
is a small picklable callable sent once to every worker and called per partition; the driver
merges each partition's result into a state with :meth:`merge` in completion order, and
:meth:`results` turns the state (also a partial one) into named arrays.
"""

from __future__ import annotations

import functools
import math
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from apps.core.analyses.spec import ParamSpec, ResultSpec
from apps.core.io.base import Partition
from apps.core.masks import MaskStack
from apps.core.ops import StopCheck, apply_masks, compute_dtype


class Analysis(ABC):
    """Base class: subclasses set ``name``, ``result_names``, ``preview`` and implement the rest."""

    name: ClassVar[str]
    result_names: ClassVar[tuple[str, ...]]
    preview: ClassVar[str]
    """The result shown as the live image while the job runs."""
    param_specs: ClassVar[tuple[ParamSpec, ...]] = ()
    result_specs: ClassVar[tuple[ResultSpec, ...]] = ()

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
        self.params = self.validate(dict(params))

    @property
    def n_frames(self) -> int:
        return math.prod(self.nav_shape)

    @classmethod
    def describe(cls) -> dict[str, Any]:
        """JSON-ready description of the parameters and results (for forms and the API)."""
        return {
            "name": cls.name,
            "params": [p.as_dict() for p in cls.param_specs],
            "results": [r.as_dict() for r in cls.result_specs],
            "preview": cls.preview,
        }

    @abstractmethod
    def validate(self, params: dict[str, Any]) -> dict[str, Any]:
        """Check ``params`` against the dataset; return the normalised parameters."""

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
    """``apply_masks`` with a fixed mask stack."""

    def __init__(self, masks: MaskStack) -> None:
        self.masks = masks

    def __call__(
        self, partition: Partition, roi: np.ndarray | None, should_stop: StopCheck | None
    ) -> np.ndarray:
        # A corrected partition folds its corrections into the masks: no per-tile work.
        folded = getattr(partition, "apply_masks", None)
        if folded is not None:
            return folded(self.masks, roi=roi, should_stop=should_stop)
        return apply_masks(partition, self.masks, roi=roi, should_stop=should_stop)


class MaskAnalysis(Analysis):
    """An analysis that is the product with a mask stack, then cheap post-processing.

    The state is the ``(n_frames, m)`` result matrix, NaN where no partition has delivered.
    """

    @abstractmethod
    def mask_stack(self) -> MaskStack:
        """The masks ``(m, sy, sx)`` built from the parameters."""

    @abstractmethod
    def post(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        """Results from ``rows`` of shape ``nav_shape + (m,)``."""

    @functools.cached_property
    def masks(self) -> MaskStack:
        return self.mask_stack()

    def task(self) -> PartitionTask:
        return MaskTask(self.masks)

    def new_state(self) -> np.ndarray:
        dtype = compute_dtype(self.dtype, self.masks.dtype)
        return np.full((self.n_frames, self.masks.count), np.nan, dtype=dtype)

    def merge(self, state: np.ndarray, partition: Partition, result: np.ndarray) -> np.ndarray:
        state[partition.start : partition.stop] = result
        return state

    def results(self, state: np.ndarray) -> dict[str, np.ndarray]:
        return self.post(state.reshape((*self.nav_shape, state.shape[1])))
