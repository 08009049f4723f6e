"""Merlin .mib/.hdr: real files (../shared/testdata/merlin) and synthetic acquisitions."""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from format_reference import check_against_numpy

from apps.core import kernels
from apps.core.corrections import detect_hot_pixels
from apps.core.errors import DataSetError
from apps.core.io import detect, open_dataset
from apps.core.io.mib import decode_r64
from tests.merlin_files import numpy_read, write_hdr, write_mib

ZIPS = ("Merlin_Single_Quad", "Merlin_navigation4x2_ROI", "Merlin_navigation4x2_signalNx256_ROI")


@pytest.fixture(scope="module")
def _merlin_unzipped(tmp_path_factory: pytest.TempPathFactory) -> dict[Path, Path]:
    return {}  # shared testdata folder -> where its zips were unpacked, once per module


@pytest.fixture
def merlin(
    shared_testdata: Path,
    _merlin_unzipped: dict[Path, Path],
    tmp_path_factory: pytest.TempPathFactory,
) -> Path:
    """The Merlin zips of the shared test data, unpacked into a temporary folder."""
    if shared_testdata not in _merlin_unzipped:
        root = tmp_path_factory.mktemp("merlin")
        for name in ZIPS:
            with zipfile.ZipFile(shared_testdata / "merlin" / f"{name}.zip") as z:
                z.extractall(root / name)
        _merlin_unzipped[shared_testdata] = root
    return _merlin_unzipped[shared_testdata]


ZIP_LISTING = {
    "Merlin_Single_Quad": [
        f"{layout}_{n}_Frame_CounterDepth_{d}_Rows_256{raw}.mib"
        for layout in ("Single", "Quad")
        for n in (1, 9)
        for d in (1, 6, 12, 24)
        for raw in ("", "RAW")
        if not raw or d == 1
    ],
    "Merlin_navigation4x2_ROI": ["001_4x2_6bit.mib", "002_4x2_6bit_roi128.mib"],
    "Merlin_navigation4x2_signalNx256_ROI": [
        "002_merlin_test_roi_sig256x128_nav4x2_hot_pixel_52x_39y.mib",
        "003_merlin_test_roi_sig256x64_nav4x2_hot_pixel_52x_39y.mib",
    ],
}
READABLE = [
    f"{folder}/{name}"
    for folder, names in ZIP_LISTING.items()
    for name in names
    if not ("Quad" in name and "RAW" in name)
]


@pytest.mark.parametrize("name", READABLE)
def test_it_reads_every_real_merlin_file_like_numpy(merlin: Path, name: str) -> None:
    frames, kind = numpy_read(merlin / name)
    ds = open_dataset(str(merlin / name))
    assert ds.format == "mib"
    assert ds.sig_shape == frames.shape[1:]
    # big-endian pixels are read in little-endian order: the compiled loops take only that
    # (a 12-bit file's sum fell back to numpy, 15 times slower, and a ring 100 times)
    expected_dtype = {"U08": "|u1", "U16": "<u2", "U32": "<u4", "R64": "|u1"}[kind]
    assert ds.dtype == np.dtype(expected_dtype)
    part = ds.partitions()[0]
    assert part.read(part.start, part.stop).dtype == ds.dtype
    assert kernels.can_fold(ds.dtype) == (kind != "U32")
    assert ds.n_frames == frames.shape[0]
    check_against_numpy(ds, frames, count=min(3, ds.n_frames))


def test_it_takes_the_scan_shape_from_the_hdr(merlin: Path) -> None:
    name = "Merlin_navigation4x2_signalNx256_ROI/002_merlin_test_roi_sig256x128_nav4x2_hot_pixel_52x_39y"
    desc = detect(str(merlin / f"{name}.mib"))
    assert (desc["nav_shape"], desc["sig_shape"], desc["dtype"]) == ([2, 4], [128, 256], "<u2")
    assert any("ScanY x ScanX" in note for note in desc["notes"])
    assert detect(str(merlin / f"{name}.hdr"))["nav_shape"] == [2, 4]


def test_it_takes_a_scan_shape_from_the_user(merlin: Path) -> None:
    ds = open_dataset(
        str(merlin / "Merlin_navigation4x2_ROI/002_4x2_6bit_roi128.mib"),
        params={"nav_shape": [2, 4]},
    )
    assert (ds.nav_shape, ds.sig_shape, ds.params()) == ((2, 4), (128, 256), {"nav_shape": [2, 4]})


@pytest.mark.parametrize("name", ["002", "003"])
def test_it_detects_the_known_hot_pixel(merlin: Path, name: str) -> None:
    path = next((merlin / "Merlin_navigation4x2_signalNx256_ROI").glob(f"{name}_*.mib"))
    frames, _ = numpy_read(path)
    hot = detect_hot_pixels(frames.sum(axis=0))
    assert hot[39, 52]
    assert hot.sum() <= 2


def test_it_refuses_quad_raw_clearly(merlin: Path) -> None:
    path = merlin / "Merlin_Single_Quad/Quad_1_Frame_CounterDepth_1_Rows_256RAW.mib"
    with pytest.raises(DataSetError, match=r"Quad_1_.*RAW \(R64\) frames of a 2x2 detector"):
        detect(str(path))


# -- synthetic acquisitions written from the format description ---------------------------


@pytest.mark.parametrize("depth", [1, 6, 12, 24])
def test_it_decodes_raw_counters(depth: int, tmp_path: Path) -> None:
    rng = np.random.default_rng(depth)
    frames = rng.integers(0, 2**depth, size=(5, 32, 64), dtype=np.uint32)
    write_mib(tmp_path / "raw.mib", frames, kind="R64", depth=depth)
    ds = open_dataset(str(tmp_path / "raw.mib"))
    assert ds.sig_shape == (32, 64)
    part = ds.partitions(count=1)[0]
    np.testing.assert_array_equal(part.read(0, 5), frames.reshape(5, -1))
    assert decode_r64(np.zeros((1, 8), np.uint8), 1, (8, 8)).shape == (1, 64)


def test_it_reads_several_files_as_one_acquisition_across_partitions(
    tmp_path: Path, make_data: Callable[..., np.ndarray]
) -> None:
    frames = make_data((7 * 13, 24, 40), "<u2") >> 4  # 12-bit counters
    bounds = [0, 30, 61, 91]
    for k in range(3):
        lo, hi = bounds[k], bounds[k + 1]
        write_mib(tmp_path / f"scan_{k + 1}.mib", frames[lo:hi], first=lo + 1)
    write_hdr(tmp_path / "scan.hdr", 91, 13)
    ds = open_dataset(str(tmp_path / "scan_2.mib"))
    assert (ds.nav_shape, ds.sig_shape, ds.dtype) == ((7, 13), (24, 40), np.dtype("<u2"))
    assert detect(str(tmp_path / "scan.hdr"))["nav_shape"] == [7, 13]
    for count in (1, 4, 7):
        parts = ds.partitions(count=count)
        got = np.concatenate([p.read(p.start, p.stop) for p in parts])
        np.testing.assert_array_equal(got, frames.reshape(91, -1))
    check_against_numpy(ds, frames, count=5)


def test_it_ignores_a_partial_last_frame_with_a_warning(
    tmp_path: Path, make_data: Callable[..., np.ndarray]
) -> None:
    frames = make_data((12, 16, 16), "<u1")
    write_mib(tmp_path / "cut.mib", frames, kind="U08", depth=6, extra=b"MQ1,000013," + bytes(99))
    write_hdr(tmp_path / "cut.hdr", 12, 4)
    desc = detect(str(tmp_path / "cut.mib"))
    assert desc["nav_shape"] == [3, 4]
    assert any("incomplete" in w for w in desc["warnings"])
    check_against_numpy(open_dataset(str(tmp_path / "cut.mib")), frames, count=2)


def test_it_reads_a_stopped_acquisition_with_a_given_nav_shape(
    tmp_path: Path, make_data: Callable[..., np.ndarray]
) -> None:
    frames = make_data((10, 8, 8), "<u1")
    write_mib(tmp_path / "stop.mib", frames, kind="U08", depth=6)
    write_hdr(tmp_path / "stop.hdr", 16, 4)
    with pytest.raises(DataSetError, match=r"stop\.hdr: 'Frames in Acquisition.*16.*10 whole"):
        open_dataset(str(tmp_path / "stop.mib"))
    ds = open_dataset(str(tmp_path / "stop.mib"), params={"nav_shape": [2, 4]})
    assert ds.n_frames == 8
    assert any("8 of 10 frames" in w for w in ds.describe()["warnings"])
    check_against_numpy(ds, frames[:8], count=3)


def test_it_names_the_file_and_field_of_a_corrupt_header(tmp_path: Path) -> None:
    write_mib(tmp_path / "bad.mib", np.zeros((2, 8, 8), np.uint16))
    blob = bytearray((tmp_path / "bad.mib").read_bytes())
    blob[4 + 7 : 4 + 12] = b"0x3!!"  # the header size field
    (tmp_path / "bad.mib").write_bytes(bytes(blob))
    with pytest.raises(DataSetError, match=r"bad\.mib: corrupt Merlin frame header: field 3"):
        detect(str(tmp_path / "bad.mib"))


def test_it_finds_frames_of_the_wrong_size(tmp_path: Path) -> None:
    write_mib(tmp_path / "big.mib", np.zeros((2, 16, 16), np.uint16), first=3)
    big = (tmp_path / "big.mib").read_bytes()
    write_mib(tmp_path / "mixed.mib", np.zeros((2, 8, 8), np.uint16), extra=big)
    with pytest.raises(DataSetError, match=r"mixed\.mib: frame \d+ does not start with"):
        detect(str(tmp_path / "mixed.mib"))


def test_it_refuses_a_missing_file_of_the_acquisition(tmp_path: Path) -> None:
    write_mib(tmp_path / "a_1.mib", np.zeros((3, 8, 8), np.uint16), first=1)
    write_mib(tmp_path / "a_3.mib", np.zeros((3, 8, 8), np.uint16), first=7)
    with pytest.raises(DataSetError, match=r"a_3\.mib: first frame has sequence number 7"):
        open_dataset(str(tmp_path / "a_1.mib"))


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("scan.mib", r"scan\.mib: not a Merlin \.mib file: it does not start with .*'MQ1,'"),
        ("scan.hdr", r"no \.mib file starting with 'scan'"),
        ("scan.h5", r"scan\.h5: not an HDF5 file"),
    ],
)
def test_a_file_named_like_a_format_says_what_is_wrong(
    tmp_path: Path, name: str, message: str
) -> None:
    (tmp_path / name).write_bytes(b"garbage" * 100)
    with pytest.raises(DataSetError, match=message):
        detect(str(tmp_path / name))


def test_a_file_truncated_after_opening_is_an_error_not_a_crash(tmp_path: Path) -> None:
    write_mib(tmp_path / "gone.mib", np.ones((6, 8, 8), np.uint16))
    part = open_dataset(str(tmp_path / "gone.mib")).partitions(count=1)[0]
    part.read(0, 6)
    with open(tmp_path / "gone.mib", "r+b") as f:
        f.truncate(512 * 3)
    with pytest.raises(DataSetError, match=r"gone\.mib: file is too short for partition 0"):
        part.read(0, 6)
