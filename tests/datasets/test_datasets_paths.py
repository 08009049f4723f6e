from __future__ import annotations

import os

import numpy as np
import pytest
from django.core.exceptions import ValidationError

from apps.datasets.paths import browse, resolve_in_roots


def refused(path: str) -> str:
    with pytest.raises(ValidationError) as info:
        resolve_in_roots(path)
    assert set(info.value.message_dict) == {"path"}
    return " ".join(info.value.messages)


def test_it_resolves_relative_paths_in_the_first_root(data_root, npy_file):
    assert resolve_in_roots("scan.npy") == npy_file
    assert resolve_in_roots(str(npy_file)) == npy_file
    assert resolve_in_roots("sub/../scan.npy") == npy_file


def test_it_accepts_paths_in_any_root(settings, data_root, tmp_path):
    second = tmp_path / "second"
    second.mkdir()
    settings.DATA_ROOTS = [data_root, second]
    assert resolve_in_roots(str(second / "a.npy")) == second / "a.npy"


@pytest.mark.parametrize(
    "path",
    ["../outside.npy", "sub/../../outside.npy", "../../../../etc/passwd", "/etc/passwd", "/"],
)
def test_it_refuses_paths_outside_the_roots(data_root, path):
    assert "outside the data folders" in refused(path)


def test_it_refuses_a_sibling_with_the_same_prefix(data_root):
    evil = data_root.parent / "data-evil" / "scan.npy"
    np.save(evil, np.zeros((2, 2, 2)))
    assert "outside" in refused(str(evil))
    assert "outside" in refused("../data-evil/scan.npy")


def test_it_refuses_symlinks_leading_out(data_root, tmp_path):
    secret = tmp_path / "secret.npy"
    np.save(secret, np.zeros((2, 2, 2)))
    os.symlink(secret, data_root / "link.npy")
    os.symlink(tmp_path, data_root / "linkdir")
    assert "outside" in refused("link.npy")
    assert "outside" in refused(str(data_root / "linkdir" / "secret.npy"))


def test_it_follows_symlinks_that_stay_inside(data_root, npy_file):
    os.symlink(npy_file, data_root / "alias.npy")
    assert resolve_in_roots("alias.npy") == npy_file


def test_it_refuses_nul_bytes_and_long_paths(data_root):
    assert "NUL" in refused("scan\x00.npy")
    message = refused("a/" * 3000)
    assert "6000 characters" in message and len(message) < 400


@pytest.mark.parametrize("path", ["", "   ", None, 5, ["scan.npy"]])
def test_it_refuses_empty_and_non_string_paths(data_root, path):
    refused(path)


def test_it_takes_only_the_file_part_of_an_hdf5_path(data_root, h5_file):
    assert resolve_in_roots("scan.h5:/entry/data") == h5_file
    assert "outside" in refused("/etc/x.h5:/entry/data")


def test_it_lists_the_roots_without_a_path(data_root, users):
    listing = browse(users.owner, None)
    assert listing["path"] is None
    assert [e["path"] for e in listing["entries"]] == [str(data_root)]


def test_it_lists_a_folder_with_kinds_sizes_and_format_guesses(
    data_root, npy_file, h5_file, raw_sidecar, tmp_path, users
):
    (data_root / ".hidden").write_text("x")
    (data_root / "notes.txt").write_text("hello")
    os.symlink(tmp_path, data_root / "escape")
    listing = browse(users.owner, str(data_root))
    assert listing["path"] == str(data_root) and listing["parent"] is None
    entries = {e["name"]: e for e in listing["entries"]}
    assert set(entries) == {"raw", "scan.npy", "scan.h5", "notes.txt"}
    assert entries["raw"]["kind"] == "dir"
    assert entries["scan.npy"] == {
        "name": "scan.npy",
        "path": str(npy_file),
        "kind": "file",
        "size": npy_file.stat().st_size,
        "format": "npy",
    }
    assert entries["scan.h5"]["format"] == "hdf5"
    assert entries["notes.txt"]["format"] is None
    assert listing["entries"][0]["name"] == "raw"  # folders first


def test_it_gives_the_parent_inside_a_root(data_root, users, raw_sidecar):
    listing = browse(users.owner, "raw")
    assert listing["parent"] == str(data_root)
    assert [(e["name"], e["format"]) for e in listing["entries"]] == [
        ("data.raw", None),
        ("scan.json", "raw"),
    ]


@pytest.mark.parametrize("path", ["..", "../data-evil", "/etc", "scan\x00", "x" * 5000])
def test_it_refuses_to_browse_outside(data_root, users, path):
    with pytest.raises(ValidationError):
        browse(users.owner, path)


def test_it_refuses_to_browse_a_file(data_root, users, npy_file):
    with pytest.raises(ValidationError, match="not a folder"):
        browse(users.owner, "scan.npy")
