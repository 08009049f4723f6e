"""The portal end to end: ``manage.py serve`` on a free port, jobs through the JSON API.

Measures submit -> final result stored (the websocket's ``finished`` event) and submit -> first
partial image on the websocket. Uses only the standard library as HTTP and websocket client.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class WebSocket:
    """A minimal websocket client: handshake, then unmasked frames from the server."""

    def __init__(self, port: int, path: str) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=120)
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            f"Origin: http://127.0.0.1:{port}\r\n\r\n"
        )
        self.sock.sendall(request.encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError("websocket handshake refused")
            head += chunk
        status, _, self.buffer = head.partition(b"\r\n\r\n")
        if b" 101 " not in status.split(b"\r\n")[0]:
            raise ConnectionError(status.split(b"\r\n")[0].decode())

    def _exact(self, n: int) -> bytes:
        while len(self.buffer) < n:
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise ConnectionError("websocket closed")
            self.buffer += chunk
        out, self.buffer = self.buffer[:n], self.buffer[n:]
        return out

    def receive(self) -> tuple[int, bytes]:
        """``(opcode, payload)`` of the next frame (1 text, 2 binary, 8 close)."""
        b0, b1 = self._exact(2)
        length = b1 & 0x7F
        if length == 126:
            (length,) = struct.unpack(">H", self._exact(2))
        elif length == 127:
            (length,) = struct.unpack(">Q", self._exact(8))
        return b0 & 0x0F, self._exact(length)

    def close(self) -> None:
        self.sock.close()


class Portal:
    """``manage.py serve`` in a temporary VAR_DIR, with the bench data as a data root."""

    def __init__(self, python: str, env: dict[str, str], data_dir: Path) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="bench-portal-"))
        (self.tmp / "data").mkdir()
        self.env = {
            k: v for k, v in env.items() if k not in ("DATABASE_URL", "REDIS_URL", "JOB_RUNNER")
        }
        self.env.update(
            VAR_DIR=str(self.tmp / "var"),
            DATA_ROOTS=os.pathsep.join([str(self.tmp / "data"), str(data_dir.resolve())]),
            LOG_LEVEL="WARNING",
        )
        self.python = python
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.token = ""

    def manage(self, *args: str, stdin: str | None = None) -> str:
        out = subprocess.run(
            [self.python, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            input=stdin,
            capture_output=True,
            text=True,
            check=True,
        )
        return out.stdout

    def start(self) -> int:
        self.manage("migrate", "--noinput", "-v0")
        self.manage("make_demo_data")
        self.token = self.manage("createuser", "bench", "--staff").strip().splitlines()[-1]
        self.proc = subprocess.Popen(
            [self.python, "manage.py", "serve", "--port", str(self.port), "--no-login-link"],
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                self.api("GET", "/api/analyses/")
                return self.proc.pid
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("manage.py serve did not come up within 60 s")

    def api(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}",
            data=data,
            method=method,
            headers={"Authorization": f"Token {self.token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=60) as resp:  # noqa: S310 - http://127.0.0.1 only
            return json.loads(resp.read() or b"null")

    def register(self, name: str, path: str) -> int:
        return int(self.api("POST", "/api/datasets/", {"name": name, "path": path})["id"])

    def dataset_id(self, name_part: str) -> int:
        found = self.api("GET", f"/api/datasets/?q={urllib.request.quote(name_part)}")
        return int(found["datasets"][0]["id"])

    def job(
        self, dataset: int, analysis: str, params: dict[str, Any], **extra: Any
    ) -> dict[str, float]:
        """Submit a job (``extra``: more fields, e.g. ``reuse``); seconds to its first partial
        image and to its stored final result."""
        started = time.perf_counter()
        body = {"dataset": dataset, "analysis": analysis, "params": params, **extra}
        job = self.api("POST", "/api/jobs/", body)
        ws = WebSocket(self.port, f"{job['ws']}?token={self.token}")
        first_partial = None
        try:
            while True:
                opcode, payload = ws.receive()
                if opcode == 8:
                    raise ConnectionError("websocket closed before the job finished")
                if opcode != 1:
                    continue
                msg = json.loads(payload)
                kind = msg.get("type")
                if kind == "partial" and first_partial is None:
                    first_partial = time.perf_counter() - started
                if kind == "status" and msg.get("status") in ("finished", "failed", "cancelled"):
                    kind = msg["status"]
                if kind in ("failed", "cancelled"):
                    raise RuntimeError(f"job {job['id']} {kind}: {msg.get('error')}")
                if kind == "finished":
                    break
        finally:
            ws.close()
        final = time.perf_counter() - started
        return {"seconds": final, "first_partial": first_partial if first_partial else final}

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(2)  # Ctrl-C: serve stops its dask cluster too
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


if __name__ == "__main__":
    print("run benchmarks/run.py", file=sys.stderr)
