"""What every detector source yields: the acquisition's description, blocks of frames, and
the ledger of what arrived."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from apps.core.errors import CoreError
from apps.core.io.base import roi_runs


class StreamError(CoreError):
    """The detector could not be armed, or its stream broke off or made no sense."""


@dataclass(frozen=True)
class StreamInfo:
    """One acquisition as the detector announced it.

    ``dtype`` is the dtype of the frames the source yields, in the machine's byte order (the
    compiled kernels take native integers only); ``source_dtype`` the dtype the detector sent
    them in (Merlin: big-endian ``>u2``), which a recording keeps; ``metadata`` what the
    detector said about the acquisition (JSON-ready), kept in the recording's sidecar.
    """

    detector: str
    nav_shape: tuple[int, ...]
    sig_shape: tuple[int, int]
    dtype: np.dtype
    metadata: dict[str, Any] = field(default_factory=dict)
    source_dtype: np.dtype | None = None

    @property
    def recorded_dtype(self) -> np.dtype:
        return self.dtype if self.source_dtype is None else self.source_dtype

    @property
    def n_frames(self) -> int:
        return math.prod(self.nav_shape)

    @property
    def frame_size(self) -> int:
        return math.prod(self.sig_shape)


@dataclass(frozen=True)
class FrameBlock:
    """Frames ``[start, start + k)`` of the scan as ``(k, sy * sx)`` in the stream's dtype;
    ``source`` the same frames as the detector sent them, where they differ in byte order."""

    start: int
    frames: np.ndarray
    source: np.ndarray | None = None

    @property
    def stop(self) -> int:
        return self.start + self.frames.shape[0]


class DetectorSource(ABC):
    """A detector delivering one acquisition.

    :meth:`start` connects, arms and returns the acquisition's description; :meth:`blocks`
    yields the frames until the acquisition ends and raises :class:`StreamError` when the
    stream breaks off (what arrived before stays valid); :meth:`stop`, called from another
    thread, makes :meth:`blocks` end soon; :meth:`close` releases the sockets (after
    :meth:`blocks` has ended).
    """

    @abstractmethod
    def start(self) -> StreamInfo: ...

    @abstractmethod
    def blocks(self) -> Iterator[FrameBlock]: ...

    @abstractmethod
    def stop(self) -> None: ...

    @abstractmethod
    def close(self) -> None: ...


class FrameLedger:
    """Which of ``n_frames`` arrived: lost frames (gaps) and a truncated end, never padding."""

    def __init__(self, n_frames: int) -> None:
        self.n_frames = n_frames
        self.arrived = np.zeros(n_frames, dtype=bool)
        self.duplicates = 0

    def add(self, block: FrameBlock) -> None:
        """Record ``block``; a frame outside the scan is a :class:`StreamError`."""
        if block.start < 0 or block.stop > self.n_frames:
            raise StreamError(
                f"the detector sent frames {block.start}-{block.stop - 1}, outside the scan of "
                f"{self.n_frames} frames."
            )
        seen = self.arrived[block.start : block.stop]
        self.duplicates += int(np.count_nonzero(seen))
        seen[:] = True

    @property
    def received(self) -> int:
        return int(np.count_nonzero(self.arrived))

    @property
    def last(self) -> int:
        """The highest frame index that arrived, -1 before the first."""
        hits = np.flatnonzero(self.arrived)
        return int(hits[-1]) if hits.size else -1

    def lost(self) -> list[tuple[int, int]]:
        """``(start, stop)`` ranges of frames missing before the last one that arrived."""
        return roi_runs(~self.arrived[: self.last + 1])

    def missing_end(self) -> tuple[int, int] | None:
        """The frames after the last one that arrived, if the acquisition ended early."""
        last = self.last
        return None if last == self.n_frames - 1 else (last + 1, self.n_frames)

    def report(self, *, error: str | None = None, stopped: bool = False) -> dict[str, Any]:
        """JSON-ready: frames expected and received, lost ranges, the truncated end, the state
        (``complete``, ``incomplete``: frames missing, ``failed``: an error ended it,
        ``stopped``: the caller ended it early)."""
        lost = self.lost()
        end = self.missing_end()
        if stopped and end is not None:
            state = "stopped"
        elif error is not None:
            state = "failed"
        elif lost or end is not None:
            state = "incomplete"
        else:
            state = "complete"
        return {
            "state": state,
            "frames_expected": self.n_frames,
            "frames_received": self.received,
            "lost_frames": sum(b - a for a, b in lost),
            "lost_ranges": [list(r) for r in lost],
            "truncated_after": None if end is None else end[0],
            "error": error,
        }
