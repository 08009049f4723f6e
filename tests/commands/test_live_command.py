"""``manage.py live merlin``: one acquisition from the simulator, results as ``analyze`` writes
them for the same file, a recording inside the data roots only, one JSON line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from apps.core.io import open_dataset
from tests.dectris_capture import bslz4_capture
from tests.merlin_files import write_hdr, write_mib
from tests.simulators import Simulators

RING = ["--param", "shape=ring", "--param", "cx=32", "--param", "cy=32"]


@pytest.fixture
def acquisition(tmp_path: Path) -> tuple[Path, np.ndarray]:
    """A 12-bit 4 x 6 scan of 64 x 64 frames, as the Merlin software writes it."""
    rng = np.random.default_rng(24)
    frames = rng.integers(0, 4096, size=(24, 64, 64), dtype=np.uint16)
    write_mib(tmp_path / "scan.mib", frames)
    write_hdr(tmp_path / "scan.hdr", 24, 6)
    return tmp_path / "scan.hdr", frames


def live(sim: object, *args: str, capsys: pytest.CaptureFixture[str]) -> dict:
    ports = sim.ports  # type: ignore[attr-defined]
    try:
        call_command(
            "live",
            "merlin",
            "--host=127.0.0.1",
            f"--data-port={ports['data']}",
            f"--control-port={ports['control']}",
            "--first-timeout=120",
            *args,
        )
    finally:
        out = capsys.readouterr().out.strip()
    return json.loads(out.splitlines()[-1])


def test_it_writes_what_analyze_writes_for_the_file(
    simulators: Simulators,
    acquisition: tuple[Path, np.ndarray],
    tmp_path: Path,
    settings: object,
    capsys: pytest.CaptureFixture[str],
) -> None:
    hdr, frames = acquisition
    settings.DATA_ROOTS = [str(tmp_path)]  # type: ignore[attr-defined]
    sim = simulators.merlin(hdr, nav_shape=(4, 6))
    line = live(
        sim,
        "--nav-shape", "4", "6",
        "--analysis", "virtual", *RING, "--param", "ri=5", "--param", "ro=25",
        "--record", str(tmp_path / "rec"),
        "--out", str(tmp_path / "live.npz"),
        capsys=capsys,
    )  # fmt: skip
    assert line["state"] == "complete"
    assert (line["frames"], line["lost_frames"], line["frames_expected"]) == (24, 0, 24)
    assert line["seconds"] > 0 and line["frames_per_second"] > 0

    call_command(
        "analyze", str(hdr), "--analysis", "virtual", *RING, "--param", "ri=5",
        "--param", "ro=25", "--out", str(tmp_path / "file.npz"), "--quiet",
    )  # fmt: skip
    with np.load(tmp_path / "live.npz") as got, np.load(tmp_path / "file.npz") as want:
        assert got.files == want.files == ["intensity"]
        np.testing.assert_array_equal(got["intensity"], want["intensity"])
    recorded = open_dataset(line["record"])
    assert (recorded.nav_shape, recorded.dtype) == ((4, 6), np.dtype(">u2"))
    assert (tmp_path / "rec" / "frames.raw").read_bytes() == frames.astype(">u2").tobytes()


def test_several_analyses_at_once_keep_their_own_parameters(
    simulators: Simulators,
    acquisition: tuple[Path, np.ndarray],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    hdr, frames = acquisition
    sim = simulators.merlin(hdr, nav_shape=(4, 6))
    line = live(
        sim,
        "--nav-shape", "4", "6",
        "--analysis", "sum",
        "--analysis", "virtual", "--param", "shape=disk", "--param", "cx=10",
        "--param", "cy=50", "--param", "r=3",
        "--analysis", "virtual", "--param", "shape=point", "--param", "x=1", "--param", "y=2",
        "--out", str(tmp_path / "all.npz"),
        capsys=capsys,
    )  # fmt: skip
    assert line["analyses"] == ["sum", "virtual", "virtual"]
    with np.load(tmp_path / "all.npz") as got:
        np.testing.assert_array_equal(got["sum.sum"], frames.sum(axis=0))
        yy, xx = np.mgrid[:64, :64]
        disk = (yy - 50) ** 2 + (xx - 10) ** 2 <= 9
        np.testing.assert_array_equal(got["virtual.intensity"].ravel(), frames[:, disk].sum(axis=1))
        np.testing.assert_array_equal(got["virtual2.intensity"].ravel(), frames[:, 2, 1])


def test_dectris_writes_what_analyze_writes_for_the_recording(
    simulators: Simulators, tmp_path: Path, settings: object, capsys: pytest.CaptureFixture[str]
) -> None:
    settings.DATA_ROOTS = [str(tmp_path)]  # type: ignore[attr-defined]
    rng = np.random.default_rng(25)
    frames = rng.poisson(2.0, size=(12, 32, 32)).astype("<u2")
    capture = bslz4_capture(tmp_path / "s.capture", frames)
    sim = simulators.dectris(capture)
    call_command(
        "live", "dectris", "--host=127.0.0.1", f"--api-port={sim.ports['api']}",
        f"--zmq-port={sim.ports['zmq']}", "--first-timeout=120", "--nav-shape", "3", "4",
        "--analysis", "com", "--param", "cx=16", "--param", "cy=16", "--param", "r=10",
        "--record", "rec", "--out", str(tmp_path / "live.npz"),
    )  # fmt: skip
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (line["detector"], line["state"], line["frames"]) == ("dectris", "complete", 12)
    assert line["record"] == str(tmp_path / "rec" / "acquisition.json")
    call_command(
        "analyze", line["record"], "--analysis", "com", "--param", "cx=16", "--param", "cy=16",
        "--param", "r=10", "--out", str(tmp_path / "file.npz"), "--quiet",
    )  # fmt: skip
    with np.load(tmp_path / "live.npz") as got, np.load(tmp_path / "file.npz") as want:
        assert got.files == want.files
        for name in want.files:
            np.testing.assert_array_equal(got[name], want[name])
    assert (tmp_path / "rec" / "frames.raw").read_bytes() == frames.tobytes()


def test_it_refuses_a_recording_outside_the_data_roots(tmp_path: Path, settings: object) -> None:
    settings.DATA_ROOTS = [str(tmp_path / "data")]  # type: ignore[attr-defined]
    (tmp_path / "data").mkdir()
    with pytest.raises(CommandError, match=r"--record: .*outside the data folders"):
        call_command(
            "live", "merlin", "--host=127.0.0.1", "--data-port=1", "--nav-shape", "2", "2",
            "--analysis", "sum", "--record", str(tmp_path / "elsewhere"),
        )  # fmt: skip


def test_a_folder_holding_a_recording_is_refused_before_arming(
    tmp_path: Path, settings: object
) -> None:
    settings.DATA_ROOTS = [str(tmp_path)]  # type: ignore[attr-defined]
    (tmp_path / "rec").mkdir()
    (tmp_path / "rec" / "acquisition.json").write_text("{}")
    # port 1: nothing listens; the folder is refused before any connection is tried
    with pytest.raises(CommandError, match="already holds a recording"):
        call_command(
            "live", "merlin", "--host=127.0.0.1", "--data-port=1", "--nav-shape", "2", "2",
            "--analysis", "sum", "--record", "rec",
        )  # fmt: skip


def test_a_param_before_any_analysis_is_refused() -> None:
    with pytest.raises(CommandError, match="comes before any --analysis"):
        call_command(
            "live", "merlin", "--host=h", "--nav-shape", "2", "--param", "r=1",
            "--analysis", "sum",
        )  # fmt: skip
