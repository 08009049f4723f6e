"""Merlin / Medipix3 over its TCP protocol: the control socket arms, the data socket streams.

On the data socket every message is MPX-framed (``MPX,<length>,`` + payload): first the
acquisition header (the ``.hdr`` text), then one message per frame, the frame header and its
pixels exactly as a ``.mib`` file stores them. Frame headers are parsed and frames decoded by
the file reader's code (:mod:`apps.core.io.mib_header`, :func:`apps.core.io.mib.decode_r64`);
frames are read many at once straight into one buffer (all frames of an acquisition have one
size), and a block's pixels are a view of it, not a copy (RAW frames are decoded).
"""

from __future__ import annotations

import contextlib
import math
import socket
import time
from collections.abc import Callable, Iterator, Sequence

import numpy as np

from apps.core.errors import DataSetError
from apps.core.io.base import check_shape
from apps.core.io.mib import decode_r64
from apps.core.io.mib_header import FrameHeader, parse_acquisition, parse_frame_header
from apps.core.live.merlin_control import PREFIX_BYTES, MerlinControl
from apps.core.live.stream import DetectorSource, FrameBlock, StreamError, StreamInfo

#: frames read per block: about 4 MiB of 256 x 256 12-bit frames
BLOCK_BYTES = 4 * 2**20
#: a block is handed on after this many seconds even if it is not full (slow scans)
BLOCK_SECONDS = 0.1


class MerlinSource(DetectorSource):
    """One acquisition of the Merlin readout at ``host`` (``data_port``, ``control_port``).

    ``nav_shape`` is the scan; the acquisition header must announce at least that many frames.
    ``trigger`` ``"soft"`` sends ``SOFTTRIGGER`` after ``STARTACQUISITION`` (the scan engine
    triggers otherwise: ``"external"``). ``control_port`` None leaves arming to someone else
    (the source only listens). ``first_timeout`` is how long the first frame may take after
    arming (the scan engine may start late), ``timeout`` how long the stream may be silent
    after it (seconds).
    ``first_sequence`` is the sequence number of the scan's first frame.
    """

    def __init__(
        self,
        *,
        host: str,
        data_port: int,
        control_port: int | None,
        nav_shape: Sequence[int],
        trigger: str = "soft",
        timeout: float = 10.0,
        first_timeout: float = 60.0,
        first_sequence: int = 1,
    ) -> None:
        self.host = host
        self.data_port = data_port
        self.control_port = control_port
        self.nav_shape = check_shape(nav_shape, name="nav_shape", source="Merlin")
        if trigger not in ("soft", "external"):
            raise ValueError(f"trigger must be 'soft' or 'external', got {trigger!r}.")
        self.trigger = trigger
        self.timeout = timeout
        self.first_timeout = first_timeout
        self.first_sequence = first_sequence
        self.where = f"Merlin data {host}:{data_port}"
        self._sock: socket.socket | None = None
        self._header: FrameHeader | None = None
        self._first: bytes = b""
        self._carry: bytes = b""  # the start of a frame a read ended in

    def start(self) -> StreamInfo:
        """Connect (or keep the connection of the acquisition before), arm, read the
        acquisition header and the first frame."""
        if self._sock is None:
            try:
                self._sock = socket.create_connection((self.host, self.data_port), self.timeout)
            except OSError as exc:
                raise StreamError(f"{self.where}: cannot connect ({exc}).") from exc
        self._sock.settimeout(self.first_timeout)
        self._carry = b""
        self._arm()
        text = self._message().decode("ascii", errors="replace")
        try:
            acquisition = parse_acquisition(text, self.where)
        except DataSetError as exc:
            raise StreamError(str(exc)) from exc
        n = math.prod(self.nav_shape)
        if acquisition.frames < n:
            raise StreamError(
                f"{self.where}: the acquisition header announces {acquisition.frames} frames, "
                f"fewer than the scan of {list(self.nav_shape)} ({n} frames)."
            )
        self._first = self._message()
        self._sock.settimeout(self.timeout)
        header = self._parse_header(self._first)
        self._header = header
        return StreamInfo(
            detector="merlin",
            nav_shape=self.nav_shape,
            sig_shape=header.sig_shape,
            dtype=np.dtype(header.dtype).newbyteorder("="),
            # the recording keeps the detector's bytes (big-endian integers; RAW decoded)
            source_dtype=np.dtype(header.dtype if header.raw else header.file_dtype),
            metadata={
                "detector": "Merlin",
                "acquisition_header": text.rstrip("\0 \t\r\n"),
                "frames_in_acquisition": acquisition.frames,
                "pixel_type": header.pixel_type,
                "counter_depth": header.depth,
                "layout": header.layout,
                "chips": header.chips,
            },
        )

    def _arm(self) -> None:
        if self.control_port is None:
            return
        control = MerlinControl(self.host, self.control_port, timeout=self.timeout)
        try:
            control.cmd("STARTACQUISITION")
            if self.trigger == "soft":
                control.cmd("SOFTTRIGGER")
        finally:
            control.close()

    def _parse_header(self, frame: bytes) -> FrameHeader:
        try:
            return parse_frame_header(frame, self.where)
        except DataSetError as exc:
            raise StreamError(str(exc)) from exc

    def blocks(self) -> Iterator[FrameBlock]:
        header = self._header
        if header is None:
            raise RuntimeError("start() the source before reading its blocks")
        stride = PREFIX_BYTES + len(self._first)
        n = math.prod(self.nav_shape)
        per_block = max(1, BLOCK_BYTES // stride)
        first = np.frombuffer(b"MPX,%010d," % (len(self._first) + 1) + self._first, np.uint8)
        rows = first.reshape(1, stride)
        received, last = 1, -1
        while True:
            for block in self._split(rows, header):
                last = max(last, block.stop - 1)
                yield block
            # the scan's last frame ends it, also when frames before it were lost
            if received >= n or last >= n - 1:
                return
            rows, failure = self._read_rows(min(per_block, n - 1 - last), stride)
            received += rows.shape[0]
            if failure is not None:
                yield from self._split(rows, header)
                raise StreamError(f"{self.where}: {failure} after {received} of {n} frames.")

    def _split(self, rows: np.ndarray, header: FrameHeader) -> Iterator[FrameBlock]:
        """The rows ``(k, stride)`` as blocks of consecutive frames (split where frames are
        missing), after checking every frame's framing."""
        if rows.shape[0] == 0:
            return
        indices = self._indices(rows, header)
        pixels = rows[:, PREFIX_BYTES + header.header_bytes :]
        cuts = np.flatnonzero(np.diff(indices) != 1) + 1
        for lo, hi in zip([0, *cuts], [*cuts, len(indices)], strict=True):
            yield self._block(int(indices[lo]), pixels[lo:hi], header)

    def _indices(self, rows: np.ndarray, header: FrameHeader) -> np.ndarray:
        """The scan index of every row, from its sequence number; bad framing is an error."""
        ok = (rows[:, :4] == np.frombuffer(b"MPX,", np.uint8)).all(axis=1)
        ok &= (rows[:, PREFIX_BYTES : PREFIX_BYTES + 4] == np.frombuffer(b"MQ1,", np.uint8)).all(
            axis=1
        )
        if not ok.all():
            bad = int(np.flatnonzero(~ok)[0])
            raise StreamError(
                f"{self.where}: a frame does not start with 'MPX,' and 'MQ1,' "
                f"({bytes(rows[bad, :24])!r}); frames of one acquisition must have one size."
            )
        seq = [
            int(bytes(row[PREFIX_BYTES + 4 : PREFIX_BYTES + 24]).split(b",", 1)[0]) for row in rows
        ]
        return np.asarray(seq, dtype=np.int64) - self.first_sequence

    def _block(self, start: int, pixels: np.ndarray, header: FrameHeader) -> FrameBlock:
        """Frames from their pixel bytes: RAW decoded, big-endian integers swapped into the
        machine's order (the source's bytes kept for the recording)."""
        if header.raw:
            return FrameBlock(start, decode_r64(pixels, header.depth, header.sig_shape))
        source = pixels.view(header.file_dtype)
        if source.dtype.isnative:
            return FrameBlock(start, source)
        return FrameBlock(start, source.astype(source.dtype.newbyteorder("=")), source)

    def _read_rows(self, k: int, stride: int) -> tuple[np.ndarray, str | None]:
        """Up to ``k`` whole frames as rows ``(k, stride)``, and why fewer arrived if the
        stream broke off (closed or silent). Returns early with the whole frames there are
        after :data:`BLOCK_SECONDS` (a slow scan still updates the results), or when the scan's
        last frame arrives early (frames were lost); a partial frame waits for the next read."""
        buf = np.empty(k * stride, dtype=np.uint8)
        carried = len(self._carry)
        buf[:carried] = np.frombuffer(self._carry, np.uint8)
        n = math.prod(self.nav_shape)
        deadline = time.monotonic() + BLOCK_SECONDS

        def enough(got: int) -> bool:
            whole = got // stride
            if whole == 0:
                return False
            return (
                time.monotonic() > deadline or self._sequence(buf[(whole - 1) * stride :]) >= n - 1
            )

        got, failure = self._recv_into(buf.data, enough, start=carried)
        whole = got - got % stride
        self._carry = bytes(buf[whole:got])
        return buf[:whole].reshape(-1, stride), failure

    def _sequence(self, row: np.ndarray) -> int:
        """The scan index of the frame in ``row`` (its sequence number, from the header)."""
        field = bytes(row[PREFIX_BYTES + 4 : PREFIX_BYTES + 24]).split(b",", 1)[0]
        if not field.isdigit():
            raise StreamError(f"{self.where}: a frame header has no sequence number: {field!r}.")
        return int(field) - self.first_sequence

    def _message(self) -> bytes:
        prefix = self._recv_exactly(PREFIX_BYTES)
        if not prefix.startswith(b"MPX,") or not prefix[4:14].isdigit():
            raise StreamError(f"{self.where}: expected an MPX message, got {prefix!r}.")
        return self._recv_exactly(int(prefix[4:14]) - 1)

    def _recv_exactly(self, size: int) -> bytes:
        buf = bytearray(size)
        _, failure = self._recv_into(memoryview(buf))
        if failure is not None:
            raise StreamError(f"{self.where}: {failure} before the first frame.")
        return bytes(buf)

    def _recv_into(
        self, view: memoryview, done: Callable[[int], bool] | None = None, start: int = 0
    ) -> tuple[int, str | None]:
        """Fill ``view`` from byte ``start`` on (or until ``done(bytes in view)``): the bytes in
        ``view``, and None or why it stopped short (the peer closed, or sent nothing for longer
        than the timeout)."""
        sock = self._sock
        assert sock is not None
        got = start
        while got < len(view):
            try:
                r = sock.recv_into(view[got:])
            except TimeoutError:
                return got, f"no data for {sock.gettimeout():g} s"
            except OSError as exc:
                return got, f"the connection failed ({exc})"
            if r == 0:
                return got, "the detector closed the connection"
            got += r
            if done is not None and done(got):
                break
        return got, None

    def stop(self) -> None:
        # shutdown wakes a thread waiting in recv (a bare close may not)
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()
