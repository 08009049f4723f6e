"""Recording a live acquisition as raw + JSON sidecar (DESIGN section 5), the format the
portal reads like any other.

``<folder>/frames.raw`` holds every frame at its scan index, in the detector's dtype and byte
order: the pixels exactly as the detector sent them (RAW Merlin frames and compressed DECTRIS
frames decoded). The sidecar ``<folder>/acquisition.json`` is written last, with the
detector's metadata and the ledger's report under ``metadata.live``: frames that never arrived
are zero in the file and listed there (``lost_ranges``, ``truncated_after``), never passed
off as data.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

import numpy as np

from apps.core.io.raw import write_sidecar
from apps.core.live.stream import FrameBlock, StreamError, StreamInfo

RAW_NAME = "frames.raw"
SIDECAR_NAME = "acquisition.json"


def check_free(folder: str | os.PathLike[str]) -> None:
    """Refuse ``folder`` if it holds a recording already (checked before the detector is
    armed, so that an acquisition is never taken that cannot be kept)."""
    folder = Path(folder)
    if (folder / SIDECAR_NAME).exists() or (folder / RAW_NAME).exists():
        raise StreamError(f"{folder}: already holds a recording; choose a new folder.")


class Recording:
    """Writes one acquisition into ``folder`` (created; it must not hold a recording yet)."""

    def __init__(self, folder: str | os.PathLike[str], info: StreamInfo) -> None:
        self.folder = Path(folder)
        self.info = info
        self.dtype = info.recorded_dtype
        self.frame_bytes = info.frame_size * self.dtype.itemsize
        self.sidecar = self.folder / SIDECAR_NAME
        self.raw = self.folder / RAW_NAME
        check_free(self.folder)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.raw, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except OSError as exc:
            raise StreamError(f"{self.folder}: cannot record here ({exc.strerror}).") from exc

    def write(self, block: FrameBlock) -> None:
        """Write ``block``'s frames at their place in the scan."""
        frames = block.frames if block.source is None else block.source
        data = np.ascontiguousarray(frames, dtype=self.dtype)
        view = data.data.cast("B")
        offset = block.start * self.frame_bytes
        while view:
            n = os.pwrite(self._fd, view, offset)
            view, offset = view[n:], offset + n

    def finish(self, report: dict[str, Any]) -> Path:
        """Size the file to the whole scan, flush it and write the sidecar; returns its path."""
        os.ftruncate(self._fd, self.info.n_frames * self.frame_bytes)
        os.fsync(self._fd)
        os.close(self._fd)
        return write_recording_sidecar(self.folder, self.info, report)

    def abandon(self) -> None:
        """Close the file after a failure before :meth:`finish` (what was written stays)."""
        with contextlib.suppress(OSError):
            os.close(self._fd)


def write_recording_sidecar(
    folder: str | os.PathLike[str], info: StreamInfo, report: dict[str, Any]
) -> Path:
    """The sidecar of the recording in ``folder`` with the ledger's ``report``; returns its
    path. Also for a recording whose writer died (the live session's receiver process killed):
    ``frames.raw`` is first sized to the whole scan, frames never written reading as zeros and
    listed as missing in ``report``."""
    folder = Path(folder)
    dtype = info.recorded_dtype
    with open(folder / RAW_NAME, "r+b") as raw:
        size = info.n_frames * info.frame_size * dtype.itemsize
        if os.fstat(raw.fileno()).st_size != size:
            raw.truncate(size)
        os.fsync(raw.fileno())
    sidecar = folder / SIDECAR_NAME
    write_sidecar(
        sidecar,
        {
            "dtype": dtype.str,
            "nav_shape": list(info.nav_shape),
            "sig_shape": list(info.sig_shape),
            "path": RAW_NAME,
            "offset": 0,
            "source": {"format": "live", "detector": info.detector},
            "metadata": {**info.metadata, "live": report},
        },
    )
    return sidecar
