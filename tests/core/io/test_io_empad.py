"""EMPAD .xml + .raw, written here from the format description."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from format_reference import check_against_numpy

from apps.core.errors import DataSetError
from apps.core.io import detect, open_dataset


def write_empad(folder: Path, frames: np.ndarray, *, scan: tuple[int, int], extra: int = 0) -> Path:
    """Frames ``(n, 128, 128)`` as 130 x 128 float32 frames (2 metadata rows) and their XML."""
    n = frames.shape[0]
    raw = np.zeros((n, 130, 128), dtype="<f4")
    raw[:, :128] = frames
    raw[:, 128:] = np.arange(2 * 128).reshape(2, 128) + 1e6  # metadata, never signal
    raw.tofile(folder / "scan_x.raw")
    with open(folder / "scan_x.raw", "ab") as f:
        f.write(bytes(extra))
    ny, nx = scan
    xml = f"""<?xml version="1.0"?>
<root>
  <raw_file filename="C:\\data\\scan_x.raw"/>
  <scan_parameters mode="search">
    <scan_resolution_x>16</scan_resolution_x><scan_resolution_y>16</scan_resolution_y>
  </scan_parameters>
  <scan_parameters mode="acquire">
    <scan_resolution_x>{nx}</scan_resolution_x><scan_resolution_y>{ny}</scan_resolution_y>
  </scan_parameters>
</root>
"""
    (folder / "scan.xml").write_text(xml)
    return folder / "scan.xml"


def test_it_reads_an_empad_scan_without_the_metadata_rows(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    frames = rng.normal(100, 30, size=(9 * 11, 128, 128)).astype("<f4")
    xml = write_empad(tmp_path, frames, scan=(9, 11))
    desc = detect(str(xml))
    assert (desc["format"], desc["nav_shape"], desc["sig_shape"], desc["dtype"]) == (
        "empad",
        [9, 11],
        [128, 128],
        "<f4",
    )
    ds = open_dataset(str(xml))
    for count in (1, 4, 7):
        parts = ds.partitions(count=count)
        got = np.concatenate([p.read(p.start, p.stop) for p in parts])
        np.testing.assert_array_equal(got, frames.reshape(99, -1))
    check_against_numpy(ds, frames, count=5)


def test_it_reads_a_truncated_acquisition_with_a_given_nav_shape(tmp_path: Path) -> None:
    frames = np.random.default_rng(3).random((11, 128, 128)).astype("<f4")
    xml = write_empad(tmp_path, frames, scan=(4, 4), extra=1000)  # stopped during frame 12
    with pytest.raises(DataSetError, match=r"scan_x\.raw: has 11 whole frames .* needs 16\."):
        detect(str(xml))
    ds = open_dataset(str(xml), params={"nav_shape": [2, 5]})
    warnings = ds.describe()["warnings"]
    assert any("incomplete" in w for w in warnings) and any("10 of 11" in w for w in warnings)
    check_against_numpy(ds, frames[:10], count=3)


def test_it_refuses_xml_that_is_not_empad(tmp_path: Path) -> None:
    (tmp_path / "other.xml").write_text("<root><something/></root>")
    with pytest.raises(DataSetError, match=r"other\.xml: an XML file, but not an EMPAD"):
        detect(str(tmp_path / "other.xml"))


def test_a_file_truncated_after_opening_is_an_error_not_a_crash(tmp_path: Path) -> None:
    xml = write_empad(tmp_path, np.ones((6, 128, 128), "<f4"), scan=(2, 3))
    part = open_dataset(str(xml)).partitions(count=1)[0]
    part.read(0, 6)  # mapped
    os.truncate(tmp_path / "scan_x.raw", 130 * 128 * 4 * 3)
    with pytest.raises(DataSetError, match=r"scan_x\.raw: file is too short for partition 0"):
        part.read(0, 6)
    (tmp_path / "scan_x.raw").unlink()
    with pytest.raises(DataSetError, match=r"scan_x\.raw: cannot read partition 0"):
        part.read(0, 6)
