"""DECTRIS live reception against LiberTEM-live's simulator (SIMPLON + zmq) replaying streams
recorded from the real Arina file and from generated frames."""

from __future__ import annotations

import time
from pathlib import Path

import h5py
import hdf5plugin  # noqa: F401 - the Arina file's bitshuffle/LZ4
import lz4.block
import numpy as np
import pytest

from apps.core.io import open_dataset
from apps.core.live.bslz4 import decode_frame
from apps.core.live.dectris import DectrisSource
from apps.core.live.session import receive
from apps.core.live.stream import StreamError
from tests.core.live.test_live_merlin import (
    assert_same_results,
    file_results,
    receive_until_stopped,
)
from tests.dectris_capture import bslz4_capture, bslz4_chunks, stored_chunks, write_capture
from tests.simulators import Simulators


def source(sim: object, nav_shape: tuple[int, ...], **kw: object) -> DectrisSource:
    ports = sim.ports  # type: ignore[attr-defined]
    return DectrisSource(
        host="127.0.0.1",
        api_port=ports["api"],
        zmq_port=ports["zmq"],
        nav_shape=nav_shape,
        first_timeout=120.0,
        **{"timeout": 20.0, **kw},  # type: ignore[arg-type]
    )


@pytest.mark.parametrize("dtype", ["<u4", "<u2", "u1"])
def test_bitshuffle_lz4_frames_decode_like_hdf5plugin(tmp_path: Path, dtype: str) -> None:
    rng = np.random.default_rng(3)
    # 37 x 29 pixels: a last block of a few elements, and n % 8 elements stored plainly
    frames = rng.integers(0, 200, size=(3, 37, 29)).astype(dtype)
    for chunk, frame in zip(bslz4_chunks(frames, tmp_path), frames, strict=True):
        out = np.empty(frame.size, dtype=dtype)
        decode_frame(chunk, f"bs{8 * out.itemsize}-lz4<", out)
        np.testing.assert_array_equal(out.reshape(frame.shape), frame)


def test_a_frame_that_does_not_decompress_is_a_clear_error(tmp_path: Path) -> None:
    frames = np.arange(64, dtype="<u4").reshape(1, 8, 8)
    chunk = bslz4_chunks(frames, tmp_path)[0]
    with pytest.raises(StreamError, match="does not decompress"):
        decode_frame(chunk[:20], "bs32-lz4<", np.empty(64, "<u4"))
    with pytest.raises(StreamError, match="encoding 'jpeg' is not supported"):
        decode_frame(chunk, "jpeg", np.empty(64, "<u4"))


def test_block_sizes_past_the_frame_are_refused_before_decompressing(tmp_path: Path) -> None:
    frames = np.arange(3 * 64 * 64, dtype="<u4").reshape(3, 64, 64) % 251
    chunk = bytearray(bslz4_chunks(frames, tmp_path)[1])
    out = np.empty(64 * 64, "<u4")
    decode_frame(bytes(chunk), "bs32-lz4<", out)
    np.testing.assert_array_equal(out, frames[1].ravel())
    chunk[12:16] = (2**31).to_bytes(4, "big")  # the first block claims 2 GiB
    with pytest.raises(StreamError, match=r"do not describe 16384 bytes .* \(damaged or cut off\)"):
        decode_frame(bytes(chunk), "bs32-lz4<", out)
    with pytest.raises(StreamError, match="do not describe"):
        decode_frame(
            bytes(chunk[:8]) + (12).to_bytes(4, "big") + bytes(chunk[12:]), "bs32-lz4<", out
        )


def test_it_receives_the_real_arina_series_like_the_file_reader(
    simulators: Simulators, shared_testdata: Path, tmp_path: Path
) -> None:
    data = shared_testdata / "arina" / "test_00_data_000001.h5"
    with h5py.File(data, "r") as f:
        name = f"entry/data/{next(iter(f['entry/data']))}"
        n = f[name].shape[0]
    capture = write_capture(
        tmp_path / "arina.capture",
        stored_chunks(data, name),
        sig_shape=(192, 192),
        dtype="<u4",
    )
    sim = simulators.dectris(capture)
    specs = [("sum", {}), ("virtual", {"shape": "disk", "cx": 96, "cy": 96, "r": 30})]
    result = receive(source(sim, (4, 4)), specs, record=str(tmp_path / "rec"))
    assert n == 16
    assert result.report["state"] == "complete", result.report
    master = shared_testdata / "arina" / "test_00_master.h5"
    assert_same_results(result.results, file_results(master, (4, 4), specs))
    with h5py.File(data, "r") as f:
        frames = f[name][()]
    raw = Path(result.recording).parent / "frames.raw"
    assert raw.read_bytes() == frames.astype("<u4").tobytes()
    meta = open_dataset(result.recording).extra["metadata"]
    assert meta["stream_config"]["x_pixels_in_detector"] == 192
    assert meta["detector_config"]["count_time"] == 0.001


@pytest.mark.parametrize("dtype", ["<u2", "<u4"])
def test_generated_frames_arrive_bit_exact(
    simulators: Simulators, tmp_path: Path, dtype: str
) -> None:
    rng = np.random.default_rng(9)
    frames = rng.poisson(3.0, size=(24, 48, 40)).astype(dtype)
    frames[:, 20, 10] = 60000  # a hot pixel survives compression
    capture = bslz4_capture(tmp_path / "gen.capture", frames)
    sim = simulators.dectris(capture)
    specs = [("sum", {}), ("com", {"cx": 20, "cy": 24, "r": 15})]
    result = receive(source(sim, (4, 6)), specs, record=str(tmp_path / "rec"))
    assert result.report["state"] == "complete"
    np.testing.assert_array_equal(result.results[0]["sum"], frames.sum(axis=0))
    raw = np.fromfile(Path(result.recording).parent / "frames.raw", dtype=dtype)
    np.testing.assert_array_equal(raw.reshape(frames.shape), frames)
    recorded = open_dataset(result.recording)
    assert (recorded.nav_shape, recorded.dtype) == ((4, 6), np.dtype(dtype))
    assert_same_results(result.results, file_results(Path(result.recording), None, specs))


@pytest.mark.parametrize(("dtype", "encoding"), [("<u2", "lz4<"), ("<u4", "<"), ("u1", "bs8-lz4<")])
def test_every_encoding_the_simulator_replays_arrives_bit_exact(
    simulators: Simulators, tmp_path: Path, dtype: str, encoding: str
) -> None:
    """A DCU's ``compression`` ``lz4`` and ``none`` and 8-bit bitshuffle, one decompressing
    thread (the pool's other end)."""
    rng = np.random.default_rng(11)
    frames = rng.poisson(4.0, size=(10, 24, 20)).astype(dtype)
    if encoding == "lz4<":
        chunks = [lz4.block.compress(f.tobytes(), store_size=False) for f in frames]
    elif encoding == "<":
        chunks = [f.tobytes() for f in frames]
    else:
        chunks = bslz4_chunks(frames, tmp_path)
    capture = write_capture(
        tmp_path / "enc.capture", chunks, sig_shape=(24, 20), dtype=dtype, encoding=encoding
    )
    sim = simulators.dectris(capture)
    result = receive(
        source(sim, (2, 5), decode_threads=1), [("sum", {})], record=str(tmp_path / "rec")
    )
    assert result.report["state"] == "complete", result.report
    np.testing.assert_array_equal(result.results[0]["sum"], frames.sum(axis=0))
    assert (tmp_path / "rec" / "frames.raw").read_bytes() == frames.tobytes()


def test_a_frame_that_does_not_decompress_ends_the_series_after_the_frames_before(
    simulators: Simulators, tmp_path: Path
) -> None:
    rng = np.random.default_rng(6)
    frames = rng.poisson(5.0, size=(12, 16, 16)).astype("<u4")
    chunks = bslz4_chunks(frames, tmp_path)
    chunks[7] = chunks[7][:30]  # cut off in its first block
    capture = write_capture(tmp_path / "bad.capture", chunks, sig_shape=(16, 16), dtype="<u4")
    sim = simulators.dectris(capture)
    result = receive(source(sim, (3, 4)), [("sum", {})], record=str(tmp_path / "rec"))
    report = result.report
    assert report["state"] == "failed"
    assert "frame 7:" in report["error"] and "does not decompress" in report["error"]
    assert (report["frames_received"], report["truncated_after"]) == (7, 7)
    np.testing.assert_array_equal(result.results[0]["sum"], frames[:7].sum(axis=0))
    raw = (tmp_path / "rec" / "frames.raw").read_bytes()
    assert raw[: 7 * 16 * 16 * 4] == frames[:7].tobytes()


def test_a_lost_frame_is_reported_and_never_padded(simulators: Simulators, tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    frames = rng.integers(0, 100, size=(12, 16, 16)).astype("<u2")
    kept = [i for i in range(12) if i != 5]
    capture = bslz4_capture(tmp_path / "gap.capture", frames[kept], indices=kept)
    sim = simulators.dectris(capture)
    # the detector was configured for the 11 frames it sends: only arm it
    result = receive(
        source(sim, (3, 4), configure=False),
        [("virtual", {"shape": "point", "x": 3, "y": 4})],
        record=str(tmp_path / "rec"),
    )
    assert result.report["state"] == "incomplete"
    assert result.report["lost_ranges"] == [[5, 6]]
    point = result.results[0]["intensity"].ravel()
    assert np.isnan(point[5])
    np.testing.assert_array_equal(point[kept], frames[kept, 4, 3])
    meta = open_dataset(result.recording).extra["metadata"]["live"]
    assert (meta["lost_frames"], meta["frames_received"]) == (1, 11)


def test_a_simulator_killed_mid_series_keeps_what_arrived(
    simulators: Simulators, tmp_path: Path
) -> None:
    frames = np.arange(40 * 8 * 8, dtype="<u4").reshape(40, 8, 8) % 97
    capture = bslz4_capture(tmp_path / "slow.capture", frames)
    sim = simulators.dectris(capture, dwelltime_us=100_000)

    def kill(done: int, total: int, results: list) -> None:
        if done >= 4 and sim.process.poll() is None:
            sim.kill()

    src = source(sim, (5, 8), timeout=2.0)
    started = time.monotonic()
    result = receive(src, [("sum", {})], on_partial=kill, interval=0.05)
    assert time.monotonic() - started < 100
    report = result.report
    assert report["state"] == "failed" and "no data for 2 s" in report["error"]
    k = report["frames_received"]
    assert 4 <= k < 40 and report["truncated_after"] == k
    np.testing.assert_array_equal(result.results[0]["sum"], frames[:k].sum(axis=0))


def test_a_run_stopped_by_its_caller_ends_with_the_frames_decompressed_so_far(
    simulators: Simulators, tmp_path: Path
) -> None:
    rng = np.random.default_rng(13)
    frames = rng.poisson(6.0, size=(40, 12, 12)).astype("<u4")
    sim = simulators.dectris(bslz4_capture(tmp_path / "stop.capture", frames), dwelltime_us=50_000)
    result = receive_until_stopped(source(sim, (5, 8), decode_threads=2), frames, tmp_path)
    k = result.report["frames_received"]
    raw = (tmp_path / "rec" / "frames.raw").read_bytes()
    assert raw[: frames[:k].nbytes] == frames[:k].tobytes()
