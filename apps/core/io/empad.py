"""EMPAD (Electron Microscope Pixel Array Detector): an ``.xml`` description and a ``.raw`` file.

The XML names the raw file (``<raw_file filename="..."/>``) and the scan
(``<scan_parameters mode="acquire"><scan_resolution_x>``, ``<scan_resolution_y>``). The raw
file holds ``ny * nx`` frames of ``130 x 128`` little-endian float32, C order; the last two rows
of each frame are metadata, so the signal is ``128 x 128``. Tiles are strided views of the first
128 rows of each frame (no copy).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Sequence
from typing import Any
from xml.etree.ElementTree import Element, ParseError

import numpy as np
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from apps.core.errors import DataSetError
from apps.core.io import mapping
from apps.core.io.base import DataSet, Partition, check_params, check_shape
from apps.core.io.mapping import map_view, require_size
from apps.core.io.references import AllowedFiles, Reference, check_files

RAW_ROWS, ROWS, COLS = 130, 128, 128
DTYPE = np.dtype("<f4")
MAX_XML_BYTES = 2**20
PARAMS = ("nav_shape",)


def sniff_xml(head: bytes) -> bool:
    """True if ``head`` (the file's first bytes) looks like an EMPAD XML description."""
    text = head.lstrip()
    return text.startswith(b"<") and (b"<raw_file" in head or b"EMPAD" in head.upper())


class EmpadPartition(Partition):
    """Frames ``[start, stop)`` of an EMPAD raw file (frame ``i`` at ``i * 130 * 128 * 4``)."""

    def __init__(self, *, path: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.path = path

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "path": self.path}

    def close(self) -> None:
        self.__dict__.pop("_map", None)

    def release(self, start: int, stop: int) -> None:
        if "_map" in self.__dict__:
            frame = RAW_ROWS * COLS * DTYPE.itemsize
            mapping.release(self.path, start * frame, (stop - start) * frame)

    def read(self, start: int, stop: int) -> np.ndarray:
        """Frames ``[start, stop)`` as a strided read-only ``(k, 128*128)`` float32 view."""
        self._check_range(start, stop)
        raw_frame = RAW_ROWS * COLS
        require_size(self.path, self.stop * raw_frame * DTYPE.itemsize, self.label)
        if "_map" not in self.__dict__:
            offset = self.start * raw_frame * DTYPE.itemsize
            shape = (self.n_frames, raw_frame)
            self._map = map_view(self.path, DTYPE, offset, shape, self.pinned)
        return self._map[start - self.start : stop - self.start, : ROWS * COLS]


class EmpadDataSet(DataSet):
    """An EMPAD acquisition opened from its ``.xml`` (or its ``.raw`` with ``nav_shape``)."""

    format = "empad"

    def __init__(
        self, *, path: str, raw_path: str, nav_shape: Sequence[int], notes: list[str]
    ) -> None:
        super().__init__(path=path, nav_shape=nav_shape, sig_shape=(ROWS, COLS), dtype=DTYPE)
        self.raw_path = raw_path
        self.notes = notes
        self.given_nav_shape: list[int] | None = None
        self.warnings: list[str] = []

    @classmethod
    def references(
        cls, path: str, params: dict[str, Any], *, allowed: AllowedFiles
    ) -> list[Reference]:
        """The ``.xml`` and the raw file its ``<raw_file>`` names."""
        check_files([Reference(path)], allowed)
        raw_path = read_xml(path)[0]
        return check_files([Reference(path), Reference(raw_path, path, "<raw_file>")], allowed)

    @classmethod
    def open(cls, path: str, **params: Any) -> EmpadDataSet:
        """Open the ``.xml``; ``nav_shape`` overrides the scan shape it gives."""
        check_params(params, PARAMS, path=path, kind="EMPAD")
        raw_path, scan, mode = read_xml(path)
        notes = [f"EMPAD scan {list(scan)} from the XML ({mode} scan parameters)."]
        nav = tuple(scan)
        if params.get("nav_shape") is not None:
            nav = check_shape(params["nav_shape"], name="nav_shape", source=path)
            notes.append(f"Scan shape {list(nav)} given by the user.")
        frame_bytes = RAW_ROWS * COLS * DTYPE.itemsize
        try:
            size = os.stat(raw_path).st_size
        except OSError as exc:
            raise DataSetError(
                f"{path}: the raw file {raw_path} named in <raw_file> cannot be read: "
                f"{exc.strerror}."
            ) from exc
        found, rest = divmod(size, frame_bytes)
        warnings = []
        if rest:
            warnings.append(
                f"{os.path.basename(raw_path)}: the last frame is incomplete ({rest} of "
                f"{frame_bytes} bytes) and is ignored."
            )
        n = math.prod(nav)
        given = params.get("nav_shape") is not None
        if found < n or (found > n and not given):
            raise DataSetError(
                f"{raw_path}: has {found} whole frames of 130 x 128 float32 ({size} bytes); the "
                f"scan {list(nav)} needs {n}. Give nav_shape to read a truncated acquisition."
            )
        if found > n:
            warnings.append(
                f"nav_shape {list(nav)} uses {n} of {found} frames; the rest are ignored."
            )
        ds = cls(path=path, raw_path=raw_path, nav_shape=nav, notes=notes)
        ds.warnings = warnings
        if params.get("nav_shape") is not None:
            ds.given_nav_shape = list(nav)
        return ds

    def params(self) -> dict[str, Any]:
        return {} if self.given_nav_shape is None else {"nav_shape": self.given_nav_shape}

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "notes": self.notes, "warnings": self.warnings}

    def make_partition(self, index: int, start: int, stop: int) -> Partition:
        return EmpadPartition(path=self.raw_path, **self.frames(index, start, stop))


def read_xml(path: str) -> tuple[str, tuple[int, int], str]:
    """``(raw file path, (ny, nx), mode)`` from an EMPAD XML file."""
    try:
        with open(path, "rb") as f:
            text = f.read(MAX_XML_BYTES)
        root = fromstring(text)
    except OSError as exc:
        raise DataSetError(f"{path}: cannot read the file: {exc.strerror}.") from exc
    except (ParseError, DefusedXmlException) as exc:
        raise DataSetError(
            f"{path}: looks like an EMPAD XML file but is not valid, safe XML: {exc}."
        ) from exc
    raw = root.find(".//raw_file")
    if raw is None or not raw.get("filename"):
        raise DataSetError(f"{path}: EMPAD XML without <raw_file filename=...>.")
    # The XML often holds the acquisition PC's (Windows) path: only the name counts.
    name = re.split(r"[\\/]", str(raw.get("filename")))[-1]
    raw_path = os.path.join(os.path.dirname(path), name)
    blocks = root.findall(".//scan_parameters")
    block = next((b for b in blocks if b.get("mode") == "acquire"), blocks[0] if blocks else None)
    if block is None:
        raise DataSetError(f"{path}: EMPAD XML without <scan_parameters>; give nav_shape.")
    scan = (_resolution(block, "y", path), _resolution(block, "x", path))
    return raw_path, scan, str(block.get("mode", "unnamed"))


def _resolution(block: Element, axis: str, path: str) -> int:
    text = (block.findtext(f"scan_resolution_{axis}") or "").strip()
    if not text.isdigit() or int(text) <= 0:
        raise DataSetError(
            f"{path}: <scan_resolution_{axis}> is {text!r}; expected a positive whole number."
        )
    return int(text)
