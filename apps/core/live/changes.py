"""Changing an analysis while the scan runs: the new analysis is computed over the frames that
arrived so far, read back from the recording, before it continues with the next block.

Only frames the ledger marks as arrived are read (a lost frame is never read as zeros); they
go through the analysis's ``task`` and ``merge`` in blocks, exactly as live blocks do, so the
result equals the one a run from the first frame would have given.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from apps.core.analyses import Analysis
from apps.core.io.base import Partition, roi_runs
from apps.core.live.recording import Recording
from apps.core.live.stream import StreamInfo

#: Frames read back per block (bounded memory whatever the scan)
CATCH_UP_BYTES = 16 * 2**20


class RecordedPartition(Partition):
    """Frames ``[start, stop)`` read back from a recording's ``frames.raw``, in the stream's
    dtype (the recording keeps the detector's byte order)."""

    def __init__(self, *, fd: int, recorded: np.dtype, frame_size: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._fd = fd
        self._recorded = recorded
        self._frame_size = frame_size

    def read(self, start: int, stop: int) -> np.ndarray:
        self._check_range(start, stop)
        frame_bytes = self._frame_size * self._recorded.itemsize
        raw = os.pread(self._fd, (stop - start) * frame_bytes, start * frame_bytes)
        frames = np.frombuffer(raw, dtype=self._recorded).reshape(stop - start, self._frame_size)
        return frames.astype(self.dtype, copy=False)


def catch_up(
    analysis: Analysis, info: StreamInfo, arrived: np.ndarray, recording: Recording | None
) -> Any:
    """``analysis``'s state merged over the frames ``arrived`` (bool per scan position) so
    far, read from ``recording``; a new state when nothing was recorded."""
    state = analysis.new_state()
    if recording is None or not arrived.any():
        return state
    recorded = info.recorded_dtype
    frame_bytes = info.frame_size * recorded.itemsize
    step = max(1, CATCH_UP_BYTES // frame_bytes)
    task = analysis.task()
    fd = os.open(recording.raw, os.O_RDONLY)
    try:
        index = 0
        for first, last in roi_runs(arrived):
            for start in range(first, last, step):
                p = RecordedPartition(
                    fd=fd,
                    recorded=recorded,
                    frame_size=info.frame_size,
                    index=index,
                    start=start,
                    stop=min(start + step, last),
                    sig_shape=info.sig_shape,
                    dtype=info.dtype,
                )
                index += 1
                if analysis.wants(p, None):
                    state = analysis.merge(state, p, task(p, None, None))
    finally:
        os.close(fd)
    return state
