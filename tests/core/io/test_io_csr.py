"""Electron-counted frames: LiberTEM's raw_csr descriptor and the HDF5 CSR group, read event
by event for the mask analyses and the sum, densified for the others; every result against
numpy on the dense frames."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
from format_reference import disk, disk_params, run

from apps.core.analyses import make_analysis
from apps.core.errors import DataSetError, ForbiddenReference
from apps.core.executor import InlineExecutor
from apps.core.io import detect, open_dataset, sniff_format
from apps.core.io.csr import CSRPartition
from apps.core.io.hdf5_csr import write_h5_csr
from apps.core.io.raw_csr import write_raw_csr
from apps.core.io.references import InFolders

NAV, SIG = (5, 7), (12, 10)
N, C = 35, 120


def counted_frames(density: float, dtype: str = "<u2", seed: int = 7) -> np.ndarray:
    """``(N, C)`` Poisson counts with some empty frames (the first, a middle and the last)."""
    rng = np.random.default_rng(seed)
    frames = rng.poisson(density, size=(N, C)).astype(dtype)
    frames[[0, 17, N - 1]] = 0
    return frames


def to_csr(frames: np.ndarray, *, split: bool = False) -> dict[str, np.ndarray]:
    """CSR arrays of ``frames``; ``split``: every count above 1 becomes two events of the same
    pixel, the second one at the end of the row (rows that are not canonical)."""
    indptr, indices, values = [0], [], []
    for frame in frames:
        pixels = np.flatnonzero(frame)
        counts = frame[pixels]
        if split:
            twice = counts > 1
            first = np.where(twice, counts - 1, counts)
            pixels = np.concatenate([pixels, pixels[twice][::-1]])
            counts = np.concatenate([first, np.ones(int(twice.sum()), frames.dtype)])
        indices.extend(pixels.tolist())
        values.extend(counts.tolist())
        indptr.append(len(indices))
    return {
        "indptr": np.array(indptr, np.int64),
        "indices": np.array(indices, np.int32),
        "values": np.array(values, frames.dtype),
    }


def write(kind: str, folder: Path, frames: np.ndarray, **options: Any) -> str:
    arrays = to_csr(frames, split=options.pop("split", False))
    if kind == "raw_csr":
        path = folder / "scan.toml"
        write_raw_csr(path, **arrays, nav_shape=NAV, sig_shape=SIG)
        return str(path)
    path = folder / "scan.h5"
    write_h5_csr(str(path), **arrays, nav_shape=NAV, sig_shape=SIG, **options)
    return str(path)


@pytest.fixture
def no_dense_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    """The event-by-event analyses must never build a dense frame."""

    def refuse(self: CSRPartition, start: int, stop: int) -> np.ndarray:
        raise AssertionError("a dense tile was read")

    monkeypatch.setattr(CSRPartition, "read", refuse)


def dense_reference(frames: np.ndarray, roi: np.ndarray | None) -> dict[str, np.ndarray]:
    ref = frames.astype(np.float64).reshape(N, *SIG)
    chosen = ref if roi is None else ref[roi.reshape(-1)]
    geometry = disk_params(SIG)
    mask = disk(SIG, **geometry)
    yy = np.mgrid[: SIG[0], : SIG[1]][0]
    weight = np.einsum("nyx,yx->n", ref, mask)
    with np.errstate(invalid="ignore", divide="ignore"):
        com_y = np.einsum("nyx,yx->n", ref, mask * yy) / weight - geometry["cy"]
    out = {
        "sum": chosen.sum(axis=0),
        "max": chosen.max(axis=0),
        "intensity": weight,
        "com_y": com_y,
    }
    if roi is not None:
        out["intensity"] = np.where(roi.reshape(-1), weight, np.nan)
        out["com_y"] = np.where(roi.reshape(-1), com_y, np.nan)
    return out


def run_roi(ds: Any, name: str, params: dict[str, Any], roi: np.ndarray | None) -> dict:
    analysis = make_analysis(
        name, params, nav_shape=ds.nav_shape, sig_shape=ds.sig_shape, dtype=ds.dtype
    )
    parts = ds.partitions(count=3)
    return InlineExecutor().run(ds, analysis, roi=roi, partitions=parts).results


@pytest.mark.parametrize("kind", ["raw_csr", "hdf5_csr"])
@pytest.mark.parametrize("density", [0.05, 1.5])
@pytest.mark.parametrize("split", [False, True])
@pytest.mark.parametrize("with_roi", [False, True])
@pytest.mark.usefixtures("no_dense_reads")
def test_it_multiplies_and_sums_event_by_event_as_numpy_does_densely(
    tmp_path: Path, kind: str, density: float, split: bool, with_roi: bool
) -> None:
    frames = counted_frames(density)
    ds = open_dataset(write(kind, tmp_path, frames, split=split))
    assert ds.format == kind and ds.nav_shape == NAV and ds.sig_shape == SIG
    roi = None
    if with_roi:
        roi = np.zeros(NAV, bool)
        roi.reshape(-1)[[0, 3, 4, 5, 17, 20, 33]] = True
    ref = dense_reference(frames, roi)
    out = run_roi(ds, "sum", {}, roi)
    np.testing.assert_array_equal(out["sum"], ref["sum"])
    np.testing.assert_array_equal(out["max"], ref["max"])
    out = run_roi(ds, "sum", {"max": False}, roi)
    np.testing.assert_array_equal(out["sum"], ref["sum"])
    geometry = disk_params(SIG)
    out = run_roi(ds, "virtual", {"shape": "disk", **geometry}, roi)
    np.testing.assert_allclose(out["intensity"].reshape(-1), ref["intensity"], rtol=1e-6)
    out = run_roi(ds, "com", geometry, roi)
    np.testing.assert_allclose(out["y"].reshape(-1), ref["com_y"], rtol=1e-5, atol=1e-5)


@pytest.mark.usefixtures("no_dense_reads")
def test_it_applies_many_masks_as_a_matrix_product(tmp_path: Path) -> None:
    frames = counted_frames(0.3)
    ds = open_dataset(write("raw_csr", tmp_path, frames, split=True))
    masks = np.random.default_rng(3).random((9, *SIG)).astype(np.float32)
    masks[2] = 0  # a mask that touches nothing
    out = run(ds, "masks", {"masks": masks})
    expected = frames.astype(np.float64) @ masks.reshape(9, -1).T.astype(np.float64)
    got = out["masks"].reshape(N, 9)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("dtype", ["<i2", "<f4", ">u2"])
@pytest.mark.usefixtures("no_dense_reads")
def test_the_maximum_counts_the_zeros_of_pixels_a_frame_has_no_event_at(
    tmp_path: Path, dtype: str, monkeypatch: pytest.MonkeyPatch, read_all: Any
) -> None:
    # Negative values: where some frame has no event at a pixel, the maximum there is 0.
    frames = counted_frames(0.8, dtype=dtype)
    frames[1:, 5] = 0
    negative = np.random.default_rng(5).random(frames.shape) < 0.5
    if np.dtype(dtype).kind != "u":
        frames[negative] *= -1
    frames[:, 9] = -4 if np.dtype(dtype).kind != "u" else 4  # in every frame: no zero there
    ds = open_dataset(write("hdf5_csr", tmp_path, frames))
    out = run(ds, "sum", {})
    ref = frames.astype(np.float64).reshape(N, *SIG)
    np.testing.assert_array_equal(out["sum"], ref.sum(axis=0))
    np.testing.assert_array_equal(out["max"], ref.max(axis=0))
    monkeypatch.undo()  # the dense tiles, in the file's byte order
    np.testing.assert_array_equal(read_all(ds, count=2, tile_frames=4), frames)


@pytest.mark.parametrize("kind", ["raw_csr", "hdf5_csr"])
def test_other_analyses_read_dense_frames_equal_to_numpy(
    tmp_path: Path, kind: str, read_all: Any
) -> None:
    frames = counted_frames(0.4)
    ds = open_dataset(write(kind, tmp_path, frames, split=True))
    np.testing.assert_array_equal(read_all(ds, count=4, tile_frames=6), frames)
    out = run(ds, "stddev", {})
    ref = frames.astype(np.float64).reshape(N, *SIG)
    np.testing.assert_allclose(out["std"], ref.std(axis=0), rtol=1e-6, atol=1e-9)


def test_compressed_chunked_hdf5_groups_are_read(tmp_path: Path) -> None:
    frames = counted_frames(0.4)
    path = write("hdf5_csr", tmp_path, frames, chunks=(16,), compression="gzip")
    ds = open_dataset(path)
    np.testing.assert_array_equal(run(ds, "sum", {})["sum"], frames.sum(axis=0).reshape(SIG))


def test_formats_are_detected_from_the_files(tmp_path: Path, make_data: Any) -> None:
    frames = counted_frames(0.4)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    toml = write("raw_csr", tmp_path / "a", frames)
    h5 = write("hdf5_csr", tmp_path / "b", frames)
    with h5py.File(h5, "a") as f:
        f["other/data"] = make_data((2, 2, 4, 4))
    assert sniff_format(toml) == "raw_csr"
    assert sniff_format(h5) == "hdf5_csr"
    assert sniff_format(f"{h5}:/other/data") == "hdf5"
    desc = detect(f"{h5}:/events")
    assert desc["format"] == "hdf5_csr" and desc["params"] == {"group": "/events"}
    assert desc["nav_shape"] == list(NAV) and desc["sig_shape"] == list(SIG)
    assert desc["events"] == int(np.count_nonzero(frames))
    assert detect(toml)["dtype"] == "<u2"


def test_every_file_the_descriptor_names_is_checked(tmp_path: Path) -> None:
    inside, outside = tmp_path / "in", tmp_path / "out"
    inside.mkdir()
    outside.mkdir()
    toml = write("raw_csr", outside, counted_frames(0.4))
    text = Path(toml).read_text().replace('indices_file = "scan', 'indices_file = "../out/scan')
    (inside / "scan.toml").write_text(text.replace('"scan.', '"../out/scan.'))
    with pytest.raises(ForbiddenReference, match=r"raw_csr\.indptr_file"):
        open_dataset(str(inside / "scan.toml"), allowed=InFolders((str(inside),)))
    ds = open_dataset(str(inside / "scan.toml"), allowed=InFolders((str(tmp_path),)))
    assert {Path(r.path).suffix for r in ds.checked} == {".toml", ".indptr", ".indices", ".values"}


def test_events_outside_the_frame_are_an_error_naming_the_file(tmp_path: Path) -> None:
    frames = counted_frames(0.4)
    arrays = to_csr(frames)
    arrays["indices"][3] = C  # one past the last pixel
    path = tmp_path / "bad.toml"
    write_raw_csr(path, **arrays, nav_shape=NAV, sig_shape=SIG)
    ds = open_dataset(str(path))
    for name, params in (("sum", {}), ("virtual", {"shape": "disk", **disk_params(SIG)})):
        with pytest.raises(DataSetError, match=r"bad\.indptr: 1 events of frames .* outside"):
            run(ds, name, params)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda a: a.update(indptr=a["indptr"][::-1].copy()), "indptr must rise"),
        (lambda a: a.update(values=a["values"][:-1]), "indices file holds .* events but"),
        (lambda a: a.update(indptr=a["indptr"][:-3]), "needs 36 .frames . 1"),
        (lambda a: a.update(indices=a["indices"].astype(np.float32)), "must be integers"),
    ],
)
def test_inconsistent_arrays_are_refused_on_open(tmp_path: Path, change: Any, message: str) -> None:
    arrays = to_csr(counted_frames(0.4))
    change(arrays)
    path = tmp_path / "x.toml"
    write_raw_csr(path, **arrays, nav_shape=NAV, sig_shape=SIG)
    with pytest.raises(DataSetError, match=message):
        open_dataset(str(path))


def test_a_descriptor_of_another_filetype_or_group_without_sig_shape_is_refused(
    tmp_path: Path,
) -> None:
    toml = tmp_path / "x.toml"
    toml.write_text('[params]\nfiletype = "raw"\n')
    with pytest.raises(DataSetError, match='filetype = "raw_csr"'):
        open_dataset(str(toml))
    h5 = write("hdf5_csr", tmp_path, counted_frames(0.4))
    with h5py.File(h5, "a") as f:
        del f["events"].attrs["sig_shape"]
    with pytest.raises(DataSetError, match=r"sig_shape = \[sy, sx\] is missing"):
        open_dataset(h5)


def test_excluded_pixels_are_zero_in_the_event_products_and_the_sum(tmp_path: Path) -> None:
    frames = counted_frames(0.5)
    frames[:, 6 * SIG[1] + 3] = 9  # a hot pixel inside the disk
    ds = open_dataset(write("raw_csr", tmp_path, frames), params={"excluded_pixels": [[6, 3]]})
    ref = frames.astype(np.float64).reshape(N, *SIG)
    ref[:, 6, 3] = 0
    geometry = disk_params(SIG)
    out = run(ds, "virtual", {"shape": "disk", **geometry})
    expected = np.einsum("nyx,yx->n", ref, disk(SIG, **geometry)).reshape(NAV)
    np.testing.assert_allclose(out["intensity"], expected, rtol=1e-6)
    np.testing.assert_array_equal(run(ds, "sum", {})["sum"], ref.sum(axis=0))


def test_read_events_go_back_to_the_mapping_budget(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every event a job reads from a raw_csr file is reported done with, so a worker's
    resident file pages stay bounded (apps.core.io.mapping)."""
    from apps.core.io import mapping

    released: list[tuple[str, int, int]] = []
    monkeypatch.setattr(mapping, "release", lambda *args: released.append(args))
    frames = counted_frames(0.4)
    ds = open_dataset(write("raw_csr", tmp_path, frames))
    run(ds, "virtual", {"shape": "disk", **disk_params(SIG)})
    n = int(np.count_nonzero(frames))
    for suffix, itemsize in ((".indices", 4), (".values", 2)):
        ranges = sorted((o, b) for p, o, b in released if p.endswith(suffix))
        covered = np.zeros(n * itemsize, bool)
        for offset, nbytes in ranges:
            covered[offset : offset + nbytes] = True
        assert covered.all(), suffix
