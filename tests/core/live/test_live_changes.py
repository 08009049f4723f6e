"""receive() with a source in memory: an analysis changed or added mid-scan is computed over
the recording so far (only the frames that arrived) and continues live; a stop that comes
once the scan's last frame is in leaves the scan complete."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from apps.core.live.session import receive
from apps.core.live.stream import DetectorSource, FrameBlock, FrameLedger, StreamInfo

SIG = (8, 8)


class Blocks(DetectorSource):
    """Hands out ``frames`` ``(n, 64)`` as the blocks ``[start, stop)`` given (gaps: lost)."""

    def __init__(self, frames: np.ndarray, blocks: list[tuple[int, int]]) -> None:
        self.frames = frames
        self.ranges = blocks

    def start(self) -> StreamInfo:
        return StreamInfo(
            detector="test",
            nav_shape=(len(self.frames),),
            sig_shape=SIG,
            dtype=np.dtype("<u2"),
            source_dtype=np.dtype(">u2"),
        )

    def blocks(self) -> Iterator[FrameBlock]:
        for a, b in self.ranges:
            native = self.frames[a:b]
            yield FrameBlock(a, native, source=native.astype(">u2"))

    def stop(self) -> None:
        pass

    def close(self) -> None:
        pass


def frames(n: int) -> np.ndarray:
    return np.random.default_rng(5).integers(0, 4096, size=(n, 64), dtype=np.uint16)


def test_a_changed_analysis_catches_up_over_the_frames_that_arrived(tmp_path: Path) -> None:
    data = frames(12)
    # frames 4 and 5 are lost; the change comes after the second block
    source = Blocks(data, [(0, 4), (6, 8), (8, 12)])
    calls: list[int] = []

    def changes(ledger: FrameLedger) -> list:
        calls.append(ledger.received)
        if len(calls) == 2:
            return [(0, ("virtual", {"shape": "disk", "cx": 2, "cy": 3, "r": 2})), (1, ("sum", {}))]
        return []

    result = receive(
        source,
        [("virtual", {"shape": "disk", "cx": 5, "cy": 5, "r": 1})],
        record=str(tmp_path / "rec"),
        changes=changes,
    )
    assert calls == [4, 6, 10]
    arrived = [0, 1, 2, 3, 6, 7, 8, 9, 10, 11]
    yy, xx = np.mgrid[:8, :8]
    disk = ((yy - 3) ** 2 + (xx - 2) ** 2 <= 4).ravel()
    intensity = result.results[0]["intensity"]
    np.testing.assert_array_equal(intensity[arrived], data[arrived][:, disk].sum(axis=1))
    assert np.isnan(intensity[[4, 5]]).all()
    np.testing.assert_array_equal(result.results[1]["sum"].ravel(), data[arrived].sum(axis=0))
    assert result.report["lost_ranges"] == [[4, 6]]


def test_a_stop_after_the_last_frame_leaves_the_scan_complete(tmp_path: Path) -> None:
    data = frames(6)
    result = receive(
        Blocks(data, [(0, 6)]),
        [("sum", {})],
        record=str(tmp_path / "rec"),
        should_stop=lambda: True,
    )
    assert result.report["state"] == "complete" and result.report["error"] is None
    stopped = receive(
        Blocks(data, [(0, 3), (3, 6)]),
        [("sum", {})],
        record=str(tmp_path / "rec2"),
        should_stop=lambda: True,
    )
    assert stopped.report["state"] == "stopped" and stopped.report["frames_received"] == 3
