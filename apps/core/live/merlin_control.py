"""The Merlin control socket: ``SET``, ``GET`` and ``CMD`` commands in the MPX framing.

A command is ``MPX,<length>,<TYPE>,<NAME>,<VALUE>`` (``length`` counts the bytes after its
own field, the comma included); the answer repeats type and name and ends with a status code,
``0`` for success.
"""

from __future__ import annotations

import socket

from apps.core.live.stream import StreamError

PREFIX_BYTES = 15  # "MPX," + ten digits + ","
STATUS = {1: "the detector is busy", 2: "command not recognised", 3: "parameter out of range"}


def mpx_prefix(payload_bytes: int) -> bytes:
    """The MPX framing before a payload of ``payload_bytes``."""
    return b"MPX,%010d," % (payload_bytes + 1)


class MerlinControl:
    """A connection to the control port of a Merlin readout (``host:port``)."""

    def __init__(self, host: str, port: int, *, timeout: float = 5.0) -> None:
        self.where = f"Merlin control {host}:{port}"
        self.timeout = timeout
        try:
            self._sock = socket.create_connection((host, port), timeout=timeout)
        except OSError as exc:
            raise StreamError(f"{self.where}: cannot connect ({exc}).") from exc

    def close(self) -> None:
        self._sock.close()

    def cmd(self, name: str) -> None:
        self._ask("CMD", name, "0")

    def set(self, name: str, value: object) -> None:
        self._ask("SET", name, str(value))

    def get(self, name: str) -> str:
        return self._ask("GET", name, "0")[2]

    def _ask(self, kind: str, name: str, value: str) -> list[str]:
        payload = f"{kind},{name},{value}".encode("ascii")
        try:
            self._sock.sendall(mpx_prefix(len(payload)) + payload)
            fields = self._answer()
        except OSError as exc:
            raise StreamError(f"{self.where}: {kind} {name} failed ({exc}).") from exc
        code = fields[-1].strip()
        if not code.isdigit() or int(code) != 0:
            reason = STATUS.get(int(code), f"status {code}") if code.isdigit() else code
            raise StreamError(f"{self.where}: {kind} {name} refused: {reason}.")
        return fields

    def _answer(self) -> list[str]:
        """The fields after the length of one answer. Readouts differ in whether the length
        counts the comma after it, so the answer is complete when its status field is in."""
        data = b""
        while True:
            chunk = self._sock.recv(4096)
            if not chunk:
                raise StreamError(f"{self.where}: the detector closed the connection.")
            data += chunk
            if len(data) < PREFIX_BYTES:
                continue
            if not data.startswith(b"MPX,") or not data[4:14].isdigit():
                raise StreamError(f"{self.where}: not an MPX answer: {data[:40]!r}.")
            length = int(data[4:14])
            if len(data) >= PREFIX_BYTES + length - 1:
                return data[PREFIX_BYTES:].decode("ascii", errors="replace").split(",")
