"""A dataset's identity: whole-file SHA-256 within the budget, sampled beyond it; the stat check
sees a touch, a rewrite and a missing file."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from apps.core.identity import SAMPLE_BLOCKS, SAMPLE_BYTES, files_identity, unchanged


def test_files_within_the_budget_are_hashed_whole_and_the_rest_sampled(tmp_path: Path) -> None:
    small = tmp_path / "a.raw"
    big = tmp_path / "b.raw"
    small.write_bytes(os.urandom(1000))
    big.write_bytes(os.urandom(3 * 2**20 + 17))
    identity = files_identity([str(big), str(small), str(small)], full_bytes=2**20)
    first, second = identity["files"]
    assert (first["path"], first["hash"]) == (str(small), "full")  # sorted, each once
    assert first["sha256"] == hashlib.sha256(small.read_bytes()).hexdigest()
    assert (second["hash"], second["size"]) == ("sampled", 3 * 2**20 + 17)
    # independently: the size line, then the blocks spread evenly to the last byte
    data = big.read_bytes()
    expected = hashlib.sha256(f"sampled {len(data)} {SAMPLE_BLOCKS} {SAMPLE_BYTES}\n".encode())
    last = len(data) - SAMPLE_BYTES
    for k in range(SAMPLE_BLOCKS):
        start = last * k // (SAMPLE_BLOCKS - 1)
        expected.update(data[start : start + SAMPLE_BYTES])
    assert second["sha256"] == expected.hexdigest()
    assert second["mtime_ns"] == big.stat().st_mtime_ns


def test_a_sampled_hash_sees_a_change_in_a_sampled_block(tmp_path: Path) -> None:
    big = tmp_path / "b.raw"
    data = bytearray(os.urandom(4 * 2**20))
    big.write_bytes(data)
    before = files_identity([str(big)], full_bytes=0)["files"][0]["sha256"]
    data[-1] ^= 0xFF  # the last byte is always sampled
    big.write_bytes(data)
    assert files_identity([str(big)], full_bytes=0)["files"][0]["sha256"] != before


def test_the_stat_check_sees_touches_rewrites_and_missing_files(tmp_path: Path) -> None:
    path = tmp_path / "a.raw"
    path.write_bytes(b"x" * 100)
    identity = files_identity([str(path)], full_bytes=2**20)
    assert unchanged(identity)
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1))
    assert not unchanged(identity)
    identity = files_identity([str(path)], full_bytes=2**20)
    path.write_bytes(b"y" * 101)
    assert not unchanged(identity)
    path.unlink()
    assert not unchanged(identity)
    assert not unchanged({}) and not unchanged({"files": []})
