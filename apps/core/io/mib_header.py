"""Parsing of Merlin frame headers (``.mib``) and acquisition headers (``.hdr``)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from apps.core.errors import DataSetError

#: Pixel type -> (dtype in the file, dtype of the dataset). The dataset's integers are in
#: little-endian order, as the compiled loops take them (big-endian tiles fell back to numpy
#: paths 15 to 100 times slower); the reader swaps the bytes of each tile it reads.
PIXEL_TYPES = {"U08": (">u1", "|u1"), "U16": (">u2", "<u2"), "U32": (">u4", "<u4")}
#: RAW counter depth -> (bits stored per pixel, dtype of the decoded dataset).
RAW_DEPTHS = {1: (1, "|u1"), 6: (8, "|u1"), 12: (16, "<u2"), 24: (32, "<u4")}
MIN_HEADER_FIELDS = 8
MAX_HEADER_BYTES = 65536


@dataclass(frozen=True)
class FrameHeader:
    """The first frame header of a ``.mib`` file.

    ``sig_shape`` is ``(height, width)``; ``pixel_bytes`` the size of one frame's pixels in the
    file; ``dtype`` the dataset's dtype (after RAW decoding).
    """

    path: str
    sequence: int
    header_bytes: int
    chips: int
    sig_shape: tuple[int, int]
    pixel_type: str
    layout: str
    depth: int
    pixel_bytes: int
    file_dtype: str
    dtype: str

    @property
    def stride(self) -> int:
        return self.header_bytes + self.pixel_bytes

    @property
    def raw(self) -> bool:
        return self.pixel_type == "R64"

    def same_layout(self, other: FrameHeader) -> bool:
        return (self.header_bytes, self.sig_shape, self.pixel_type, self.depth) == (
            other.header_bytes,
            other.sig_shape,
            other.pixel_type,
            other.depth,
        )

    def describe(self) -> str:
        return f"{self.sig_shape[0]} x {self.sig_shape[1]} {self.pixel_type}"


def _field(fields: list[str], index: int, name: str, path: str) -> int:
    text = fields[index].strip() if index < len(fields) else ""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value <= 0:
        raise DataSetError(
            f"{path}: corrupt Merlin frame header: field {index + 1} ({name}) is {text!r}, "
            "expected a positive integer."
        )
    return value


def read_frame_header(path: str) -> FrameHeader:
    """Parse the first frame header of the ``.mib`` file at ``path``."""
    try:
        with open(path, "rb") as f:
            head = f.read(MAX_HEADER_BYTES)
    except OSError as exc:
        raise DataSetError(f"{path}: cannot read the file: {exc.strerror}.") from exc
    return parse_frame_header(head, path)


def parse_frame_header(head: bytes, path: str) -> FrameHeader:
    """Parse the frame header at the start of ``head`` (a file's first bytes, or a frame as it
    arrives over the detector's data socket); ``path`` names the source in errors."""
    if not head.startswith(b"MQ1,"):
        raise DataSetError(
            f"{path}: not a Merlin .mib file: it does not start with the frame header 'MQ1,'."
        )
    fields = head[:1024].decode("ascii", errors="replace").split(",")
    header_bytes = _field(fields, 2, "header size in bytes", path)
    chips = _field(fields, 3, "number of chips", path)
    width = _field(fields, 4, "frame width", path)
    height = _field(fields, 5, "frame height", path)
    if header_bytes > len(head) or len(fields) < MIN_HEADER_FIELDS:
        raise DataSetError(
            f"{path}: corrupt Merlin frame header: header size {header_bytes} is larger than "
            "the file or the header has too few fields."
        )
    text = head[:header_bytes].decode("ascii", errors="replace")
    fields = text.rstrip("\0 ").rstrip(",").split(",")
    pixel_type = fields[6].strip()
    layout = fields[7].strip()
    depth = _depth(fields, pixel_type, path)
    sig = (height, width)
    c = height * width
    if pixel_type in PIXEL_TYPES:
        file_dtype, dtype = PIXEL_TYPES[pixel_type]
        pixel_bytes = c * np.dtype(file_dtype).itemsize
    elif pixel_type == "R64":
        if chips != 1 or layout != "1x1":
            raise DataSetError(
                f"{path}: RAW (R64) frames of a {layout} detector ({chips} chips) are not "
                "supported yet; record in U08/U16/U32 (colour or counting mode) or use a single "
                "chip."
            )
        bits, dtype = RAW_DEPTHS[depth]
        file_dtype = "|u1"
        pixel_bytes = c * bits // 8
    else:
        raise DataSetError(
            f"{path}: pixel type (field 7) is {pixel_type!r}; expected U08, U16, U32 or R64."
        )
    return FrameHeader(
        path=path,
        sequence=_field(fields, 1, "sequence number", path),
        header_bytes=header_bytes,
        chips=chips,
        sig_shape=sig,
        pixel_type=pixel_type,
        layout=layout,
        depth=depth,
        pixel_bytes=pixel_bytes,
        file_dtype=file_dtype,
        dtype=dtype,
    )


def _depth(fields: list[str], pixel_type: str, path: str) -> int:
    """Counter depth: the last header field (newer firmware), else implied by the pixel type."""
    last = fields[-1].strip()
    if last.isdigit() and int(last) in RAW_DEPTHS:
        return int(last)
    if pixel_type == "R64":
        raise DataSetError(
            f"{path}: RAW (R64) frame header ends with {last!r}; expected the counter depth "
            "1, 6, 12 or 24 as its last field."
        )
    return {"U08": 6, "U16": 12, "U32": 24}.get(pixel_type, 0)


@dataclass(frozen=True)
class Acquisition:
    """What a ``.hdr`` says about the scan."""

    frames: int
    per_trigger: int
    scan: tuple[int, int] | None  # (ScanY, ScanX) where the software wrote them
    source: str

    def nav_shape(self) -> tuple[int, ...]:
        if self.scan is not None and math.prod(self.scan) == self.frames:
            return self.scan
        if 1 < self.per_trigger < self.frames and self.frames % self.per_trigger == 0:
            return (self.frames // self.per_trigger, self.per_trigger)
        return (self.frames,)


def read_acquisition(path: str) -> Acquisition:
    """Parse the ``.hdr`` at ``path``: frames in acquisition, frames per trigger, ScanX/Y."""
    try:
        with open(path, "rb") as f:
            text = f.read(MAX_HEADER_BYTES).decode("ascii", errors="replace")
    except OSError as exc:
        raise DataSetError(f"{path}: cannot read the file: {exc.strerror}.") from exc
    return parse_acquisition(text, path)


def parse_acquisition(text: str, path: str) -> Acquisition:
    """Parse an acquisition header (a ``.hdr`` file's text, or the header a detector sends
    before the frames); ``path`` names the source in errors."""
    if not text.startswith("HDR,"):
        raise DataSetError(f"{path}: not a Merlin .hdr file: it does not start with 'HDR,'.")
    values: dict[str, str] = {}
    for line in text.replace("\0", "").splitlines():
        key, sep, value = line.partition(":")
        if sep:
            values[key.split("(")[0].strip().lower()] = value.strip()
    frames = _hdr_int(values, "frames in acquisition", path)
    per_trigger = _hdr_int(values, "frames per trigger", path)
    scan = None
    source = "'Frames per Trigger'"
    if "scanx" in values and "scany" in values:
        scan = (_hdr_int(values, "scany", path), _hdr_int(values, "scanx", path))
        source = "ScanY x ScanX"
    return Acquisition(frames=frames, per_trigger=per_trigger, scan=scan, source=source)


def _hdr_int(values: dict[str, str], key: str, path: str) -> int:
    text = values.get(key)
    if text is None or not text.isdigit() or int(text) <= 0:
        raise DataSetError(
            f"{path}: field {key!r} is {text!r}; expected a positive whole number of frames."
        )
    return int(text)
