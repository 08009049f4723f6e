"""Quantum Detectors Merlin (Medipix3) ``.mib`` files, with the acquisition's ``.hdr``.

A ``.mib`` file is frames back to back, each an ASCII header followed by the pixels::

    MQ1,<seq>,<header bytes>,<chips>,<width>,<height>,<pixel type>,<layout>,...

Pixel types ``U08`` / ``U16`` / ``U32`` are big-endian unsigned integers, ``height x width``
in C order (``sig_shape = (height, width)``; quad detectors write assembled ``512 x 512``
frames, region-of-interest readouts e.g. ``128 x 256``). ``R64`` is the RAW readout of one
chip: 64-bit big-endian words, pixel ``k`` of a word its ``k``-th bit group counted from the
least significant bit (1-bit counters: 1 bit a pixel, 6-bit: 8, 12-bit: 16, 24-bit: two
12-bit halves, the high half first). Quad RAW (chips side by side, unassembled) is refused.

Reading never copies a header: a file is a memory map of ``(frames, stride)`` bytes, and a
tile is the strided view of its pixel columns, reinterpreted as the big-endian pixel dtype;
16- and 32-bit tiles are then copied into little-endian order (the dataset's dtype), which the
compiled loops take.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from apps.core.errors import DataSetError
from apps.core.io import mapping
from apps.core.io.base import DataSet, Partition, check_params, check_shape
from apps.core.io.mapping import map_view, require_size
from apps.core.io.mib_header import FrameHeader, read_acquisition, read_frame_header
from apps.core.io.references import AllowedFiles, Reference, check_files

PARAMS = ("nav_shape",)


class MibFile:
    """One ``.mib`` file: ``n_frames`` whole frames of ``stride`` bytes, pixels at ``header``."""

    def __init__(self, path: str, header: FrameHeader, *, n_frames: int, first: int) -> None:
        self.path = path
        self.header = header
        self.n_frames = n_frames
        self.first = first  # global index of this file's first frame


class MibPartition(Partition):
    """Frames ``[start, stop)`` spread over ``files``: ``(path, first, n_frames)`` items."""

    def __init__(
        self,
        *,
        files: Sequence[tuple[str, int, int]],
        header_bytes: int,
        pixel_bytes: int,
        file_dtype: str,
        raw_bits: int = 0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.files = [(str(p), int(a), int(n)) for p, a, n in files]
        self.header_bytes = header_bytes
        self.pixel_bytes = pixel_bytes
        self.file_dtype = file_dtype
        self.raw_bits = raw_bits

    @property
    def stride(self) -> int:
        return self.header_bytes + self.pixel_bytes

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "path": self.files[0][0]}

    def close(self) -> None:
        self.__dict__.pop("_maps", None)

    def release(self, start: int, stop: int) -> None:
        maps = self.__dict__.get("_maps", {})
        for path, first, count in self.files:
            lo, hi = max(start, first), min(stop, first + count)
            if lo < hi and path in maps:
                mapping.release(path, (lo - first) * self.stride, (hi - lo) * self.stride)

    def read(self, start: int, stop: int) -> np.ndarray:
        """Frames ``[start, stop)`` as ``(k, sy*sx)``: a strided view, or a decoded copy."""
        self._check_range(start, stop)
        pieces = []
        for path, first, count in self.files:
            lo, hi = max(start, first), min(stop, first + count)
            if lo < hi:
                pieces.append(self._pixels(path, first, count)[lo - first : hi - first])
        view = pieces[0] if len(pieces) == 1 else np.concatenate(pieces)
        if self.raw_bits:
            return decode_r64(view, self.raw_bits, self.sig_shape)
        pixels = view.view(self.file_dtype)
        # big-endian 16- and 32-bit pixels: swapped into the dataset's order, one copy
        return pixels if pixels.dtype == self.dtype else pixels.astype(self.dtype)

    def _pixels(self, path: str, first: int, count: int) -> np.ndarray:
        require_size(path, count * self.stride, self.label)
        maps: dict[str, np.ndarray] = self.__dict__.setdefault("_maps", {})
        if path not in maps:
            whole = map_view(path, np.uint8, 0, (count, self.stride), self.pinned)
            maps[path] = whole[:, self.header_bytes :]
        return maps[path]


def decode_r64(pixels: np.ndarray, bits: int, sig_shape: Sequence[int]) -> np.ndarray:
    """Decode RAW (``R64``) frames: ``(k, bytes)`` uint8 to ``(k, sy*sx)`` unsigned integers.

    ``bits`` is the counter depth (1, 6, 12 or 24); returns uint8 for 1 and 6, uint16 for 12,
    uint32 for 24.
    """
    k = pixels.shape[0]
    c = math.prod(sig_shape)
    # Each 64-bit word is big-endian; as a little-endian word its bytes are in pixel order.
    words = np.ascontiguousarray(pixels).reshape(k, -1, 8)[:, :, ::-1]
    if bits == 1:
        return np.unpackbits(words, axis=-1, bitorder="little").reshape(k, c)
    if bits == 6:
        return np.ascontiguousarray(words).reshape(k, c)
    halves = np.ascontiguousarray(words).view("<u2").reshape(k, -1)
    if bits == 12:
        return halves.reshape(k, c)
    high, low = halves[:, :c].astype(np.uint32), halves[:, c:]
    return (high << 12) | low


class MibDataSet(DataSet):
    """A Merlin acquisition: one or more ``.mib`` files read as one frame sequence."""

    format = "mib"

    def __init__(
        self,
        *,
        path: str,
        files: list[MibFile],
        nav_shape: Sequence[int],
        given_nav_shape: Sequence[int] | None,
        notes: list[str],
        warnings: list[str],
    ) -> None:
        header = files[0].header
        super().__init__(
            path=path, nav_shape=nav_shape, sig_shape=header.sig_shape, dtype=header.dtype
        )
        self.files = files
        self.header = header
        self.given_nav_shape = None if given_nav_shape is None else list(given_nav_shape)
        self.notes = notes
        self.warnings = warnings

    @classmethod
    def sniff(cls, head: bytes) -> bool:
        return head.startswith(b"MQ1,")

    @classmethod
    def references(
        cls, path: str, params: dict[str, Any], *, allowed: AllowedFiles
    ) -> list[Reference]:
        """The given file, every ``.mib`` file of its acquisition and its ``.hdr``."""
        mib_paths, hdr_path = acquisition_files(Path(path))
        named = [*mib_paths, *([hdr_path] if hdr_path else [])]
        refs = [Reference(path)] + [
            Reference(str(p), path, f"{p.name}, a file of the same acquisition")
            for p in named
            if str(p) != str(path)
        ]
        return check_files(refs, allowed)

    @classmethod
    def open(cls, path: str, **params: Any) -> MibDataSet:
        """Open a ``.mib`` (and its siblings of the same acquisition) or a ``.hdr``.

        ``nav_shape`` (any number of axes) overrides the scan shape from the ``.hdr``; its product may
        be smaller than the frames found (the rest is ignored with a warning).
        """
        check_params(params, PARAMS, path=str(path), kind="Merlin")
        mib_paths, hdr_path = acquisition_files(Path(path))
        notes: list[str] = []
        warnings: list[str] = []
        files = _scan_files(mib_paths, warnings)
        found = sum(f.n_frames for f in files)
        if len(files) > 1:
            notes.append(f"{len(files)} .mib files of one acquisition, {found} frames in all.")
        nav = _nav_shape(str(path), hdr_path, params.get("nav_shape"), found, notes, warnings)
        n = math.prod(nav)
        files = _trim(files, n)
        header = files[0].header
        notes.append(
            f"Merlin {header.layout} {header.pixel_type} frames of {header.sig_shape[0]} x "
            f"{header.sig_shape[1]} pixels ({header.depth}-bit counters)."
        )
        return cls(
            path=str(path),
            files=files,
            nav_shape=nav,
            given_nav_shape=params.get("nav_shape"),
            notes=notes,
            warnings=warnings,
        )

    def params(self) -> dict[str, Any]:
        return {} if self.given_nav_shape is None else {"nav_shape": self.given_nav_shape}

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "notes": self.notes, "warnings": self.warnings}

    def make_partition(self, index: int, start: int, stop: int) -> Partition:
        h = self.header
        return MibPartition(
            **self.frames(index, start, stop),
            files=[
                (f.path, f.first, f.n_frames)
                for f in self.files
                if f.first < stop and f.first + f.n_frames > start
            ],
            header_bytes=h.header_bytes,
            pixel_bytes=h.pixel_bytes,
            file_dtype=h.file_dtype,
            raw_bits=h.depth if h.raw else 0,
        )


def acquisition_files(path: Path) -> tuple[list[Path], Path | None]:
    """The ``.mib`` files of the acquisition at ``path`` (``.mib`` or ``.hdr``) and its ``.hdr``.

    Siblings are files named like ``path`` with other trailing digits (``scan_1.mib``,
    ``scan_2.mib``); a ``.hdr`` names the acquisition whose ``.mib`` files start with its stem.
    """
    folder = path.parent
    if path.suffix.lower() == ".hdr":
        mibs = sorted(p for p in folder.glob(glob_escape(path.stem) + "*.mib") if p.is_file())
        if not mibs:
            raise DataSetError(f"{path}: no .mib file starting with {path.stem!r} next to it.")
        return mibs, path
    base = re.sub(r"\d+$", "", path.stem)
    if base == path.stem:
        mibs = [path]
    else:
        pattern = re.compile(re.escape(base) + r"\d+\.mib$", re.IGNORECASE)
        mibs = sorted(p for p in folder.iterdir() if pattern.match(p.name)) or [path]
    candidates = [path.with_suffix(".hdr"), folder / (base.rstrip("_-") + ".hdr")]
    hdr = next((c for c in candidates if c.is_file()), None)
    return mibs, hdr


def glob_escape(text: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", text)


def _scan_files(paths: list[Path], warnings: list[str]) -> list[MibFile]:
    files = []
    for p in paths:
        header = read_frame_header(str(p))
        size = os.stat(p).st_size
        n, rest = divmod(size, header.stride)
        if n == 0:
            raise DataSetError(
                f"{p}: has {size} bytes, less than one frame of {header.stride} bytes "
                f"({header.header_bytes} header + {header.pixel_bytes} pixels)."
            )
        if rest:
            warnings.append(
                f"{p.name}: the last frame is incomplete ({rest} of {header.stride} bytes) and "
                "is ignored."
            )
        _check_last_header(p, n, header)
        files.append(MibFile(str(p), header, n_frames=n, first=0))
    files.sort(key=lambda f: f.header.sequence)
    first = 0
    for f in files:
        if not f.header.same_layout(files[0].header):
            raise DataSetError(
                f"{f.path}: frames of {f.header.describe()} do not match {files[0].path} "
                f"({files[0].header.describe()}); are they from one acquisition?"
            )
        if f.header.sequence != files[0].header.sequence + first:
            raise DataSetError(
                f"{f.path}: first frame has sequence number {f.header.sequence}, expected "
                f"{files[0].header.sequence + first} after the previous files; a file of the "
                "acquisition is missing."
            )
        f.first = first
        first += f.n_frames
    return files


def _check_last_header(path: Path, n: int, header: FrameHeader) -> None:
    with open(path, "rb") as f:
        f.seek((n - 1) * header.stride)
        head = f.read(4)
    if head != b"MQ1,":
        raise DataSetError(
            f"{path}: frame {n - 1} does not start with a 'MQ1,' header at byte "
            f"{(n - 1) * header.stride}; frames are not all {header.stride} bytes long "
            "(corrupt header or mixed frame sizes)."
        )


def _trim(files: list[MibFile], n: int) -> list[MibFile]:
    kept = [f for f in files if f.first < n]
    for f in kept:
        f.n_frames = min(f.n_frames, n - f.first)
    return kept


def _nav_shape(
    path: str,
    hdr_path: Path | None,
    given: Any,
    found: int,
    notes: list[str],
    warnings: list[str],
) -> tuple[int, ...]:
    """Scan shape: given by the user, else from the ``.hdr``, else ``(frames,)``."""
    if given is not None:
        nav = check_shape(given, name="nav_shape", source=path)
        if math.prod(nav) > found:
            raise DataSetError(
                f"{path}: nav_shape {list(nav)} needs {math.prod(nav)} frames; the acquisition "
                f"has {found} whole frames."
            )
        if math.prod(nav) < found:
            warnings.append(
                f"nav_shape {list(nav)} uses {math.prod(nav)} of {found} frames; the rest are "
                "ignored."
            )
        return nav
    if hdr_path is None:
        notes.append(f"No .hdr file found: the scan is read as a line of {found} frames.")
        return (found,)
    acq = read_acquisition(str(hdr_path))
    if acq.frames != found:
        raise DataSetError(
            f"{hdr_path}: 'Frames in Acquisition (Number)' is {acq.frames}, but the .mib files "
            f"hold {found} whole frames; give nav_shape to read a truncated acquisition."
        )
    nav = acq.nav_shape()
    notes.append(f"Scan shape {list(nav)} from {hdr_path.name} ({acq.source}).")
    return nav
