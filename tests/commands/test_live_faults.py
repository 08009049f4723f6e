"""``manage.py live`` when the acquisition goes wrong: the detector dropping mid-scan (its
simulator killed), a series that ends before the scan's last frame, a stream that skips a
frame. The JSON line says ``failed`` or ``incomplete``, the results and the recording keep
what arrived (never padded), and the command ends (timeouts, never a hang)."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from apps.core.io import open_dataset
from tests.dectris_capture import bslz4_capture
from tests.merlin_files import write_hdr, write_mib
from tests.simulators import Simulator, Simulators


def dectris(sim: Simulator, *args: str) -> None:
    call_command(
        "live", "dectris", "--host=127.0.0.1", f"--api-port={sim.ports['api']}",
        f"--zmq-port={sim.ports['zmq']}", "--first-timeout=120", *args,
    )  # fmt: skip


def json_line(capsys: pytest.CaptureFixture[str]) -> dict:
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def kill_when_recorded(sim: Simulator, raw: Path, nbytes: int) -> threading.Thread:
    """Kills the simulator once ``raw`` holds ``nbytes`` (frames arrived and were recorded),
    as a detector's link dropping mid-scan."""

    def watch() -> None:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and sim.process.poll() is None:
            if raw.exists() and raw.stat().st_size >= nbytes:
                sim.kill()
                return
            time.sleep(0.02)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def test_the_detector_dropping_mid_scan_fails_with_what_arrived_kept(
    simulators: Simulators, tmp_path: Path, settings: object, capsys: pytest.CaptureFixture[str]
) -> None:
    settings.DATA_ROOTS = [str(tmp_path)]  # type: ignore[attr-defined]
    frames = (np.arange(40 * 8 * 8, dtype="<u4").reshape(40, 8, 8) * 7) % 101
    capture = bslz4_capture(tmp_path / "slow.capture", frames)
    sim = simulators.dectris(capture, dwelltime_us=100_000)  # 4 s for the scan
    watcher = kill_when_recorded(sim, tmp_path / "rec" / "frames.raw", 4 * frames[0].nbytes)
    with pytest.raises(CommandError, match=r"ended early: .*no data for 2 s after"):
        dectris(
            sim, "--nav-shape", "5", "8", "--timeout=2", "--analysis", "sum",
            "--record", "rec", "--out", str(tmp_path / "live.npz"),
        )  # fmt: skip
    watcher.join(timeout=10)
    line = json_line(capsys)
    k = line["frames"]
    assert line["state"] == "failed" and 4 <= k < 40, line
    assert (line["truncated_after"], line["lost_frames"]) == (k, 0)
    with np.load(tmp_path / "live.npz") as got:
        np.testing.assert_array_equal(got["sum"], frames[:k].sum(axis=0))
    raw = (tmp_path / "rec" / "frames.raw").read_bytes()
    assert len(raw) == frames.nbytes  # the scan's size: the frames that never came are zero
    assert raw[: k * 256] == frames[:k].tobytes() and not any(raw[k * 256 :])
    live = open_dataset(line["record"]).extra["metadata"]["live"]
    assert (live["state"], live["frames_received"], live["truncated_after"]) == ("failed", k, k)


def test_a_series_that_ends_before_the_scan_does_is_truncated(
    simulators: Simulators, tmp_path: Path, settings: object, capsys: pytest.CaptureFixture[str]
) -> None:
    settings.DATA_ROOTS = [str(tmp_path)]  # type: ignore[attr-defined]
    rng = np.random.default_rng(31)
    frames = rng.poisson(3.0, size=(20, 16, 16)).astype("<u2")
    capture = bslz4_capture(tmp_path / "short.capture", frames)
    sim = simulators.dectris(capture)
    # the detector is set up for 20 frames, the scan has 24: only arm it
    with pytest.raises(CommandError, match="series ended after frame 19 of 24 frames"):
        dectris(
            sim, "--nav-shape", "4", "6", "--no-configure", "--analysis", "virtual",
            "--param", "shape=point", "--param", "x=3", "--param", "y=2",
            "--record", "rec", "--out", str(tmp_path / "live.npz"),
        )  # fmt: skip
    line = json_line(capsys)
    assert (line["state"], line["frames"], line["truncated_after"]) == ("failed", 20, 20)
    with np.load(tmp_path / "live.npz") as got:
        point = got["intensity"].ravel()
    np.testing.assert_array_equal(point[:20], frames[:, 2, 3])
    assert np.isnan(point[20:]).all()  # never padded
    raw = np.fromfile(tmp_path / "rec" / "frames.raw", dtype="<u2").reshape(24, 16, 16)
    np.testing.assert_array_equal(raw[:20], frames)


def test_a_stream_that_skips_a_frame_is_incomplete_and_succeeds(
    simulators: Simulators, tmp_path: Path, settings: object, capsys: pytest.CaptureFixture[str]
) -> None:
    settings.DATA_ROOTS = [str(tmp_path)]  # type: ignore[attr-defined]
    rng = np.random.default_rng(32)
    frames = rng.integers(0, 4096, size=(12, 32, 32), dtype=np.uint16)
    kept = [i for i in range(12) if i != 4]
    write_mib(tmp_path / "gap.mib", frames[:4])
    tail = tmp_path / "tail.mib"
    write_mib(tail, frames[5:], first=6)
    with open(tmp_path / "gap.mib", "ab") as f:
        f.write(tail.read_bytes())
    tail.unlink()
    write_hdr(tmp_path / "gap.hdr", 12, 4)
    sim = simulators.merlin(tmp_path / "gap.hdr", nav_shape=(11,))
    call_command(
        "live", "merlin", "--host=127.0.0.1", f"--data-port={sim.ports['data']}",
        f"--control-port={sim.ports['control']}", "--first-timeout=120", "--timeout=20",
        "--nav-shape", "3", "4", "--analysis", "sum", "--analysis", "virtual",
        "--param", "shape=point", "--param", "x=5", "--param", "y=6",
        "--record", "rec", "--out", str(tmp_path / "live.npz"),
    )  # fmt: skip
    line = json_line(capsys)
    assert line["state"] == "incomplete" and line["error"] is None
    assert (line["frames"], line["lost_frames"], line["truncated_after"]) == (11, 1, None)
    with np.load(tmp_path / "live.npz") as got:
        np.testing.assert_array_equal(got["sum.sum"], frames[kept].sum(axis=0))
        point = got["virtual.intensity"].ravel()
    assert np.isnan(point[4])
    np.testing.assert_array_equal(point[kept], frames[kept, 6, 5])
    raw = np.fromfile(tmp_path / "rec" / "frames.raw", dtype=">u2").reshape(12, 32, 32)
    np.testing.assert_array_equal(raw[kept], frames[kept])
    assert not raw[4].any()
    live = open_dataset(line["record"]).extra["metadata"]["live"]
    assert (live["state"], live["lost_ranges"]) == ("incomplete", [[4, 5]])
