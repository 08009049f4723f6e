"""Merlin live reception against LiberTEM-live's simulator replaying real and generated files:
results equal the file reader's run, the recording equals the source frames, lost and
truncated streams are reported, nothing hangs."""

from __future__ import annotations

import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from apps.core.analyses import make_analysis
from apps.core.executor import InlineExecutor
from apps.core.io import open_dataset
from apps.core.live.merlin import MerlinSource
from apps.core.live.session import LiveResult, receive
from apps.core.live.stream import DetectorSource, StreamError
from tests.merlin_files import encode_r64, numpy_read, write_hdr, write_mib
from tests.simulators import Simulators

RING = ("virtual", {"shape": "ring", "cx": 128, "cy": 128, "ri": 20, "ro": 90})
ANALYSES = [("sum", {}), RING, ("com", {"cx": 128, "cy": 128, "r": 60})]


@pytest.fixture
def merlin_files(shared_testdata: Path, tmp_path: Path) -> Path:
    root = tmp_path / "merlin"
    for name in ("Merlin_Single_Quad", "Merlin_navigation4x2_ROI"):
        with zipfile.ZipFile(shared_testdata / "merlin" / f"{name}.zip") as z:
            z.extractall(root / name)
    return root


def source(sim: object, nav_shape: tuple[int, ...], **kw: object) -> MerlinSource:
    ports = sim.ports  # type: ignore[attr-defined]
    return MerlinSource(
        host="127.0.0.1",
        data_port=ports["data"],
        control_port=ports["control"],
        nav_shape=nav_shape,
        timeout=kw.pop("timeout", 20.0),  # type: ignore[arg-type]
        first_timeout=120.0,
        **kw,  # type: ignore[arg-type]
    )


def file_results(path: Path, nav_shape: tuple[int, ...] | None, specs: list) -> list[dict]:
    """The results of the file reader's run (``nav_shape`` None: the file's own)."""
    params = None if nav_shape is None else {"nav_shape": list(nav_shape)}
    ds = open_dataset(str(path), params=params)
    out = []
    for name, params in specs:
        analysis = make_analysis(
            name, params, nav_shape=ds.nav_shape, sig_shape=ds.sig_shape, dtype=ds.dtype
        )
        out.append(InlineExecutor().run(ds, analysis).results)
    return out


def assert_same_results(live: list[dict], files: list[dict]) -> None:
    for got, want in zip(live, files, strict=True):
        assert got.keys() == want.keys()
        for key in want:
            scale = max(float(np.nanmax(np.abs(want[key]))), 1e-30)
            np.testing.assert_allclose(got[key], want[key], rtol=0, atol=1e-5 * scale)


@pytest.mark.parametrize(
    ("name", "nav_shape"),
    [
        ("Merlin_navigation4x2_ROI/001_4x2_6bit", (4, 2)),  # U08, 6-bit counters
        ("Merlin_Single_Quad/Single_9_Frame_CounterDepth_12_Rows_256", (3, 3)),  # U16
        ("Merlin_Single_Quad/Quad_9_Frame_CounterDepth_24_Rows_256", (9,)),  # U32, quad 512x512
        ("Merlin_Single_Quad/Single_9_Frame_CounterDepth_1_Rows_256RAW", (3, 3)),  # RAW 1-bit
    ],
)
def test_it_receives_real_merlin_files_like_the_file_reader(
    simulators: Simulators, merlin_files: Path, tmp_path: Path, name: str, nav_shape: tuple
) -> None:
    hdr = merlin_files / f"{name}.hdr"
    sim = simulators.merlin(hdr, nav_shape=nav_shape)
    specs = ANALYSES if "Quad" not in name else [("sum", {}), RING]
    result = receive(source(sim, nav_shape), specs, record=str(tmp_path / "rec"))

    assert result.report["state"] == "complete", result.report
    assert result.report["frames_received"] == int(np.prod(nav_shape))
    assert_same_results(result.results, file_results(hdr, nav_shape, specs))
    # the recording holds the source frames: byte for byte the pixels of the .mib file
    frames, kind = numpy_read(merlin_files / f"{name}.mib")
    recorded = open_dataset(result.recording)
    assert recorded.nav_shape == nav_shape
    raw = np.fromfile(Path(result.recording).parent / "frames.raw", dtype=recorded.dtype)
    n = int(np.prod(nav_shape))
    if kind == "R64":
        np.testing.assert_array_equal(raw.reshape(frames[:n].shape), frames[:n])
    else:
        assert raw.tobytes() == frames[:n].tobytes()
    assert recorded.extra["metadata"]["live"]["state"] == "complete"
    assert recorded.extra["metadata"]["pixel_type"] == kind


def test_it_reports_lost_frames_and_records_them_as_lost(
    simulators: Simulators, tmp_path: Path
) -> None:
    # a 12-bit acquisition of 8 frames whose frame with sequence number 4 never came
    rng = np.random.default_rng(4)
    frames = rng.integers(0, 4096, size=(8, 64, 64), dtype=np.uint16)
    folder = tmp_path / "gap"
    folder.mkdir()
    write_mib(folder / "head.mib", frames[:3])
    write_mib(folder / "tail.mib", frames[4:], first=5)
    joined = (folder / "head.mib").read_bytes() + (folder / "tail.mib").read_bytes()
    (folder / "head.mib").unlink()
    (folder / "tail.mib").unlink()
    (folder / "gap.mib").write_bytes(joined)
    write_hdr(folder / "gap.hdr", 8, 8)
    sim = simulators.merlin(folder / "gap.hdr", nav_shape=(7,))
    specs = [("virtual", {"shape": "disk", "cx": 32, "cy": 32, "r": 20})]
    result = receive(source(sim, (8,)), specs, record=str(tmp_path / "rec"))

    assert result.report["state"] == "incomplete"
    assert result.report["lost_ranges"] == [[3, 4]]
    assert result.report["frames_received"] == 7
    intensity = result.results[0]["intensity"]
    assert np.isnan(intensity[3])  # never padded with a made-up value
    yy, xx = np.mgrid[:64, :64]
    disk = (yy - 32) ** 2 + (xx - 32) ** 2 <= 400
    kept = [0, 1, 2, 4, 5, 6, 7]
    np.testing.assert_allclose(intensity[kept], frames[kept][:, disk].sum(axis=1), rtol=1e-6)
    recorded = open_dataset(result.recording)
    assert recorded.extra["metadata"]["live"]["lost_ranges"] == [[3, 4]]


def test_a_connection_dropped_mid_scan_keeps_what_arrived(
    simulators: Simulators, tmp_path: Path
) -> None:
    rng = np.random.default_rng(7)
    frames = rng.integers(0, 4096, size=(40, 32, 32), dtype=np.uint16)
    write_mib(tmp_path / "slow.mib", frames)
    write_hdr(tmp_path / "slow.hdr", 40, 8)
    # 0.1 s a frame: the simulator is killed while the scan runs
    sim = simulators.merlin(tmp_path / "slow.hdr", nav_shape=(5, 8), dwelltime_us=100_000)
    src = source(sim, (5, 8))
    seen: list[int] = []

    def kill_when_frames_arrive(done: int, total: int, results: list) -> None:
        seen.append(done)
        if done >= 5 and sim.process.poll() is None:
            sim.kill()

    started = time.monotonic()
    result = receive(
        src,
        [("sum", {})],
        record=str(tmp_path / "rec"),
        on_partial=kill_when_frames_arrive,
        interval=0.05,
    )
    assert time.monotonic() - started < 100  # ended, did not hang
    report = result.report
    assert report["state"] == "failed"
    assert "after" in report["error"] and "of 40 frames" in report["error"]
    k = report["frames_received"]
    assert 5 <= k < 40 and report["truncated_after"] == k
    np.testing.assert_array_equal(result.results[0]["sum"], frames[:k].sum(axis=0))
    raw = np.fromfile(Path(result.recording).parent / "frames.raw", dtype=">u2")
    assert raw[: k * 1024].tobytes() == frames[:k].astype(">u2").tobytes()
    assert open_dataset(result.recording).extra["metadata"]["live"]["state"] == "failed"


def test_raw_12_bit_frames_are_decoded_like_the_file_reader(
    simulators: Simulators, tmp_path: Path
) -> None:
    rng = np.random.default_rng(12)
    frames = rng.integers(0, 4096, size=(6, 64, 64), dtype=np.uint16)
    write_mib(tmp_path / "raw12.mib", frames, kind="R64", depth=12)
    write_hdr(tmp_path / "raw12.hdr", 6, 3)
    assert encode_r64(frames[0], 12)  # the layout the file reader decodes
    sim = simulators.merlin(tmp_path / "raw12.hdr", nav_shape=(2, 3))
    result = receive(source(sim, (2, 3)), [("sum", {})], record=str(tmp_path / "rec"))
    assert result.report["state"] == "complete"
    np.testing.assert_array_equal(result.results[0]["sum"], frames.sum(axis=0))
    recorded = open_dataset(result.recording)
    assert recorded.dtype == np.dtype("<u2")
    raw = np.fromfile(Path(result.recording).parent / "frames.raw", dtype="<u2")
    np.testing.assert_array_equal(raw.reshape(frames.shape), frames)


def test_a_silent_detector_ends_with_a_clear_error(tmp_path: Path) -> None:
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    src = MerlinSource(
        host="127.0.0.1", data_port=port, control_port=None, nav_shape=(2, 2), first_timeout=0.5
    )
    with pytest.raises(StreamError, match=r"no data for 0\.5 s before the first frame"):
        receive(src, [("sum", {})])
    listener.close()


def test_a_run_stopped_by_its_caller_ends_at_once_with_what_arrived(
    simulators: Simulators, tmp_path: Path
) -> None:
    rng = np.random.default_rng(8)
    frames = rng.integers(0, 4096, size=(40, 16, 16), dtype=np.uint16)
    write_mib(tmp_path / "stop.mib", frames)
    write_hdr(tmp_path / "stop.hdr", 40, 8)
    sim = simulators.merlin(tmp_path / "stop.hdr", nav_shape=(5, 8), dwelltime_us=100_000)
    result = receive_until_stopped(source(sim, (5, 8)), frames, tmp_path)
    assert open_dataset(result.recording).extra["metadata"]["live"]["state"] == "stopped"


def receive_until_stopped(src: DetectorSource, frames: np.ndarray, tmp_path: Path) -> LiveResult:
    """``receive`` the sum of a 5 x 8 scan of ``frames`` that its caller stops once partial
    results of 3 frames came: ended ``stopped`` with the frames so far."""
    partials: list[int] = []
    result = receive(
        src,
        [("sum", {})],
        record=str(tmp_path / "rec"),
        on_partial=lambda done, total, results: partials.append(done),
        interval=0.05,
        should_stop=lambda: bool(partials) and partials[-1] >= 3,
    )
    report = result.report
    assert report["state"] == "stopped"
    k = report["frames_received"]
    assert 3 <= k < 40 and report["truncated_after"] == k
    assert partials == sorted(partials) and partials[-1] == k
    np.testing.assert_array_equal(result.results[0]["sum"], frames[:k].sum(axis=0))
    return result
