"""``manage.py analyze``: results equal a numpy reference, JSON line, clear errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
from django.core.management import CommandError, call_command

from apps.core.io.raw import write_sidecar

ROOT = Path(__file__).resolve().parents[2]
NAV, SIG = (7, 13), (33, 47)


@pytest.fixture
def data(tmp_path: Path) -> np.ndarray:
    rng = np.random.default_rng(7)
    y, x = np.mgrid[: SIG[0], : SIG[1]]
    blob = 50 * np.exp(-((y - 12.0) ** 2 + (x - 30.0) ** 2) / 20)
    frames = rng.poisson(5 + blob + 0.3 * x, size=NAV + SIG).astype("<u2")
    frames += np.arange(np.prod(NAV), dtype="<u2").reshape(NAV)[..., None, None]
    return frames


@pytest.fixture
def sidecar(tmp_path: Path, data: np.ndarray) -> Path:
    data.tofile(tmp_path / "scan.raw")
    path = tmp_path / "scan.json"
    write_sidecar(
        path,
        {
            "dtype": "<u2",
            "nav_shape": list(NAV),
            "sig_shape": list(SIG),
            "path": "scan.raw",
            "offset": 0,
        },
    )
    return path


def analyze(*args: str, capsys: pytest.CaptureFixture[str]) -> dict:
    call_command("analyze", *args, "--quiet")
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def ring_ref(data: np.ndarray, cy: float, cx: float, ri: float, ro: float) -> np.ndarray:
    yy, xx = np.indices(SIG)
    d2 = (yy - cy) ** 2 + (xx - cx) ** 2
    mask = ((d2 > ri**2) & (d2 <= ro**2)).astype(np.float64)
    return np.einsum("abyx,yx->ab", data.astype(np.float64), mask)


def test_it_writes_a_ring_image_equal_to_numpy(
    sidecar: Path, data: np.ndarray, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "ring.npz"
    line = analyze(
        str(sidecar),
        "--analysis",
        "virtual",
        "--param",
        "shape=ring",
        "--param",
        "cx=23.5",
        "--param",
        "cy=15",
        "--param",
        "ri=4",
        "--param",
        "ro=14",
        "--out",
        str(out),
        capsys=capsys,
    )
    assert line["analysis"] == "virtual" and line["executor"] == "inline"
    assert line["results"] == {"intensity": list(NAV)}
    assert line["bytes"] == data.nbytes and line["GBps"] > 0
    ref = ring_ref(data, 15, 23.5, 4, 14)
    np.testing.assert_allclose(np.load(out)["intensity"], ref, rtol=1e-5 * 1, atol=1e-5 * ref.max())


def test_it_applies_a_scan_roi(
    sidecar: Path, data: np.ndarray, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    roi = np.zeros(NAV, dtype=bool)
    roi[2:5, 3:11] = True
    np.save(tmp_path / "roi.npy", roi)
    out = tmp_path / "sum.npz"
    analyze(
        str(sidecar),
        "--analysis",
        "sum",
        "--roi",
        str(tmp_path / "roi.npy"),
        "--out",
        str(out),
        capsys=capsys,
    )
    ref = data[roi].astype(np.float64)
    result = np.load(out)
    np.testing.assert_allclose(result["sum"], ref.sum(axis=0), rtol=1e-5)
    np.testing.assert_allclose(result["mean"], ref.mean(axis=0), rtol=1e-5)
    np.testing.assert_array_equal(result["max"], ref.max(axis=0))


def test_it_reads_hdf5_paths_and_uploaded_masks(
    tmp_path: Path, data: np.ndarray, capsys: pytest.CaptureFixture[str]
) -> None:
    with h5py.File(tmp_path / "scan.h5", "w") as f:
        f.create_dataset("/entry/data", data=data, chunks=(1, 5, 33, 47), compression="gzip")
        f.create_dataset("/entry/other", data=np.zeros((4, 4, 4)))
    rng = np.random.default_rng(3)
    masks = rng.random((3, *SIG)).astype(np.float32)
    np.save(tmp_path / "masks.npy", masks)
    out = tmp_path / "m.npz"
    analyze(
        f"{tmp_path / 'scan.h5'}:/entry/data",
        "--analysis",
        "masks",
        "--param",
        f"masks={tmp_path / 'masks.npy'}",
        "--out",
        str(out),
        capsys=capsys,
    )
    ref = np.einsum("abyx,myx->abm", data.astype(np.float64), masks.astype(np.float64))
    np.testing.assert_allclose(np.load(out)["masks"], ref, rtol=1e-5, atol=1e-5 * ref.max())


@pytest.mark.slow
def test_it_runs_on_a_local_dask_cluster(sidecar: Path, data: np.ndarray, tmp_path: Path) -> None:
    out = tmp_path / "com.npz"
    proc = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "analyze",
            str(sidecar),
            "--analysis",
            "virtual",
            "--param",
            "shape=disk",
            "--param",
            "cx=30",
            "--param",
            "cy=12",
            "--param",
            "r=6",
            "--executor",
            "local",
            "--out",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stderr
    line = json.loads(proc.stdout.strip().splitlines()[-1])
    assert line["executor"] == "local"
    assert "100.0%" in proc.stderr  # the progress bar reached the end
    yy, xx = np.indices(SIG)
    mask = ((yy - 12) ** 2 + (xx - 30) ** 2 <= 36).astype(np.float64)
    ref = np.einsum("abyx,yx->ab", data.astype(np.float64), mask)
    np.testing.assert_allclose(np.load(out)["intensity"], ref, rtol=1e-5)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--analysis", "nonsense"], "unknown analysis 'nonsense'"),
        (
            [
                "--analysis",
                "virtual",
                "--param",
                "shape=disk",
                "--param",
                "cx=3",
                "--param",
                "cy=3",
            ],
            "r",
        ),
        (
            [
                "--analysis",
                "virtual",
                "--param",
                "shape=disk",
                "--param",
                "cx=NaN",
                "--param",
                "cy=3",
                "--param",
                "r=2",
            ],
            "cx",
        ),
        (["--analysis", "sum", "--executor", "gpu"], "--executor"),
        (["--analysis", "sum", "--param", "novalue"], "KEY=VALUE"),
        (
            ["--analysis", "sum", "--param", "roi=" + "[" * 5000 + "]" * 5000],
            "--param roi: the value is nested more than 16 levels deep.",
        ),
    ],
)
def test_it_refuses_bad_parameters_with_one_clear_line(
    sidecar: Path, args: list[str], message: str
) -> None:
    with pytest.raises(CommandError, match=message):
        call_command("analyze", str(sidecar), *args, "--quiet")


def test_it_refuses_a_mask_stack_and_roi_of_the_wrong_shape(sidecar: Path, tmp_path: Path) -> None:
    np.save(tmp_path / "bad_masks.npy", np.ones((2, 10, 10), dtype=np.float32))
    with pytest.raises(CommandError, match="masks"):
        call_command(
            "analyze",
            str(sidecar),
            "--analysis",
            "masks",
            "--param",
            f"masks={tmp_path / 'bad_masks.npy'}",
            "--quiet",
        )
    np.save(tmp_path / "bad_roi.npy", np.ones((13, 7), dtype=bool))
    with pytest.raises(CommandError, match=r"roi.*\[7, 13\]"):
        call_command(
            "analyze",
            str(sidecar),
            "--analysis",
            "sum",
            "--roi",
            str(tmp_path / "bad_roi.npy"),
            "--quiet",
        )


def test_it_exits_non_zero_with_one_line_on_stderr(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "manage.py", "analyze", str(tmp_path / "missing.h5"), "--analysis", "sum"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode != 0
    assert "missing.h5" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_params_nested_as_deep_as_the_api_allows_are_taken() -> None:
    from apps.jobs.management.commands.analyze import parse_param

    assert parse_param("p=" + "[" * 16 + "2" + "]" * 16) == ("p", [[[[[[[[[[[[[[[[2]]]]]]]]]]]]]]]])
    with pytest.raises(CommandError, match="--param p: the value is nested more than 16 levels"):
        parse_param("p=" + "{" * 17 + "}" * 17)
