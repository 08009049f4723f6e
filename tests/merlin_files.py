"""Merlin files for tests: written from the format description, and read with numpy alone."""

from __future__ import annotations

from pathlib import Path

import numpy as np

BYTES = {"U08": 1, "U16": 2, "U32": 4}


def numpy_read(path: Path) -> tuple[np.ndarray, str]:
    """Frames of a .mib parsed with numpy alone: ``(n, height, width)`` and the pixel type."""
    blob = np.fromfile(path, dtype=np.uint8)
    fields = bytes(blob[:200]).decode("ascii").split(",")
    header, width, height, kind = int(fields[2]), int(fields[4]), int(fields[5]), fields[6]
    if kind == "R64":  # 1-bit RAW: 64-bit big-endian words, pixel k = bit k
        frame = header + width * height // 8
        n = blob.size // frame
        words = blob[: n * frame].reshape(n, frame)[:, header:].reshape(n, -1, 8)[:, :, ::-1]
        bits = np.unpackbits(words, axis=-1, bitorder="little")
        return bits.reshape(n, height, width), kind
    frame = header + width * height * BYTES[kind]
    n = blob.size // frame
    pixels = blob[: n * frame].reshape(n, frame)[:, header:].copy()
    return pixels.view(f">u{BYTES[kind]}").reshape(n, height, width), kind


def write_mib(
    path: Path,
    frames: np.ndarray,
    *,
    first: int = 1,
    kind: str = "U16",
    depth: int = 12,
    header_bytes: int = 384,
    extra: bytes = b"",
    chips: int = 1,
    layout: str = "1x1",
) -> None:
    """Frames ``(n, h, w)`` as a .mib: an ASCII header padded to ``header_bytes``, then pixels
    (a quad's ``U`` frames, ``chips`` 4 and ``layout`` ``2x2``, as the assembled image)."""
    n, h, w = frames.shape
    with open(path, "wb") as f:
        for i in range(n):
            head = (
                f"MQ1,{first + i:06d},{header_bytes:05d},{chips:02d},{w:04d},{h:04d},{kind},"
                f"{layout:>6},{(1 << chips) - 1:02X},"
                f"2024-01-01 00:00:00.000000,0.001,0,0,0,1.0E+1,5.1E+2,3RX,MQ1A,"
                f"2024-01-01T00:00:00Z,1000ns,{depth},"
            ).encode()
            f.write(head.ljust(header_bytes, b"\0"))
            if kind == "R64":
                f.write(encode_r64(frames[i], depth))
            else:
                f.write(frames[i].astype(f">u{BYTES[kind]}").tobytes())
        f.write(extra)


def encode_r64(frame: np.ndarray, depth: int) -> bytes:
    """The inverse of the RAW layout: values packed LSB-first into big-endian 64-bit words."""
    flat = frame.ravel()
    if depth == 1:
        packed = np.packbits(flat.astype(np.uint8), bitorder="little")
    elif depth == 6:
        packed = flat.astype(np.uint8)
    elif depth == 12:
        packed = flat.astype("<u2").view(np.uint8)
    else:
        halves = np.concatenate([flat >> 12, flat & 0xFFF]).astype("<u2")
        packed = halves.view(np.uint8)
    return packed.reshape(-1, 8)[:, ::-1].tobytes()


def write_hdr(path: Path, frames: int, per_trigger: int, depth: int = 12) -> None:
    text = (
        f"HDR,\t\nCounter Depth (number):\t{depth}\n"
        f"Frames in Acquisition (Number):\t{frames}\nFrames per Trigger (Number):\t{per_trigger}\n"
        "End\t"
    )
    path.write_bytes(text.encode().ljust(2048, b" "))
