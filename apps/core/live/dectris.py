"""DECTRIS detectors (Arina, Eiger, Quadro): armed through the SIMPLON API, frames from the
zmq stream (``stream`` interface, "stream1" message format).

The stream is a zmq PUSH socket on the detector control unit; the receiver connects a PULL
socket before arming. After ``arm`` it sends the series header (``dheader-1.0``, then the
detector configuration as JSON with ``header_detail`` ``basic``), then per frame four parts:
``dimage-1.0`` (series, frame index), ``dimage_d-1.0`` (shape ``[x, y]``, pixel type,
encoding), the pixels (bitshuffle-LZ4, LZ4 or plain, :mod:`apps.core.live.bslz4`) and
``dconfig-1.0`` (times), and finally ``dseries_end-1.0``. Frames carry their index, so a gap
is a lost frame; a series that ends before its last frame, or falls silent, is truncated.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np
import zmq

from apps.core.io.base import check_shape
from apps.core.live.bslz4 import decode_frame
from apps.core.live.simplon import Simplon
from apps.core.live.stream import DetectorSource, FrameBlock, StreamError, StreamInfo

PIXEL_TYPES = {"uint8": "u1", "uint16": "u2", "uint32": "u4"}
#: frames per block (about 4 MiB of 192 x 192 uint32 frames) ...
BLOCK_BYTES = 4 * 2**20
#: ... or fewer, handed on after this many seconds (slow scans)
BLOCK_SECONDS = 0.1
#: threads that decompress frames beside the one reading the socket
DECODE_THREADS = min(4, os.cpu_count() or 1)
#: frames a decompressing thread takes at once (fewer hand-overs between threads)
DECODE_BATCH = 4
#: finished blocks that may wait for their decompression before the reader waits for them
READY_BLOCKS = 2
#: how often a wait for the stream looks whether reception was stopped
POLL_SECONDS = 0.2
#: configuration the portal reads for the recording's metadata (those the DCU answers)
DESCRIBED = (
    "description",
    "detector_number",
    "count_time",
    "frame_time",
    "photon_energy",
    "threshold_energy",
    "x_pixel_size",
    "y_pixel_size",
    "sensor_material",
    "sensor_thickness",
    "compression",
)


class DectrisSource(DetectorSource):
    """One series of the DECTRIS detector whose SIMPLON API is at ``host:api_port`` and whose
    zmq stream is at ``host:zmq_port``.

    ``trigger_mode`` ``exte`` (one frame per trigger of the scan engine, ``ntrigger`` = the
    scan's frames) or ``exts`` (one trigger, ``nimages`` = the scan's frames). ``timeout`` is
    how long the stream may be silent, ``first_timeout`` how long the first frame may take
    after arming (seconds). ``configure`` False leaves the detector's configuration as the
    operator set it (its frame count must then match the scan) and only arms it.
    ``decode_threads`` threads decompress the frames.
    """

    def __init__(
        self,
        *,
        host: str,
        api_port: int,
        zmq_port: int,
        nav_shape: Sequence[int],
        trigger_mode: str = "exte",
        timeout: float = 10.0,
        first_timeout: float = 60.0,
        configure: bool = True,
        decode_threads: int = DECODE_THREADS,
    ) -> None:
        if trigger_mode not in ("exte", "exts"):
            raise ValueError(f"trigger_mode must be 'exte' or 'exts', got {trigger_mode!r}.")
        self.host = host
        self.api_port = api_port
        self.zmq_port = zmq_port
        self.nav_shape = check_shape(nav_shape, name="nav_shape", source="DECTRIS")
        self.trigger_mode = trigger_mode
        self.timeout = timeout
        self.first_timeout = first_timeout
        self.configure = configure
        self.decode_threads = max(1, decode_threads)
        self.where = f"DECTRIS stream {host}:{zmq_port}"
        self._context: zmq.Context[Any] | None = None
        self._socket: zmq.Socket[Any] | None = None
        self._api: Simplon | None = None
        self._series: int | None = None
        self._stopping = threading.Event()
        self._dtype: np.dtype | None = None  # the frames' dtype the series header announced

    def start(self) -> StreamInfo:
        n = math.prod(self.nav_shape)
        api = self._api or Simplon(self.host, self.api_port, timeout=self.timeout)
        self._api = api
        api.set_stream_config("mode", "enabled")
        api.set_stream_config("header_detail", "basic")
        if self.configure:
            api.set_detector_config("trigger_mode", self.trigger_mode)
            frames, triggers = (1, n) if self.trigger_mode == "exte" else (n, 1)
            api.set_detector_config("nimages", frames)
            api.set_detector_config("ntrigger", triggers)
        if self._socket is None:  # else: kept from the series before
            self._context = zmq.Context()
            self._socket = self._context.socket(zmq.PULL)
            self._socket.setsockopt(zmq.LINGER, 0)
            self._socket.connect(f"tcp://{self.host}:{self.zmq_port}")
        self._series = int(api.command("arm").get("sequence id", -1))
        info = self._info(self._header(), api)
        self._dtype = info.dtype
        return info

    def _header(self) -> dict[str, Any]:
        """The series header: ``dheader-1.0`` (earlier series' ends skipped), then the
        detector configuration."""
        while True:
            parts = self._receive(self.first_timeout)
            head = _json(parts[0], self.where)
            if head.get("htype") == "dheader-1.0":
                break
            if head.get("htype") != "dseries_end-1.0":
                raise StreamError(f"{self.where}: expected the series header, got {head!r:.200}.")
        if self._series is not None and self._series >= 0 and head.get("series") != self._series:
            raise StreamError(
                f"{self.where}: the stream sends series {head.get('series')}, "
                f"but arming started series {self._series}."
            )
        config = parts[1] if len(parts) > 1 else self._receive(self.first_timeout)[0]
        return _json(config, self.where)

    def _info(self, config: dict[str, Any], api: Simplon) -> StreamInfo:
        try:
            sig = (int(config["y_pixels_in_detector"]), int(config["x_pixels_in_detector"]))
            bits = int(config["bit_depth_image"])
        except (KeyError, TypeError, ValueError) as exc:
            raise StreamError(
                f"{self.where}: the series header lacks the frame size or bit depth ({exc})."
            ) from exc
        described = {}
        for name in DESCRIBED:
            try:
                described[name] = api.detector_config(name)
            except StreamError:
                continue  # not every detector (nor the simulator) answers every name
        return StreamInfo(
            detector="dectris",
            nav_shape=self.nav_shape,
            sig_shape=sig,
            dtype=np.dtype(f"<u{1 if bits <= 8 else 2 if bits <= 16 else 4}"),
            metadata={
                "detector": "DECTRIS",
                "series": self._series,
                "stream_config": config,
                "detector_config": described,
                "simplon_version": api.version,
            },
        )

    def blocks(self) -> Iterator[FrameBlock]:
        return _Blocks(self).run()

    def _receive(self, timeout: float) -> list[Any]:
        """The next message; polls in short slices so that :meth:`stop` is noticed."""
        sock = self._socket
        if sock is None:
            raise StreamError(f"{self.where}: the source is closed.")
        waited = 0.0
        while not sock.poll(int(POLL_SECONDS * 1000)):
            waited += POLL_SECONDS
            if self._stopping.is_set():
                raise StreamError(f"{self.where}: reception was stopped")
            if waited >= timeout:
                raise StreamError(f"{self.where}: no data for {timeout:g} s")
        return sock.recv_multipart(copy=False)

    def _readable(self) -> bool:
        """Whether a message is waiting on the socket (the reader need not wait for it)."""
        return self._socket is not None and bool(self._socket.poll(0))

    def stop(self) -> None:
        self._stopping.set()

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close(linger=0)
            self._socket = None
        if self._context is not None:
            self._context.term()
            self._context = None
        if self._api is not None:
            api, self._api = self._api, None
            # the stream's own error (if any) is the one to report
            with contextlib.suppress(StreamError):
                api.command("disarm")


class _Blocks:
    """Frames of one series gathered into blocks of consecutive indices.

    The thread that runs :meth:`run` only reads the socket and parses the small headers; the
    pixels go to a pool of threads that decompress them (the C decompressor releases the
    GIL) in batches of :data:`DECODE_BATCH` frames. A finished block waits in ``ready``
    until its frames are decompressed and is handed on in order, at the latest when more
    than :data:`READY_BLOCKS` wait or the socket has nothing to read."""

    def __init__(self, source: DectrisSource) -> None:
        self.source = source
        self.n = math.prod(source.nav_shape)
        self.pool = ThreadPoolExecutor(source.decode_threads, thread_name_prefix="dectris-decode")
        self.ready: deque[tuple[FrameBlock, list[Future[int]]]] = deque()
        self.batch: list[tuple[Any, str, np.ndarray]] = []
        self.pending: list[Future[int]] = []  # the batches of the block being filled
        self.described: tuple[bytes, dict[str, Any]] = (b"", {})

    def run(self) -> Iterator[FrameBlock]:
        try:
            yield from self._frames()
        finally:
            self.pool.shutdown(wait=True, cancel_futures=True)

    def _frames(self) -> Iterator[FrameBlock]:
        src = self.source
        n = self.n
        buf: np.ndarray | None = None
        start, count, last = 0, 0, -1
        deadline = time.monotonic() + BLOCK_SECONDS
        timeout = src.first_timeout
        while last < n - 1:
            if self.ready and not src._readable():
                yield from self._handed_on(keep=0)
            try:
                parts = src._receive(timeout)
            except StreamError as exc:
                if buf is not None and count:
                    self._finish(FrameBlock(start, buf[:count]))
                yield from self._handed_on(keep=0)
                raise StreamError(f"{exc} after {last + 1} of {n} frames.") from None
            timeout = src.timeout
            head = _json(parts[0], src.where)
            kind = head.get("htype")
            if kind == "dseries_end-1.0":
                break
            if kind != "dimage-1.0" or len(parts) < 3:
                raise StreamError(f"{src.where}: unexpected message {head!r:.200}.")
            index = int(head["frame"])
            described = self._description(parts[1])
            if buf is None:
                buf = self._buffer(described)
            if count and (index != start + count or count == buf.shape[0]):
                self._finish(FrameBlock(start, buf[:count]))
                buf, count = self._buffer(described), 0
            if not count:
                start = index
            self._decode(parts[2], str(described.get("encoding", "")), buf[count])
            count += 1
            last = max(last, index)
            if time.monotonic() > deadline:
                self._finish(FrameBlock(start, buf[:count]))
                buf, count = self._buffer(described), 0
                deadline = time.monotonic() + BLOCK_SECONDS
            yield from self._handed_on(keep=READY_BLOCKS)
        if buf is not None and count:
            self._finish(FrameBlock(start, buf[:count]))
        yield from self._handed_on(keep=0)
        if last < n - 1:
            raise StreamError(f"{src.where}: the series ended after frame {last} of {n} frames.")

    def _description(self, part: Any) -> dict[str, Any]:
        """``dimage_d-1.0``, parsed once: every frame of a series sends the same bytes."""
        raw = part.bytes if hasattr(part, "bytes") else bytes(part)
        if raw != self.described[0]:
            self.described = (raw, _json(raw, self.source.where))
        return self.described[1]

    def _decode(self, part: Any, encoding: str, out: np.ndarray) -> None:
        self.batch.append((part, encoding, out))
        if len(self.batch) >= DECODE_BATCH:
            self._submit()

    def _submit(self) -> None:
        if self.batch:
            self.pending.append(self.pool.submit(_decode_batch, self.batch))
            self.batch = []

    def _finish(self, block: FrameBlock) -> None:
        """``block`` holds all its frames: it waits for their decompression in ``ready``."""
        self._submit()
        self.ready.append((block, self.pending))
        self.pending = []

    def _handed_on(self, keep: int) -> Iterator[FrameBlock]:
        """The ready blocks whose frames are decompressed, in order; waits for the oldest
        while more than ``keep`` are ready. A frame that did not decompress ends the series
        here, after the frames of its block before it."""
        while self.ready:
            block, futures = self.ready[0]
            if len(self.ready) <= keep and not all(f.done() for f in futures):
                return
            good = 0
            for future in futures:
                try:
                    good += future.result()
                except _DecodeFailure as failure:
                    if good + failure.decoded:
                        yield FrameBlock(block.start, block.frames[: good + failure.decoded])
                    raise StreamError(
                        f"{self.source.where}: frame {block.start + good + failure.decoded}: "
                        f"{failure.error}"
                    ) from None
            self.ready.popleft()
            yield block

    def _buffer(self, described: dict[str, Any]) -> np.ndarray:
        kind = PIXEL_TYPES.get(str(described.get("type")))
        shape = described.get("shape")
        if kind is None or not isinstance(shape, list):
            raise StreamError(f"{self.source.where}: a frame's description is {described!r:.200}.")
        order = ">" if str(described.get("encoding", "")).endswith(">") else "<"
        dtype = np.dtype(order + kind)
        if dtype != self.source._dtype:
            raise StreamError(
                f"{self.source.where}: frames of {dtype.str} arrive, but the series header "
                f"announced {self.source._dtype} (bit_depth_image)."
            )
        pixels = math.prod(int(d) for d in shape)
        frames = max(1, min(self.n, BLOCK_BYTES // (pixels * dtype.itemsize)))
        return np.empty((frames, pixels), dtype=dtype)


class _DecodeFailure(Exception):
    """A frame of a batch did not decompress: ``decoded`` frames before it did."""

    def __init__(self, decoded: int, error: StreamError) -> None:
        super().__init__(str(error))
        self.decoded = decoded
        self.error = error


def _decode_batch(batch: list[tuple[Any, str, np.ndarray]]) -> int:
    """Decompress frames in a pool thread (``part`` a zmq frame or bytes); their count."""
    for done, (part, encoding, out) in enumerate(batch):
        try:
            decode_frame(part.buffer if hasattr(part, "buffer") else part, encoding, out)
        except StreamError as exc:
            raise _DecodeFailure(done, exc) from None
    return len(batch)


def _json(part: Any, where: str) -> dict[str, Any]:
    try:
        doc = json.loads(part.bytes if hasattr(part, "bytes") else part)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise StreamError(f"{where}: a message is not JSON ({exc}).") from exc
    if not isinstance(doc, dict):
        raise StreamError(f"{where}: a message is {doc!r:.200}, expected a JSON object.")
    return doc
