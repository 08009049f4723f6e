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

from apps.core.analyses import make_analysis
from apps.core.executor import InlineExecutor
from apps.core.io import open_dataset
from apps.core.io.raw import write_sidecar
from tests.core.analyses.bragg_frames import SMALL, write_strained_scan

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


def test_it_maps_strain_of_a_lattice_scan(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    known = write_strained_scan(tmp_path / "lattice.npy", SMALL, (4, 5), dose=300)
    lattice = {**SMALL.params(), "search": 2.0, "ref_y": 0, "ref_x": 0, "ref_height": 4}
    out = tmp_path / "strain.npz"
    args = [f"{k}={v}" for k, v in {"reference": "region", **lattice}.items()]
    line = analyze(
        str(tmp_path / "lattice.npy"),
        "--analysis",
        "strain",
        *(x for arg in args for x in ("--param", arg)),
        "--out",
        str(out),
        capsys=capsys,
    )
    assert line["results"]["exx"] == [4, 5] and len(line["results"]) == 12
    ds = open_dataset(str(tmp_path / "lattice.npy"))
    analysis = make_analysis(
        "strain",
        {"reference": "region", **lattice},
        nav_shape=ds.nav_shape,
        sig_shape=ds.sig_shape,
        dtype=ds.dtype,
    )
    core = InlineExecutor().run(ds, analysis).results
    stored = np.load(out)
    for name, want in core.items():
        np.testing.assert_array_equal(stored[name], want, err_msg=name)
    # 9 disks of a small noisy frame: each column's mean follows the known field (0 to 0.01)
    column_means = stored["exx"].mean(axis=0)
    np.testing.assert_allclose(column_means, known["exx"].mean(axis=0), rtol=0, atol=2e-3)


def test_it_writes_radial_fourier_coefficients_equal_to_numpy(
    sidecar: Path, data: np.ndarray, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "rf.npz"
    params = {"cx": 30.0, "cy": 12.0, "ri": 2.0, "ro": 11.0, "bins": 2, "max_order": 6}
    line = analyze(
        str(sidecar),
        "--analysis",
        "radial_fourier",
        *[arg for key, value in params.items() for arg in ("--param", f"{key}={value}")],
        "--out",
        str(out),
        capsys=capsys,
    )
    assert line["results"]["coefficients"] == [*NAV, 2, 7]
    yy, xx = np.indices(SIG)
    d = np.hypot(yy - 12.0, xx - 30.0)
    rings = np.stack([np.clip(2.75 - np.abs(d - r), 0, 1) for r in (4.25, 8.75)])  # w/2 + 1/2
    waves = np.exp(1j * np.arange(7)[:, None, None] * np.arctan2(yy - 12.0, xx - 30.0))
    ref = np.einsum("abyx,ryx,nyx->abrn", data.astype(np.float64), rings, waves)
    got = np.load(out)["coefficients"]
    assert np.abs(got - ref).max() <= 1e-5 * np.abs(ref).max()


def test_it_writes_pixel_statistics_equal_to_numpy(
    sidecar: Path, data: np.ndarray, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "stddev.npz"
    line = analyze(str(sidecar), "--analysis", "stddev", "--out", str(out), capsys=capsys)
    assert line["results"] == {"std": list(SIG), "var": list(SIG), "mean": list(SIG)}
    frames = data.reshape(-1, *SIG).astype(np.float64)
    result = np.load(out)
    np.testing.assert_allclose(result["std"], frames.std(axis=0), rtol=1e-12)
    np.testing.assert_allclose(result["var"], frames.var(axis=0), rtol=1e-12)
    np.testing.assert_allclose(result["mean"], frames.mean(axis=0), rtol=1e-12)


def test_it_writes_fem_maps_and_profile_equal_to_numpy(
    sidecar: Path, data: np.ndarray, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "fem.npz"
    params = {"cx": 29.5, "cy": 12.0, "ri": 3.0, "ro": 12.0, "bins": 3}
    line = analyze(
        str(sidecar),
        "--analysis",
        "fem",
        *[arg for key, value in params.items() for arg in ("--param", f"{key}={value}")],
        "--out",
        str(out),
        capsys=capsys,
    )
    assert line["results"] == {"std": list(NAV), "variance": [3], "radius": [3]}
    yy, xx = np.indices(SIG)
    d = np.hypot(yy - 12.0, xx - 29.5)
    frames = data.reshape(-1, *SIG).astype(np.float64)
    std = [np.std(frame[(d > 3) & (d <= 12)]) for frame in frames]
    bins = [(d > lo) & (d <= lo + 3) for lo in (3, 6, 9)]
    means = np.stack([frames[:, b].mean(axis=1) for b in bins], axis=1)
    result = np.load(out)
    np.testing.assert_allclose(result["std"], np.reshape(std, NAV), rtol=1e-12)
    np.testing.assert_allclose(result["variance"], means.var(axis=0) / means.mean(axis=0) ** 2)
    np.testing.assert_array_equal(result["radius"], [4.5, 7.5, 10.5])


def test_it_clusters_frames_of_two_kinds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    yy, xx = np.indices(SIG)
    phi, d = np.arctan2(yy - 16.0, xx - 23.0), np.hypot(yy - 16.0, xx - 23.0)
    four_fold = 80 * np.exp(-((d - 10) ** 2) / 3) * ((1 + np.cos(4 * phi)) / 2) ** 4
    uniform = 30 * np.exp(-((d - 5) ** 2) / 3)
    known = np.zeros(NAV, dtype=int)
    known[:, 8:] = 1
    frames = np.random.default_rng(2).poisson(np.stack([four_fold, uniform])[known] + 1)
    np.save(tmp_path / "scan.npy", frames.astype("<u2"))
    out = tmp_path / "clusters.npz"
    params = {"cx": 23, "cy": 16, "ro": 14, "clusters": 2}
    line = analyze(
        str(tmp_path / "scan.npy"),
        "--analysis",
        "cluster",
        *[arg for key, value in params.items() for arg in ("--param", f"{key}={value}")],
        "--out",
        str(out),
        capsys=capsys,
    )
    assert line["results"]["means"] == [*SIG, 2]
    stored = np.load(out)
    np.testing.assert_array_equal(stored["labels"], known)
    for j in (0, 1):
        want = frames[known == j].astype(np.float64).mean(axis=0)
        np.testing.assert_allclose(stored["means"][..., j], want, rtol=1e-12)


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


def test_com_takes_auto_and_a_descan_reference_as_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.core.analyses.com_synthetic import CENTRE, phase_and_gradient, spot_frames, turn

    _, gradient = phase_and_gradient((24, 32))
    path = tmp_path / "sample.npy"
    np.save(path, spot_frames(turn(gradient + np.array([0.5, -0.25]), flip_y=True, degrees=40.0)))
    disk = [f"cy={CENTRE[0]}", f"cx={CENTRE[1]}", "r=14"]
    out = tmp_path / "com.npz"
    params = [*disk, "scan_rotation=auto", "flip_y=auto", "descan=constant"]
    args = [a for p in params for a in ("--param", p)]
    analyze(str(path), "--analysis", "com", *args, "--out", str(out), capsys=capsys)
    stored = np.load(out)
    assert abs(stored["guess"][0] - 40.0) < 0.5 and stored["guess"][1] == 1.0
    np.testing.assert_allclose(stored["descan"][0], [0.5, -0.25], atol=0.05)
    # the same offset as a reference plane in the detector frame, given as JSON
    reference = turn(np.array([[0.5, -0.25], [0, 0], [0, 0]]), flip_y=True, degrees=40.0)
    params = [*disk, "scan_rotation=40", "flip_y=true", f"descan_reference={reference.tolist()}"]
    args = [a for p in params for a in ("--param", p)]
    analyze(str(path), "--analysis", "com", *args, "--out", str(out), capsys=capsys)
    np.testing.assert_allclose(np.load(out)["descan"][0], [0.5, -0.25], atol=1e-9)
    with pytest.raises(CommandError, match="descan_reference"):
        call_command(
            "analyze",
            str(path),
            "--analysis",
            "com",
            *args[:-2],
            "--param",
            "descan_reference=[1, 2]",
            "--quiet",
        )


def test_ssb_takes_the_pixel_sizes_from_a_nexus_file(
    data: np.ndarray, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.core.analyses.numpy_reference import ssb_reference

    path = tmp_path / "calibrated.nxs"
    with h5py.File(path, "w") as f:
        group = f.create_group("entry/data")
        group.attrs.update({"NX_class": "NXdata", "signal": "data", "axes": ["y", "x", "ky", "kx"]})
        group["data"] = data
        for name, n, step, units in [
            ("y", NAV[0], 0.4, "Å"),
            ("x", NAV[1], 0.4, "Å"),
            ("ky", SIG[0], 1.5, "mrad"),
            ("kx", SIG[1], 1.5, "mrad"),
        ]:
            group[name] = np.arange(n) * step
            group[name].attrs["units"] = units
    out = tmp_path / "ssb.npz"
    beam = ["beam_energy=300", "convergence_angle=12", "cx=29.5", "cy=12.5"]
    line = analyze(
        str(path),
        "--analysis",
        "ssb",
        *[a for p in beam for a in ("--param", p)],
        "--out",
        str(out),
        capsys=capsys,
    )
    assert line["results"] == {"phase": list(NAV), "amplitude": list(NAV), "complex": list(NAV)}
    params = {"beam_energy": 300, "convergence_angle": 12, "cx": 29.5, "cy": 12.5}
    want = ssb_reference(data, None, **params, scan_step=0.04, detector_pixel=1.5)
    with np.load(out) as saved:
        np.testing.assert_allclose(saved["phase"], want["phase"], rtol=0, atol=1e-5)
    # a file without axes: the scan step must be given
    np.save(tmp_path / "bare.npy", data)
    with pytest.raises(CommandError, match="scan_step: is required: give the scan step in nm"):
        call_command(
            "analyze",
            str(tmp_path / "bare.npy"),
            "--analysis",
            "ssb",
            "--quiet",
            *[a for p in beam for a in ("--param", p)],
            "--param",
            "detector_pixel=1.5",
        )
